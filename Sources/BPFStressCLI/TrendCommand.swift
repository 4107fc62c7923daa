import ArgumentParser
import Foundation
import Nightly
import Reports

/// `bpfstress trend DIR [--output FILE]`: one self-contained HTML page over the run directories in DIR.
struct TrendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trend",
        abstract: "One HTML page of ops/s, p99 latency and finding buckets across the runs in DIR (e.g. reports/nightly).",
        discussion: "Exit: 0, or 2 when DIR is missing or holds no finished run.")

    @Argument(help: "A directory of run directories.") var dir: String
    @Option(name: .shortAndLong, help: "Where the page goes (default DIR/trend.html).") var output: String?

    func run() throws {
        let loaded: (runs: [Trend.Run], problems: [String])
        do { loaded = try Trend.load(dir) } catch { die("trend: \(error)", ExitCodes.usage) }
        for p in loaded.problems { FileHandle.standardError.write("bpfstress: trend: skipped \(p)\n".data(using: .utf8)!) }
        guard !loaded.runs.isEmpty else { die("trend: no finished run directories under \(dir)", ExitCodes.usage) }
        let out = output ?? (dir as NSString).appendingPathComponent("trend.html")
        let title = (URL(fileURLWithPath: dir).standardized.lastPathComponent)
        do { try AtomicFile.write(Trend.render(loaded.runs, title: title), to: out) } catch {
            die("trend: writing \(out): \(error)", 4)
        }
        print("trend: \(out) (\(loaded.runs.count) runs)")
    }
}
