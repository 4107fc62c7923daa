// The process entry: SIGPIPE ignored, argument errors as one line with exit 2.
import ArgumentParser
import BPFKit
import Glibc

/// Replaces ArgumentParser's `main()`, which prints a multi-line usage text and exits 64 on a
/// bad flag, where the README promises one line and exit 2. `--help` and `--version` still
/// print their text to stdout and exit 0.
public enum Entry {
    /// Parses the command line and runs the command; never returns normally on error.
    public static func main() {
        Stderr.ignoreSIGPIPE()
        do {
            var command = try BPFStress.parseAsRoot()
            try command.run()
        } catch let e as ExitCode {
            Glibc.exit(e.rawValue)
        } catch {
            let code = BPFStress.exitCode(for: error)
            if code == .success { BPFStress.exit(withError: error) }
            die(oneLine(BPFStress.message(for: error)), code == .validationFailure ? ExitCodes.usage : ExitCodes.internalError)
        }
    }

    /// The first line of ArgumentParser's message, without its "Error: " prefix.
    static func oneLine(_ message: String) -> String {
        var line = message.split(separator: "\n").first.map(String.init) ?? "bad arguments"
        if line.hasPrefix("Error: ") { line.removeFirst("Error: ".count) }
        return line.isEmpty ? "bad arguments" : line
    }
}
