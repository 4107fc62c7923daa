import Basics
import BPFKit
import CBPFStress
import CampaignFile
import Foundation
import Reports

/// The engine of `bpfstress bugbench`: for each planted fault of the bugbench plugin, runs the
/// campaign that should find it (through the plugin, that fault on) and measures whether and
/// how fast the ordinary coordinator machinery finds it; plus a no-fault control.
public enum Bugbench {
    /// One planted fault and what finding it must produce.
    public struct Fault: Sendable {
        public var name: String
        public var scenario: String
        public var expectedType: FindingType
        /// Substrings every expected finding's title must contain (e.g. "EINVAL").
        public var titleMustContain: [String]
        /// Functions that the title or the dump of the expected finding must name.
        public var culprits: [String]
        public var params: [String: ParamValue]
        public var threads: Int
        public var workers: Int
    }

    /// The four seed bugs, each with the scenario that should find it.
    public static let faults: [Fault] = [
        Fault(name: "epoch-detach", scenario: "extension-restart", expectedType: .hang, titleMustContain: ["bb_"],
              culprits: ["bb_epoch_synchronize", "bb_program_information_detach_provider", "bb_program_create"],
              params: ["churn": .string("cgroup"), "period": .duration(0.01), "churners": .int(1)], threads: 3, workers: 2),
        Fault(name: "shared-txn", scenario: "load-attach-v4v6", expectedType: .failure, titleMustContain: ["EINVAL"],
              culprits: [], params: ["connects": .int(2)], threads: 3, workers: 2),
        Fault(name: "abba", scenario: "lock-contention-abba", expectedType: .hang, titleMustContain: ["bb_"],
              culprits: ["bb_map_update_elem", "bb_stats_account", "bb_hook_invoke", "bb_hook_map_update"],
              params: [:], threads: 3, workers: 2),
        Fault(name: "percpu-size", scenario: "percpu-batch-sizes", expectedType: .crash,
              titleMustContain: ["SIGSEGV in memcpy from bb_lookup_batch_copy_values"],
              culprits: ["bb_lookup_batch_copy_values", "bb_map_lookup_batch"], params: [:], threads: 2, workers: 2),
    ]

    public struct Options {
        public var pluginPath: String
        public var faults: [String]
        /// Longest a fault campaign may run before it counts as not found.
        public var limit: Double = 60
        /// Deadline of every op: short, so that hangs are caught fast.
        public var deadline: Double = 3
        /// Length of the no-fault control campaign (0: no control).
        public var controlDuration: Double = 10
        public var seed: UInt64 = 1
        public var reportRoot: String = "reports"
        public var quiet: Bool = true
        public init(pluginPath: String, faults: [String] = Bugbench.faults.map(\.name)) {
            self.pluginPath = pluginPath; self.faults = faults
        }
    }

    /// One row of the table.
    public struct Row: Codable, Sendable {
        public var fault: String
        public var scenario: String
        public var expectedType: String
        public var found: Bool
        public var findingType: String?
        public var title: String?
        public var errno: Int32?
        public var secondsToFirstFinding: Double?
        public var culpritsNamed: Bool
        public var missingCulprits: [String]
        public var findings: Int
        public var wallSeconds: Double
        public var runDirectory: String?
        public var note: String?

        /// The acceptance of this row: found with the right type and named culprits
        /// (for the control: no finding at all).
        public var passed: Bool { fault == "control" ? findings == 0 : (found && culpritsNamed) }
    }

    public struct Result: Codable, Sendable {
        public var plugin: String
        public var seed: UInt64
        public var limitSeconds: Double
        public var deadlineSeconds: Double
        public var rows: [Row]
        public var passed: Bool { rows.allSatisfy(\.passed) }
    }

    /// Runs every requested fault, then the control. `progress` gets one line per step.
    public static func run(_ o: Options, registry: ScenarioRegistry, progress: (String) -> Void = { _ in }) throws -> Result {
        var rows: [Row] = []
        for name in o.faults {
            if bpfs_stop_requested() != 0 { break }  // SIGINT/TERM: report what ran so far
            guard let f = faults.first(where: { $0.name == name }) else {
                throw StressError(.usage, "unknown fault '\(name)' (known: \(faults.map(\.name).joined(separator: ", ")))")
            }
            progress("fault \(f.name): \(f.scenario), expecting a \(f.expectedType.rawValue)")
            rows.append(try runFault(f, o, registry: registry))
            progress(describe(rows.last!))
        }
        if o.controlDuration > 0 && bpfs_stop_requested() == 0 {
            progress("control: no fault, \(Int(o.controlDuration))s of \(faults.map(\.scenario).joined(separator: ", "))")
            rows.append(try runControl(o, registry: registry))
            progress(describe(rows.last!))
        }
        return Result(plugin: o.pluginPath, seed: o.seed, limitSeconds: o.limit, deadlineSeconds: o.deadline, rows: rows)
    }

    static func describe(_ r: Row) -> String {
        let t = r.secondsToFirstFinding.map { String(format: "%.1fs", $0) } ?? "-"
        return "  \(r.passed ? "ok" : "NOT OK") \(r.fault): found=\(r.found) \(r.findingType ?? "-") in \(t): \(r.title ?? "no finding")"
    }

    /// One campaign through the plugin with `config`; stops early once `stopWhen` holds.
    static func campaign(config: String, name: String, entries: [ScenarioEntry], duration: Double, workers: Int,
                         threads: Int, _ o: Options, registry: ScenarioRegistry,
                         stopWhen: @escaping ([Finding]) -> Bool) throws -> (RunOutcome, Double?, String?) {
        let spelling = "plugin:\(o.pluginPath):\(config)"
        let rt = try RuntimeFactory.makeCoordinatorRuntime(spelling)
        let env = EnvironmentProbe.probe(runtime: rt)
        let c = Campaign(name: name, seed: o.seed, duration: duration, workers: workers, threads: threads,
                         deadline: o.deadline, deadlines: [:], scenarios: entries)
        let plan = try RunPlan.make(campaign: c, registry: registry, environment: env, runtime: rt, seed: o.seed)
        if let s = plan.skipped.first {
            RuntimeFactory.campaignFini(rt)
            throw StressError(.environment, "scenario \(s.name) skipped on \(rt.name): \(s.reason)")
        }
        var options = RunOptions()
        options.runtimeName = spelling
        options.quiet = o.quiet
        options.statusToTTY = false
        options.stopGrace = 1
        // Findings here are planted: a leak check would only add noise to the measurement.
        options.leakCheck = false
        let coordinator = Coordinator(plan: plan, options: options, environment: env, runtime: rt)
        var first: Double?
        var stopped = false
        coordinator.watchdog = { co in
            if first == nil && !co.findings.isEmpty { first = Date().timeIntervalSince(co.started) }
            if !stopped && stopWhen(co.findings) {
                stopped = true
                co.endNs = bpfs_now_ns()  // end the campaign now: the fault is found
            }
        }
        let outcome = try coordinator.run()
        var dir: String?
        do { dir = try ReportEmitter.write(outcome, root: o.reportRoot) } catch { dir = nil }
        return (outcome, first, dir)
    }

    static func matches(_ f: Finding, _ fault: Fault) -> Bool {
        f.type == fault.expectedType && fault.titleMustContain.allSatisfy { f.title.contains($0) }
    }

    static func runFault(_ f: Fault, _ o: Options, registry: ScenarioRegistry) throws -> Row {
        let started = Date()
        let entry = ScenarioEntry(name: f.scenario, weight: 1, workers: f.workers, threads: f.threads, params: f.params)
        let (outcome, first, dir) = try campaign(config: f.name, name: "bugbench-\(f.name)", entries: [entry],
                                                 duration: o.limit, workers: f.workers, threads: f.threads, o,
                                                 registry: registry, stopWhen: { $0.contains { matches($0, f) } })
        let hit = outcome.findings.first { matches($0, f) }
        let shown = hit ?? outcome.findings.first
        let text = outcome.findings.filter { matches($0, f) }.map { $0.title + "\n" + $0.dump }.joined(separator: "\n")
        let missing = f.culprits.filter { !text.contains($0) }
        let e = hit.flatMap { errnoIn($0) }
        return Row(fault: f.name, scenario: f.scenario, expectedType: f.expectedType.rawValue, found: hit != nil,
                   findingType: shown?.type.rawValue, title: shown?.title, errno: e,
                   secondsToFirstFinding: hit.map { seconds(to: $0, outcome: outcome, fallback: first) },
                   culpritsNamed: hit != nil && missing.isEmpty, missingCulprits: missing,
                   findings: outcome.findings.count, wallSeconds: Date().timeIntervalSince(started),
                   runDirectory: dir, note: hit == nil ? "not found within \(Int(o.limit))s" : nil)
    }

    /// Time from campaign start to the finding (its own timestamp), or when the tick saw it.
    static func seconds(to f: Finding, outcome: RunOutcome, fallback: Double?) -> Double {
        let t = f.time.timeIntervalSince(outcome.summary.startedAt)
        return t > 0 ? t : (fallback ?? 0)
    }

    /// The errno a failure finding carries in its title (e.g. "EINVAL" -> 22).
    static func errnoIn(_ f: Finding) -> Int32? {
        (Int32(1)..<134).first { ErrnoName.name($0).hasPrefix("E") && f.title.contains(": \(ErrnoName.name($0)) ") }
    }

    static func runControl(_ o: Options, registry: ScenarioRegistry) throws -> Row {
        let started = Date()
        let entries = faults.map { ScenarioEntry(name: $0.scenario, weight: 1, workers: 1, threads: 2, params: $0.params) }
        let (outcome, first, dir) = try campaign(config: "none", name: "bugbench-control", entries: entries,
                                                 duration: o.controlDuration, workers: entries.count, threads: 2, o,
                                                 registry: registry, stopWhen: { _ in false })
        let f = outcome.findings.first
        return Row(fault: "control", scenario: faults.map(\.scenario).joined(separator: ","), expectedType: "none",
                   found: f != nil, findingType: f?.type.rawValue, title: f?.title, errno: nil,
                   secondsToFirstFinding: f == nil ? nil : first, culpritsNamed: true, missingCulprits: [],
                   findings: outcome.findings.count, wallSeconds: Date().timeIntervalSince(started), runDirectory: dir,
                   note: f == nil ? "zero findings" : "the control must have zero findings")
    }

    // MARK: - output

    /// The table `bpfstress bugbench` prints (and writes as bugbench.txt).
    public static func table(_ r: Result) -> String {
        var lines = ["fault         scenario              expected  found  type     time     culprits  title"]
        for row in r.rows {
            let t = row.secondsToFirstFinding.map { String(format: "%6.1fs", $0) } ?? "      -"
            let cul = row.fault == "control" ? "-" : (row.culpritsNamed ? "named" : "MISSING")
            let scen = row.fault == "control" ? "all four" : row.scenario
            lines.append(pad(row.fault, 13) + " " + pad(scen, 21) + " " + pad(row.expectedType, 9) + " "
                         + pad(row.fault == "control" ? (row.findings == 0 ? "0" : "\(row.findings)!") : (row.found ? "yes" : "NO"), 6) + " "
                         + pad(row.findingType ?? "-", 8) + " " + t + "  " + pad(cul, 9) + " " + (row.title ?? "(none)"))
        }
        lines.append(r.passed ? "bugbench: every fault found, control clean" : "bugbench: FAILED")
        return lines.joined(separator: "\n") + "\n"
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

    public static func json(_ r: Result) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try e.encode(r), as: UTF8.self) + "\n"
    }

    /// One testsuite, one testcase per fault plus the control.
    public static func junit(_ r: Result, started: Date, hostname: String) -> String {
        let cases = r.rows.map { row -> TestCaseResult in
            let time = row.secondsToFirstFinding ?? row.wallSeconds
            if row.passed { return TestCaseResult(name: row.fault, classname: "bugbench", time: time, outcome: .passed) }
            let msg = row.fault == "control" ? "control had \(row.findings) finding(s): \(row.title ?? "")"
                : !row.found ? "\(row.fault) not found (expected a \(row.expectedType) in \(row.scenario))"
                : "dump does not name \(row.missingCulprits.joined(separator: ", "))"
            return TestCaseResult(name: row.fault, classname: "bugbench", time: time,
                                  outcome: .failed(type: "bugbench", message: msg,
                                                   text: msg + "\nfirst finding: \(row.title ?? "none")\nrun: \(row.runDirectory ?? "-")"))
        }
        let suite = TestSuiteResult(name: "bugbench", package: "bpfstress", id: 0, timestamp: started, hostname: hostname,
                                    time: r.rows.map(\.wallSeconds).reduce(0, +),
                                    properties: [("plugin", r.plugin), ("seed", "\(r.seed)"),
                                                 ("limit", "\(r.limitSeconds)s"), ("deadline", "\(r.deadlineSeconds)s")],
                                    cases: cases, systemOut: table(r))
        return JUnitWriter.render([suite])
    }

    /// Writes bugbench.json, junit.xml and bugbench.txt into `<root>/bugbench-<UTC time>/`.
    @discardableResult
    public static func write(_ r: Result, root: String, started: Date, hostname: String) throws -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let dir = root + "/bugbench-" + f.string(from: started)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try json(r).write(toFile: dir + "/bugbench.json", atomically: true, encoding: .utf8)
        try junit(r, started: started, hostname: hostname).write(toFile: dir + "/junit.xml", atomically: true, encoding: .utf8)
        try table(r).write(toFile: dir + "/bugbench.txt", atomically: true, encoding: .utf8)
        return dir
    }
}
