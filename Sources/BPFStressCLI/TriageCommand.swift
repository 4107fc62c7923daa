import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Reports
import Triage

/// `bpfstress triage [--json] [--new] [--vmlinux FILE] PATH...`: buckets hang/crash reports from bpfstress
/// run directories, kernel console logs, gdb, eu-stack and WinDbg/cdb dumps, and follows them across runs.
struct TriageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "triage",
        abstract: "Bucket hang and crash reports (bpfstress findings, kernel logs, gdb, eu-stack, WinDbg/cdb) across runs.",
        discussion: """
        PATH is a file or a directory searched recursively (symlinked directories such as `latest` are not \
        followed). The table has one line per bucket: runs it appeared in, occurrences, first and last seen, \
        whether it is new in the latest run, title and the dump to read first. --json prints one object per \
        report per line with the keys file, type, title and frame. FIFOs, sockets, devices and kernel pseudo \
        file systems (/proc, /sys) are skipped with a note on stderr. Exit: 0; 2 for a missing path; \
        4 when a finding.json could not be read (a warning names each one; the other reports are still shown).
        """)

    @Flag(help: "One JSON object per report per line (keys file, type, title, frame).") var json = false
    @Flag(name: .customLong("new"), help: "Only buckets that are new in the latest run.") var newOnly = false
    @Option(help: "A kernel ELF with debug info (a -dbg vmlinux): kernel reports gain the culprit's file:line (JSON key location, table column LOCATION). Titles never change.")
    var vmlinux: String?
    @Argument(help: "Files or directories.") var paths: [String]

    /// Some input could not be read (a malformed finding.json); the rest was triaged.
    static let partialInput: Int32 = 4

    func run() throws {
        var items: [(report: TriageReport, run: TriageRun)]
        var notes = Triage.Notes()
        let symbolizer: KernelSymbolizer?
        do { symbolizer = try vmlinux.map { try KernelSymbolizer(vmlinux: $0) } } catch { die("\(error)", ExitCodes.usage) }
        do { items = try Triage.scan(paths, notes: &notes) } catch { die("\(error)", ExitCodes.usage) }
        if let s = symbolizer {
            for i in items.indices where Triage.kernelTypes.contains(items[i].report.type) {
                items[i].report.location = s.culpritLocation(items[i].report)
            }
        }
        for n in notes.skipped { FileHandle.standardError.write(Data("bpfstress: triage: \(n)\n".utf8)) }
        for n in notes.malformed { FileHandle.standardError.write(Data("bpfstress: triage: warning: \(n)\n".utf8)) }
        defer { if !notes.malformed.isEmpty { Glibc.exit(Self.partialInput) } }
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

/// `bpfstress bench triage`: triage of 1,000 reports (kernel console logs, gdb/eu-stack/bpfstress and
/// WinDbg dumps, cycled from the golden files) end to end, beside the bare reading and line clean-up of
/// the same files. Goal: under 2 s for the 1,000.
struct BenchTriage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "triage",
        abstract: "Triage of 1,000 reports (from the golden files) vs reading and stripping the same files.")
    @Option(help: "Golden file directory (kernel/, userspace/, windbg/ under it).")
    var corpus: String = "Tests/TriageTests/Golden"
    @Option(help: "Reports to triage.") var reports: Int = 1000
    @Option(help: "Rounds (the median is reported).") var rounds: Int = 5

    func run() throws {
        guard reports > 0, rounds > 0 else { die("--reports and --rounds must be positive", ExitCodes.usage) }
        let dir = NSTemporaryDirectory() + "bpfstress-bench-triage-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let made: Int
        do { made = try TriageBench.writeCorpus(from: corpus, to: dir, reports: reports) } catch { die("\(error)", ExitCodes.usage) }
        print("round  triage s  read+strip s  ratio")
        var ratios: [Double] = [], times: [Double] = []
        for i in 1...rounds {
            let (t, b, n) = try TriageBench.round(dir)
            guard n == made else { die("triage found \(n) reports, expected \(made)", 1) }
            ratios.append(t / b); times.append(t)
            print(String(format: "%5d  %8.3f  %12.3f  %5.1f", i, t, b, t / b))
        }
        let med = { (a: [Double]) in a.sorted()[a.count / 2] }
        print(String(format: "%d reports in %d files; median triage %.3f s (goal < 2 s), median ratio to read+strip %.1f",
                     made, try FileManager.default.contentsOfDirectory(atPath: dir).count, med(times), med(ratios)))
    }
}
