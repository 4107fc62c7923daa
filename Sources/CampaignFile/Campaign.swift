import Foundation

/// The value types a scenario parameter may declare.
public enum ParamKind: String, Sendable {
    case int, double, bool, string, duration, list
}

public enum ParamValue: Equatable, Sendable {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)
    /// Seconds.
    case duration(Double)
    case list([ParamValue])
}

public struct ScenarioEntry: Equatable, Sendable {
    public var name: String
    /// Relative share of workers when a campaign mixes scenarios.
    public var weight: Int
    /// Overrides of the campaign-wide counts; nil means "use the campaign's".
    public var workers: Int?
    public var threads: Int?
    public var params: [String: ParamValue]
    /// Per op kind deadline overrides, seconds.
    public var deadlines: [String: Double]

    public init(name: String, weight: Int = 1, workers: Int? = nil, threads: Int? = nil,
                params: [String: ParamValue] = [:], deadlines: [String: Double] = [:]) {
        self.name = name; self.weight = weight; self.workers = workers; self.threads = threads
        self.params = params; self.deadlines = deadlines
    }
}

public struct Campaign: Equatable, Sendable {
    public static let defaultWorkers = 2
    public static let defaultThreads = 2
    public static let defaultDuration = 10.0
    public static let defaultDeadline = 10.0

    public var name: String
    /// nil: the runner picks one and reports it, so a run can be replayed.
    public var seed: UInt64?
    /// Seconds.
    public var duration: Double
    public var workers: Int
    public var threads: Int
    /// Seconds an op may take before the worker counts as hung.
    public var deadline: Double
    /// Per op kind deadlines, seconds; override `deadline`.
    public var deadlines: [String: Double]
    public var scenarios: [ScenarioEntry]
    /// A finished run directory of this campaign to compare with (`baseline:`, `run --baseline`).
    public var baseline: String? = nil
    /// Percent by which a scenario's ops/s may drop against the baseline (`regression_threshold:`).
    public var regressionThresholdPercent: Double? = nil
    /// Percent by which an op kind's p99 may grow against the baseline (`p99_regression_threshold:`).
    public var p99RegressionThresholdPercent: Double? = nil

    public init(name: String, seed: UInt64? = nil, duration: Double = Campaign.defaultDuration,
                workers: Int = Campaign.defaultWorkers, threads: Int = Campaign.defaultThreads,
                deadline: Double = Campaign.defaultDeadline, deadlines: [String: Double] = [:],
                scenarios: [ScenarioEntry] = []) {
        self.name = name; self.seed = seed; self.duration = duration; self.workers = workers
        self.threads = threads; self.deadline = deadline; self.deadlines = deadlines; self.scenarios = scenarios
    }
}

/// One problem in a campaign file, printed as `file:line: message`.
public struct CampaignError: Error, CustomStringConvertible, Equatable {
    public let file: String
    /// 1-based; nil when the problem has no place in the file (unreadable file).
    public let line: Int?
    /// Dotted path of the offending key, e.g. `workers`, `scenarios[0].params.connects`.
    public let key: String?
    public let message: String

    public init(file: String, line: Int?, key: String?, message: String) {
        self.file = file; self.line = line; self.key = key; self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

/// What a scenario accepts under `params:`; the Scenarios module provides one per scenario.
public struct ScenarioSchema: Sendable {
    public let name: String
    public let params: [String: ParamKind]

    public init(name: String, params: [String: ParamKind]) {
        self.name = name; self.params = params
    }
}
