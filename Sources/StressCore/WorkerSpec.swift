import CampaignFile
import Foundation

/// What the coordinator tells a worker process to do, passed as JSON on its command line.
public struct WorkerSpec: Codable, Sendable {
    public var slot: Int
    public var generation: Int
    public var scenario: String
    public var threads: Int
    public var seed: UInt64
    public var durationSeconds: Double
    public var cgroupPath: String?
    public var params: [String: ParamValue]
    public var runtime: String
    /// The runtime's campaign-init result, handed to its per-process attach (plugins).
    public var runtimeState: String? = nil
    /// The fd number the telemetry memfd is dup'ed to in the worker.
    public var telemetryFD: Int32
    /// A campaign-private scratch directory where a worker leaves state for the coordinator
    /// (e.g. the program a stuck fuzz thread was running); the coordinator folds the files
    /// into that worker's findings and removes the directory.
    public var stateDirectory: String? = nil
    /// The fd number the ownership-ledger memfd is dup'ed to (OwnershipLedger), or nil when
    /// the campaign has none (its leak check is then reported as not run).
    public var ledgerFD: Int32? = nil

    public init(slot: Int, generation: Int, scenario: String, threads: Int, seed: UInt64, durationSeconds: Double,
                cgroupPath: String?, params: [String: ParamValue], runtime: String, telemetryFD: Int32) {
        self.slot = slot; self.generation = generation; self.scenario = scenario; self.threads = threads
        self.seed = seed; self.durationSeconds = durationSeconds; self.cgroupPath = cgroupPath
        self.params = params; self.runtime = runtime; self.telemetryFD = telemetryFD
    }
}

extension ParamValue: Codable {
    private enum Tag: String, Codable { case int, double, bool, string, duration, list }
    private enum Keys: String, CodingKey { case t, v }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        switch try c.decode(Tag.self, forKey: .t) {
        case .int: self = .int(try c.decode(Int.self, forKey: .v))
        case .double: self = .double(try c.decode(Double.self, forKey: .v))
        case .bool: self = .bool(try c.decode(Bool.self, forKey: .v))
        case .string: self = .string(try c.decode(String.self, forKey: .v))
        case .duration: self = .duration(try c.decode(Double.self, forKey: .v))
        case .list: self = .list(try c.decode([ParamValue].self, forKey: .v))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        switch self {
        case let .int(v): try c.encode(Tag.int, forKey: .t); try c.encode(v, forKey: .v)
        case let .double(v): try c.encode(Tag.double, forKey: .t); try c.encode(v, forKey: .v)
        case let .bool(v): try c.encode(Tag.bool, forKey: .t); try c.encode(v, forKey: .v)
        case let .string(v): try c.encode(Tag.string, forKey: .t); try c.encode(v, forKey: .v)
        case let .duration(v): try c.encode(Tag.duration, forKey: .t); try c.encode(v, forKey: .v)
        case let .list(v): try c.encode(Tag.list, forKey: .t); try c.encode(v, forKey: .v)
        }
    }

    /// A short rendering for JUnit properties and logs.
    public var display: String {
        switch self {
        case let .int(v): return String(v)
        case let .double(v): return String(v)
        case let .bool(v): return String(v)
        case let .string(v): return v
        case let .duration(v): return "\(v)s"
        case let .list(v): return "[" + v.map(\.display).joined(separator: ",") + "]"
        }
    }
}
