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

    /// The plugin's exported fault table (`bpfstress_bugbench_faults` in bugbench.c): the
    /// plugin owns what it plants and which campaign must find it.
    public static let tableSymbol = "bpfstress_bugbench_faults"

    /// Reads and parses the fault table of the plugin at `path`; parameter values are typed by
    /// the scenario's own descriptor.
    public static func faults(pluginPath path: String, registry: ScenarioRegistry) throws -> [Fault] {
        guard let text = PluginData.string(path: path, symbol: tableSymbol) else {
            throw StressError(.usage, "runtime plugin \(path) exports no \(tableSymbol) table: not a bugbench plugin")
        }
        return try parseFaults(text, registry: registry)
    }

    /// One fault a line of `key=value` fields (see bugbench.c); `%20` is a space in a value.
    public static func parseFaults(_ text: String, registry: ScenarioRegistry) throws -> [Fault] {
        try text.split(separator: "\n").enumerated().map { (i, line) in
            var f: [String: String] = [:]
            for field in line.split(separator: " ") {
                guard let eq = field.firstIndex(of: "=") else { throw tableError(i, "field '\(field)' has no '='") }
                f[String(field[..<eq])] = String(field[field.index(after: eq)...]).replacingOccurrences(of: "%20", with: " ")
            }
            func list(_ k: String) -> [String] { (f[k] ?? "").split(separator: ",").map(String.init) }
            guard let name = f["name"], let scenario = f["scenario"], let type = f["expect"].flatMap(FindingType.init(rawValue:)),
                  let workers = f["workers"].flatMap(Int.init), let threads = f["threads"].flatMap(Int.init) else {
                throw tableError(i, "needs name, scenario, expect (hang|crash|failure), workers and threads")
            }
            guard let descriptor = registry.type(named: scenario)?.descriptor else {
                throw tableError(i, "unknown scenario '\(scenario)'")
            }
            var params: [String: ParamValue] = [:]
            for p in (f["params"] ?? "").split(separator: ";") {
                let kv = p.split(separator: ":", maxSplits: 1).map(String.init)
                guard kv.count == 2, let spec = descriptor.parameters.first(where: { $0.name == kv[0] }),
                      let v = ParamValue.parse(kv[1], as: spec.kind) else {
                    throw tableError(i, "bad parameter '\(p)' for \(scenario)")
                }
                params[kv[0]] = v
            }
            return Fault(name: name, scenario: scenario, expectedType: type, titleMustContain: list("title"),
                         culprits: list("culprits"), params: params, threads: threads, workers: workers)
        }
    }

    static func tableError(_ line: Int, _ why: String) -> StressError {
        StressError(.usage, "bugbench fault table line \(line + 1): \(why)")
    }

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
        /// Empty: every fault of the plugin's table.
        public init(pluginPath: String, faults: [String] = []) {
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
        let faults = try Self.faults(pluginPath: o.pluginPath, registry: registry)
        var rows: [Row] = []
        for name in o.faults.isEmpty ? faults.map(\.name) : o.faults {
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
            rows.append(try runControl(o, faults: faults, registry: registry))
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
        var first: Double?
        var stopped = false
        let runner = CampaignRunner(plan: plan, options: options, environment: env, runtime: rt, reportRoot: o.reportRoot) {
            $0.watchdog = { co in
                if first == nil && !co.findings.isEmpty { first = Date().timeIntervalSince(co.started) }
                if !stopped && stopWhen(co.findings) {
                    stopped = true
                    co.endNs = bpfs_now_ns()  // end the campaign now: the fault is found
                }
            }
        }
        let r = try runner.run()
        return (r.outcome, first, r.directory)
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

    static func runControl(_ o: Options, faults: [Fault], registry: ScenarioRegistry) throws -> Row {
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
