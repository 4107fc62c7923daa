import ArgumentParser
import Foundation
import Nightly
import Reports

/// `bpfstress merge DIR... [--report-dir DIR]`: shard run directories into one run directory.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge shard run directories (run --shard I/N) into one: junit.xml with one testsuite per scenario per shard, summary, page, buckets.",
        discussion: "Exit: 0 no findings, 1 findings in some shard, 2 bad input (not a run, mixed campaigns, a shard twice), 4 the report could not be written.")

    @Argument(help: "Finished run directories (shards of one campaign).") var dirs: [String] = []
    @Option(name: .customLong("report-dir"), help: "Where the merged run directory goes.") var reportDir: String = "reports"

    func run() throws {
        let parts: [Merge.Part]
        do { parts = try Merge.load(dirs) } catch { die("\(error)", ExitCodes.usage) }
        let r: (path: String, summary: RunSummary)
        do { r = try Merge.write(parts, root: reportDir) } catch { die("merge: writing report: \(error)", 4) }
        for sc in r.summary.scenarios where !sc.isSkipped {
            print(String(format: "MERGED %@: %llu ops (%.0f ops/s) from %d run(s)", sc.name, sc.ops, sc.opsPerSecond, parts.count))
        }
        for b in r.summary.buckets { print("FINDING [\(b.type.rawValue)] \(b.title) x\(b.count)") }
        print("report: \(r.path)")
        throw ExitCode(r.summary.buckets.isEmpty ? 0 : 1)
    }
}
