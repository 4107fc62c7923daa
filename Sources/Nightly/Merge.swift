// `bpfstress merge DIR...`: shard run directories into one run directory (summary, JUnit, page, buckets).
import Foundation
import Reports

public enum Merge {
    /// One input run directory.
    public struct Part: Sendable {
        public var dir: String
        public var summary: RunSummary
        public var log: String
        /// "shard I/N", or "run K" for a run made without --shard.
        public var label: String
        public var info: ShardInfo
    }

    /// Loads the run directories: each finished, all of one campaign, no shard twice.
    public static func load(_ dirs: [String]) throws -> [Part] {
        guard !dirs.isEmpty else { throw NightlyError("merge needs at least one run directory") }
        var parts: [Part] = []
        for (k, d) in dirs.enumerated() {
            let s = try Regression.loadRun(d)
            let log = (try? String(contentsOfFile: (d as NSString).appendingPathComponent("run.log"), encoding: .utf8)) ?? ""
            let info = s.shard ?? ShardInfo(index: k + 1, count: dirs.count, firstSlot: 0, slotSpan: 0)
            let label = s.shard.map { "shard \($0.index)/\($0.count)" } ?? "run \(k + 1)"
            parts.append(Part(dir: d, summary: s, log: log, label: label, info: info))
        }
        let campaigns = Set(parts.map(\.summary.campaign))
        guard campaigns.count == 1 else {
            throw NightlyError("merge: the runs are of different campaigns (\(campaigns.sorted().joined(separator: ", ")))")
        }
        let sharded = parts.filter { $0.summary.shard != nil }
        if !sharded.isEmpty {
            guard sharded.count == parts.count else { throw NightlyError("merge: some runs are shards and some are not") }
            guard Set(sharded.map(\.info.count)).count == 1 else { throw NightlyError("merge: the runs are shards of different shard counts") }
            var seen = Set<Int>()
            for p in sharded where !seen.insert(p.info.index).inserted {
                throw NightlyError("merge: shard \(p.info.index)/\(p.info.count) given twice")
            }
        }
        return parts
    }

    /// One summary for all parts: ops and rates add up (the parts ran side by side), checks add up,
    /// latency distributions and buckets merge, worker deaths are kept, and `shards` lists the parts.
    public static func summary(_ parts: [Part]) -> RunSummary {
        let first = parts[0].summary
        var s = RunSummary(version: first.version, campaign: first.campaign, seed: first.seed, runtime: first.runtime,
                           kernelRelease: orderedUnique(parts.map(\.summary.kernelRelease)).joined(separator: ", "),
                           hostname: orderedUnique(parts.map(\.summary.hostname)).joined(separator: ", "),
                           startedAt: parts.map(\.summary.startedAt).min()!, endedAt: parts.map(\.summary.endedAt).max()!,
                           durationSeconds: parts.map(\.summary.durationSeconds).max()!,
                           workers: parts.reduce(0) { $0 + $1.summary.workers }, threads: first.threads,
                           exitCode: parts.map(\.summary.exitCode).max()!)
        var order: [String] = []
        var byName: [String: ScenarioSummary] = [:]
        for p in parts {
            for sc in p.summary.scenarios {
                if let m = byName[sc.name] { byName[sc.name] = mergeScenario(m, sc) } else { order.append(sc.name); byName[sc.name] = sc }
            }
        }
        s.scenarios = order.map { byName[$0]! }
        s.workerDeaths = parts.flatMap(\.summary.workerDeaths)
        s.buckets = mergeBuckets(parts.flatMap(\.summary.buckets))
        var bins: [Int: [String: Double]] = [:]
        for p in parts {
            for smp in p.summary.timeline {
                let t = Int(smp.t.rounded())
                for (k, v) in smp.opsPerSecond where v.isFinite { bins[t, default: [:]][k, default: 0] += v }
            }
        }
        s.timeline = bins.keys.sorted().map { TimelineSample(t: Double($0), opsPerSecond: bins[$0]!) }
        s.parameters = first.parameters
        s.parameters["merged"] = parts.map(\.label).joined(separator: ", ")
        for p in parts {
            s.parameters["\(p.label).dir"] = p.dir
            s.parameters["\(p.label).seed"] = String(p.summary.seed)
            if p.summary.shard != nil { s.parameters["\(p.label).workerSeeds"] = p.info.workerSeeds.map(String.init).joined(separator: ",") }
        }
        s.shards = parts.map(\.info)
        return s
    }

    static func mergeScenario(_ a: ScenarioSummary, _ b: ScenarioSummary) -> ScenarioSummary {
        var m = a
        if a.isSkipped && !b.isSkipped { return mergeScenario(b, a) }
        if b.isSkipped { return m }
        m.workers += b.workers
        m.ops += b.ops
        m.opsPerSecond += b.opsPerSecond
        for (k, v) in b.opsByKind { m.opsByKind[k, default: 0] += v }
        for (k, v) in b.toleratedErrnos { m.toleratedErrnos[k, default: 0] += v }
        for c in b.checks {
            if let i = m.checks.firstIndex(where: { $0.name == c.name }) {
                m.checks[i].passed += c.passed
                m.checks[i].failed += c.failed
                if m.checks[i].skipReason == nil { m.checks[i].skipReason = c.skipReason }
            } else {
                m.checks.append(c)
            }
        }
        if a.latency != nil || b.latency != nil { m.latency = (a.latency ?? []).merged(with: b.latency ?? []) }
        return m
    }

    /// Buckets with one signature become one: counts add, first/last seen widen, dumps up to the cap.
    public static func mergeBuckets(_ all: [FindingBucket]) -> [FindingBucket] {
        var order: [String] = []
        var by: [String: FindingBucket] = [:]
        for b in all {
            guard var m = by[b.signature] else { order.append(b.signature); by[b.signature] = b; continue }
            m.count += b.count
            m.firstSeen = min(m.firstSeen, b.firstSeen)
            m.lastSeen = max(m.lastSeen, b.lastSeen)
            m.dumps = Array((m.dumps + b.dumps).prefix(BucketStore.maxDumps))
            if let ops = b.ops { m.ops = Array(orderedUnique((m.ops ?? []) + ops).prefix(BucketStore.maxOps)) }
            by[b.signature] = m
        }
        return order.map { by[$0]! }
    }

    /// One testsuite per scenario per part: each part's own suites, named `<scenario> [shard I/N]`,
    /// with a `shard` property, numbered in order.
    public static func junitSuites(_ parts: [Part]) -> [TestSuiteResult] {
        var out: [TestSuiteResult] = []
        for p in parts {
            for var suite in RunReportBuilder.junitSuites(summary: p.summary, systemOut: p.log) {
                suite.name += " [\(p.label)]"
                suite.id = out.count
                suite.properties.append((name: "shard", value: p.summary.shard.map { "\($0.index)/\($0.count)" } ?? p.label))
                suite.properties.append((name: "run_dir", value: p.dir))
                out.append(suite)
            }
        }
        return out
    }

    /// Writes the merged run directory under `root` (like a run: `<stamp>-<seed>/`, `latest`).
    public static func write(_ parts: [Part], root: String) throws -> (path: String, summary: RunSummary) {
        let s = summary(parts)
        let dir = try RunDirectory.create(root: root, startedAt: s.startedAt, seed: s.seed)
        try dir.writeFindings(s.buckets)
        try dir.write("summary.json", data: try ReportJSON.encode(s))
        try dir.write("junit.xml", JUnitWriter.render(junitSuites(parts)))
        let log = parts.map { "=== \($0.label): \($0.dir) ===\n" + $0.log }.joined(separator: "\n")
        try dir.write("run.log", log)
        try dir.write("index.html", HTMLReport.render(summary: s, log: log))
        try dir.updateLatestLink()
        return (dir.path, s)
    }

    static func orderedUnique(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }
}
