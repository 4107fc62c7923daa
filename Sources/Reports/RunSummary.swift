import Foundation

/// Pass/fail counts of one scenario check over the whole run.
public struct CheckSummary: Codable, Sendable, Equatable {
    public var name: String
    public var passed: UInt64
    public var failed: UInt64
    /// Why the check could not run here (a feature this machine lacks); nil when it ran.
    public var skipReason: String? = nil
    /// What failed, for a failure that has no finding bucket (e.g. `campaign-complete`).
    public var detail: String? = nil

    public init(name: String, passed: UInt64, failed: UInt64, skipReason: String? = nil, detail: String? = nil) {
        self.name = name; self.passed = passed; self.failed = failed; self.skipReason = skipReason
        self.detail = detail
    }

    /// Tri-state verdict: a check with no evaluation proved nothing, so it is `notRun`, never passed.
    public enum Verdict: String, Codable, Sendable { case passed, failed, notRun = "not-run" }
    public var verdict: Verdict { failed > 0 ? .failed : (passed > 0 ? .passed : .notRun) }
    /// The reason a not-run check shows: the scenario's own, or that nothing evaluated it.
    public var notRunReason: String {
        skipReason ?? "not run: the check was evaluated 0 times in this run (nothing proves it passed)"
    }

    enum CodingKeys: String, CodingKey { case name, passed, failed, skipReason, detail, verdict }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        passed = try c.decode(UInt64.self, forKey: .passed)
        failed = try c.decode(UInt64.self, forKey: .failed)
        skipReason = try c.decodeIfPresent(String.self, forKey: .skipReason)
        detail = try c.decodeIfPresent(String.self, forKey: .detail)
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(passed, forKey: .passed)
        try c.encode(failed, forKey: .failed)
        try c.encodeIfPresent(verdict == .notRun ? notRunReason : skipReason, forKey: .skipReason)
        try c.encodeIfPresent(detail, forKey: .detail)
        try c.encode(verdict, forKey: .verdict)
    }
}

public struct ScenarioSummary: Codable, Sendable, Equatable {
    public var name: String
    /// "ran" or "skipped".
    public var status: String
    public var skipReason: String?
    public var workers: Int
    public var threads: Int
    public var ops: UInt64
    public var opsPerSecond: Double
    public var opsByKind: [String: UInt64]
    /// Expected errnos by name (e.g. "EAGAIN"), counted rather than reported.
    public var toleratedErrnos: [String: UInt64]
    public var checks: [CheckSummary]
    /// Latency per op kind (absent in summaries written before latency histograms).
    public var latency: [LatencySummary]? = nil
    /// Properties the scenario reported (absent in summaries written before them).
    public var properties: [String: String]? = nil

    public init(name: String, status: String = "ran", skipReason: String? = nil, workers: Int, threads: Int,
                ops: UInt64 = 0, opsPerSecond: Double = 0, opsByKind: [String: UInt64] = [:],
                toleratedErrnos: [String: UInt64] = [:], checks: [CheckSummary] = []) {
        self.name = name; self.status = status; self.skipReason = skipReason; self.workers = workers
        self.threads = threads; self.ops = ops; self.opsPerSecond = opsPerSecond; self.opsByKind = opsByKind
        self.toleratedErrnos = toleratedErrnos; self.checks = checks
    }

    public var isSkipped: Bool { status == "skipped" }
}

public struct WorkerDeath: Codable, Sendable, Equatable {
    public var slot: Int
    public var pid: Int32
    public var scenario: String
    public var reason: String
    public var at: Date

    public init(slot: Int, pid: Int32, scenario: String, reason: String, at: Date) {
        self.slot = slot; self.pid = pid; self.scenario = scenario; self.reason = reason; self.at = at
    }
}

/// Everything summary.json holds about one run.
public struct RunSummary: Codable, Sendable, Equatable {
    /// Always "bpfstress": lets tools recognise the file.
    public var tool: String
    public var version: String
    public var campaign: String
    public var seed: UInt64
    /// Which runtime was stressed, e.g. "linux-bpf".
    public var runtime: String
    public var kernelRelease: String
    public var hostname: String
    public var startedAt: Date
    public var endedAt: Date
    public var durationSeconds: Double
    public var workers: Int
    public var threads: Int
    public var exitCode: Int32
    public var scenarios: [ScenarioSummary]
    public var workerDeaths: [WorkerDeath]
    public var buckets: [FindingBucket]
    /// Ops/s per scenario, sampled by the coordinator once a second (for the HTML plot).
    public var timeline: [TimelineSample] = []
    /// Campaign parameters as given (for the HTML report).
    public var parameters: [String: String] = [:]
    /// Checks of the campaign as a whole (`no-leaks`, `kernel-log`, `campaign-complete`).
    public var campaignChecks: [CheckSummary]? = nil
    /// The signal that cut the run short (e.g. "SIGINT"); nil when it ran its whole duration.
    public var interrupted: String? = nil
    /// false in the snapshots the coordinator refreshes while it runs; nil or true once final.
    public var complete: Bool? = nil
    /// Leftovers of dead coordinators (cgroups, state directories) removed at start.
    public var staleCleaned: [String]? = nil

    /// Whether this is the coordinator's final word (not a snapshot of a run in progress).
    public var isComplete: Bool { complete ?? true }
    /// Set when the run was one shard of a campaign (`run --shard I/N`).
    public var shard: ShardInfo? = nil
    /// The shards a merged run was made of (`bpfstress merge`).
    public var shards: [ShardInfo]? = nil
    /// The run directory this run was compared with (`run --baseline`).
    public var baseline: String? = nil

    public init(version: String, campaign: String, seed: UInt64, runtime: String, kernelRelease: String,
                hostname: String, startedAt: Date, endedAt: Date, durationSeconds: Double, workers: Int,
                threads: Int, exitCode: Int32, scenarios: [ScenarioSummary] = [],
                workerDeaths: [WorkerDeath] = [], buckets: [FindingBucket] = []) {
        self.tool = "bpfstress"; self.version = version; self.campaign = campaign; self.seed = seed
        self.runtime = runtime; self.kernelRelease = kernelRelease; self.hostname = hostname
        self.startedAt = startedAt; self.endedAt = endedAt; self.durationSeconds = durationSeconds
        self.workers = workers; self.threads = threads; self.exitCode = exitCode; self.scenarios = scenarios
        self.workerDeaths = workerDeaths; self.buckets = buckets
    }
}

/// One coordinator sample: seconds since the run started and ops/s per scenario over the last second.
public struct TimelineSample: Codable, Sendable, Equatable {
    public var t: Double
    public var opsPerSecond: [String: Double]
    public init(t: Double, opsPerSecond: [String: Double]) { self.t = t; self.opsPerSecond = opsPerSecond }
}

/// JSON in one house style: ISO-8601 dates, sorted keys, pretty. Stable output diffs well between runs.
public enum ReportJSON {
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // JSON has no NaN/inf; a zero-length run can produce them in rates.
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        var data = try encoder().encode(value)
        data.append(0x0A)
        return data
    }

    public static func string<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }
}
