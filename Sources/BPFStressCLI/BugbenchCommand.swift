import ArgumentParser
import Basics
import BPFKit
import Foundation
import Glibc
import Reports
import Scenarios
import StressCore

/// `bpfstress bugbench`: plants each seed bug with the bugbench plugin and measures whether,
/// how and how fast bpfstress finds it; plus a no-fault control that must stay clean.
struct BugbenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bugbench",
        abstract: "Plant the four seed bugs (bugbench plugin) and measure their detection.",
        discussion: "Exit: 0 every fault found with the right type and culprits and a clean control, 1 otherwise, 2 usage, 3 environment.")

    @Option(help: "The bugbench plugin (default: libbpfstress-bugbench.so next to this binary).") var plugin: String?
    @Option(name: .customLong("fault"), help: "Only this fault (repeatable; the plugin's fault table names them).")
    var faults: [String] = []
    @Option(help: "Seconds a fault may take to be found.") var limit: Double = 60
    @Option(help: "Op deadline (watchdog) in the fault campaigns, seconds.") var deadline: Double = 3
    @Option(name: .customLong("control-duration"), help: "Seconds of the no-fault control (0: none).") var controlDuration: Double = 10
    @Option(parsing: .unconditional, help: "Campaign seed, 0...2^64-1 or 0x-hex.") var seed: String = "1"
    @Option(name: .customLong("report-dir"), help: "Where the bugbench directory goes.") var reportDir: String = "reports"
    @Flag(help: "Print the coordinators' log lines too.") var verbose = false

    func run() throws {
        _ = Bounds.seconds(limit, "--limit")
        _ = Bounds.seconds(deadline, "--deadline")
        _ = Bounds.seconds(controlDuration, "--control-duration", allowZero: true)
        let seed = Bounds.seed(seed)!
        if let why = ReportRoot.problem(reportDir) { die("--report-dir \(why)", ExitCodes.usage) }
        guard Probes.isRoot() else { die("needs root (CAP_BPF and CAP_SYS_ADMIN) to load and attach BPF programs", ExitCodes.environment) }
        let path = plugin ?? Self.defaultPluginPath()
        if access(path, F_OK) != 0 {
            die("runtime plugin \(path): no such file\(plugin == nil ? " (scripts/build builds it beside bpfstress)" : "")", ExitCodes.usage)
        }
        let known: [String]
        do { known = try Bugbench.faults(pluginPath: path, registry: Scenarios.registry).map(\.name) } catch {
            die("\(error)", (error as? StressError)?.exitCode ?? ExitCodes.usage)
        }
        for f in faults where !known.contains(f) {
            die("unknown fault '\(f)' (known: \(known.joined(separator: ", ")))", ExitCodes.usage)
        }
        var o = Bugbench.Options(pluginPath: path, faults: faults.isEmpty ? known : faults)
        o.limit = limit; o.deadline = deadline; o.controlDuration = controlDuration; o.seed = seed
        o.quiet = !verbose
        let started = Date()
        let stamp = ISO8601DateFormatter().string(from: started).replacingOccurrences(of: ":", with: "")
        o.reportRoot = reportDir + "/bugbench-runs-" + stamp
        installStopHandlers()
        let result: Bugbench.Result
        do {
            result = try Bugbench.run(o, registry: Scenarios.registry) { line in
                Stderr.write("bpfstress: \(line)\n")
            }
        } catch let e as StressError {
            die("\(e)", e.exitCode)
        }
        print(Bugbench.table(result), terminator: "")
        do {
            let dir = try Bugbench.write(result, root: reportDir, started: started, hostname: ProcessInfo.processInfo.hostName)
            print("report: \(dir) (runs: \(o.reportRoot))")
        } catch { die("writing report: \(error)", 4) }
        throw ExitCode(result.passed ? 0 : 1)
    }

    /// libbpfstress-bugbench.so in the directory of the running bpfstress binary.
    static func defaultPluginPath() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("libbpfstress-bugbench.so").path
    }
}
