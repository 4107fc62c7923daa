import BPFKit
import CampaignFile
import Foundation

/// What a scenario needs from the machine. Checked against the probes before any
/// worker starts; a missing one skips the scenario with the reason.
public enum Requirement: Sendable, Equatable, CustomStringConvertible {
    case bpfLoad
    case cgroupHooks
    case ipv6Loopback
    case tracepoint(category: String, event: String)
    case btf
    case structOps

    public var description: String {
        switch self {
        case .bpfLoad: return "bpf program load"
        case .cgroupHooks: return "cgroup attach hooks"
        case .ipv6Loopback: return "IPv6 loopback (::1)"
        case let .tracepoint(c, e): return "tracepoint \(c):\(e)"
        case .btf: return "kernel BTF"
        case .structOps: return "struct_ops"
        }
    }
}

/// A tunable of a scenario, with its type and default, settable from a campaign file.
public struct ParameterSpec: Sendable {
    public let name: String
    public let kind: ParamKind
    public let defaultValue: ParamValue
    public let help: String
    public init(_ name: String, _ kind: ParamKind, default value: ParamValue, help: String) {
        self.name = name; self.kind = kind; self.defaultValue = value; self.help = help
    }
}

/// A named property the scenario verifies; each becomes one JUnit testcase.
public struct CheckSpec: Sendable {
    public let name: String
    public let summary: String
    public init(_ name: String, _ summary: String) { self.name = name; self.summary = summary }
}

/// How a scenario declares itself (stress-ng style): name, help, requirements, knobs, checks.
public struct ScenarioDescriptor: Sendable {
    public let name: String
    /// At most 6 characters; goes into worker comm names (`bpfs.3.v4v6`).
    public let shortName: String
    public let summary: String
    public let bugClass: String
    public let requirements: [Requirement]
    public let parameters: [ParameterSpec]
    public let checks: [CheckSpec]
    /// BPF objects from corpora/progs this scenario loads; the coordinator builds them before spawning.
    public let objects: [String]
    /// Names of maps/programs the scenario creates outside those objects (for the leak check;
    /// names in `objects` are known already).
    public let ownedNames: [String]
    /// Registered only when BPFSTRESS_TEST_SCENARIOS=1 (fixtures for the harness's own tests).
    public let testOnly: Bool
    /// Writes in-flight state on stop (Scenario.stopping): the crash path then gives the
    /// worker's main thread a moment to write it before the crashing thread is released.
    public let keepsInFlightState: Bool

    public init(name: String, shortName: String, summary: String, bugClass: String = "",
                requirements: [Requirement], parameters: [ParameterSpec] = [], checks: [CheckSpec],
                objects: [String] = [], ownedNames: [String] = [], testOnly: Bool = false,
                keepsInFlightState: Bool = false) {
        self.name = name; self.shortName = shortName; self.summary = summary; self.bugClass = bugClass
        self.requirements = requirements; self.parameters = parameters; self.testOnly = testOnly
        self.keepsInFlightState = keepsInFlightState
        self.objects = objects
        self.ownedNames = ownedNames
        self.checks = CheckSpec.framework + checks
    }

    public var schema: ScenarioSchema {
        ScenarioSchema(name: name, params: Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.kind) }))
    }

    public func checkIndex(_ name: String) -> Int? { checks.firstIndex { $0.name == name } }
}

extension CheckSpec {
    /// Checks every scenario has; the coordinator fails them, not the scenario.
    public static let setup = CheckSpec("setup", "the scenario's per-worker setup succeeds")
    public static let workerSurvives = CheckSpec("worker-survives", "no worker dies by a signal or exits unexpectedly")
    public static let noHang = CheckSpec("no-hang", "no op outlives its deadline and no heartbeat goes stale")
    public static let threadRuns = CheckSpec("thread-runs",
                                             "no scenario thread aborts with an error, and every check it reports is one it declared")
    public static let framework: [CheckSpec] = [setup, workerSurvives, noHang, threadRuns]
}

/// A workload. One instance per worker process; `run` is called on each of its threads.
/// Scenarios reach the runtime only through `worker.runtime` (never bpf(2) directly).
public protocol Scenario: AnyObject {
    static var descriptor: ScenarioDescriptor { get }
    /// Per-process setup, before any thread runs.
    init(worker: WorkerContext) throws
    /// The per-thread loop; must return soon after `thread.keepRunning` turns false.
    func run(thread: ThreadContext) throws
    /// Once per worker, after every thread's `run` has returned and before `teardown`: the
    /// end-of-run judgement (leaks, totals). Findings go through `thread` as usual.
    func finish(thread: ThreadContext)
    /// Per-process teardown; must release everything setup and run created.
    func teardown()
    /// On the worker's main thread, when threads are still running half a second after the
    /// stop request (TERM, the coordinator's flag or the deadline): those threads are likely
    /// stuck. The last chance to write in-flight state into `worker.spec.stateDirectory`,
    /// which the coordinator attaches to this worker's hang findings. Must not block.
    func stopping()
}

extension Scenario {
    public func finish(thread: ThreadContext) {}
    public func stopping() {}
}

/// The set of scenarios a binary knows. The Scenarios module builds the default one.
public struct ScenarioRegistry: Sendable {
    public let types: [any Scenario.Type]
    public init(_ types: [any Scenario.Type]) { self.types = types }

    public var descriptors: [ScenarioDescriptor] { types.map { $0.descriptor } }
    public func type(named name: String) -> (any Scenario.Type)? { types.first { $0.descriptor.name == name } }
    public var schemas: [ScenarioSchema] { descriptors.map(\.schema) }
}
