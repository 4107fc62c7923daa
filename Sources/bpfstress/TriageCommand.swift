import ArgumentParser
import Foundation
import Reports
import Triage

/// `bpfstress triage [--json] [--new] PATH...`: buckets hang/crash reports from bpfstress run
/// directories, kernel console logs, gdb and eu-stack dumps, and follows them across runs.
struct TriageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "triage",
        abstract: "Bucket hang and crash reports (bpfstress findings, kernel logs, gdb, eu-stack) across runs.",
        discussion: """
        PATH is a file or a directory searched recursively (symlinked directories such as `latest` are not \
        followed). The table has one line per bucket: runs it appeared in, occurrences, first and last seen, \
        whether it is new in the latest run, title and the dump to read first. --json prints one object per \
        report per line with the keys file, type, title and frame. Exit: 0, or 2 for a missing path.
        """)

    @Flag(help: "One JSON object per report per line (keys file, type, title, frame).") var json = false
    @Flag(name: .customLong("new"), help: "Only buckets that are new in the latest run.") var newOnly = false
    @Argument(help: "Files or directories.") var paths: [String]

    func run() throws {
        let items: [(report: TriageReport, run: TriageRun)]
        do { items = try Triage.scan(paths) } catch { die("\(error)", ExitCodes.usage) }
        if json {
            print(Triage.jsonLines(items.map(\.report)), terminator: "")
            return
        }
        var buckets = Triage.buckets(items)
        if newOnly { buckets = buckets.filter(\.isNew) }
        let runs = Set(items.map(\.run.id)).count
        let base = paths.count == 1 ? paths[0].replacingOccurrences(of: #"/+$"#, with: "", options: .regularExpression) : nil
        if buckets.isEmpty {
            print(newOnly ? "no new buckets (\(items.count) reports in \(runs) runs)" : "no reports found")
            return
        }
        print(Triage.table(buckets, relativeTo: base), terminator: "")
        print("\(buckets.count) buckets, \(buckets.filter(\.isNew).count) new, \(items.count) reports in \(runs) runs")
    }
}
