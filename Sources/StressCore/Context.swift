import Basics
import BPFKit
import CBPFStress
import CampaignFile
import Foundation

/// Parameters handed to a scenario: the campaign's values over the descriptor's defaults.
public struct ScenarioParams: Sendable {
    public var values: [String: ParamValue]
    public init(_ values: [String: ParamValue]) { self.values = values }

    public func int(_ name: String) -> Int {
        switch values[name] {
        case let .int(v)?: return v
        case let .double(v)?: return Int(v)
        default: return 0
        }
    }
    public func double(_ name: String) -> Double {
        switch values[name] {
        case let .double(v)?, let .duration(v)?: return v
        case let .int(v)?: return Double(v)
        default: return 0
        }
    }
    public func string(_ name: String) -> String {
        if case let .string(s)? = values[name] { return s }
        return ""
    }
    public func bool(_ name: String) -> Bool {
        if case let .bool(b)? = values[name] { return b }
        return false
    }
}

/// Everything a scenario instance can use in its worker process.
public final class WorkerContext {
    public let spec: WorkerSpec
    public let runtime: any Runtime
    public let descriptor: ScenarioDescriptor
    public let params: ScenarioParams
    /// The campaign cgroup this worker sits in, when the scenario attaches to cgroups.
    public let cgroupPath: String?
    let telemetry: TelemetryBlock
    let slot: UnsafeMutablePointer<bpfs_slot_tm>
    public let deadline: UInt64

    init(spec: WorkerSpec, runtime: any Runtime, descriptor: ScenarioDescriptor, telemetry: TelemetryBlock) {
        self.spec = spec
        self.runtime = runtime
        self.descriptor = descriptor
        self.params = ScenarioParams(spec.params)
        self.cgroupPath = spec.cgroupPath
        self.telemetry = telemetry
        self.slot = telemetry.slot(spec.slot)
        // Saturating, like the coordinator's end time: a bad spec must not trap here.
        self.deadline = bpfs_now_ns() &+ UInt64(min(max(spec.durationSeconds, 0), 3e9) * 1e9)
    }

    public var slotIndex: Int { spec.slot }
    public var threadCount: Int { spec.threads }
    public var seed: UInt64 { spec.seed }

    /// True until the campaign's end, a stop request (TERM, or the coordinator's flag).
    public var keepRunning: Bool {
        bpfs_now_ns() < deadline && bpfs_stop_requested() == 0 && !telemetry.stopRequested
    }

    /// Opens the campaign cgroup directory for use as an attach target.
    public func cgroupFD() throws -> Int32 {
        guard let path = cgroupPath else { throw StressError(.environment, "scenario has no campaign cgroup") }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StressError.system("open \(path)", errno) }
        return fd
    }

    /// Leaves text for the coordinator on stop (Scenario.stopping): the coordinator attaches
    /// every such file of this worker to its hang and crash findings, without knowing what it
    /// holds (map-fuzz leaves the programs its stuck threads were running). False when the
    /// campaign has no state directory or the write failed.
    @discardableResult
    public func leaveState(_ name: String, _ text: String) -> Bool {
        guard let dir = spec.stateDirectory, !name.contains("/") else { return false }
        return (try? text.write(toFile: dir + "/" + WorkerState.fileName(slot: spec.slot, pid: getpid(), name: name),
                                atomically: true, encoding: .utf8)) != nil
    }

    /// Where a scenario puts files that belong in the run's report directory (reproducers):
    /// the coordinator copies them there at the end. Nil when the campaign has no state directory.
    public var reportFilesDirectory: String? {
        guard let dir = spec.stateDirectory else { return nil }
        let d = dir + "/" + WorkerState.reportFiles
        return (mkdir(d, 0o700) == 0 || errno == EEXIST) ? d : nil
    }

    /// Marks a check as not runnable here (a missing feature), with the reason. It shows as a
    /// skipped JUnit testcase unless some thread still passed or failed it.
    public func skipCheck(_ check: String, reason: String) {
        record(check: declaredIndex(check), tid: bpfs_gettid(), errno: 0, kind: WorkerContext.skipMarker,
               title: "skip", text: reason)
    }

    /// Finding-record kind that carries a skip reason instead of a finding.
    static let skipMarker: UInt32 = 0xFFFF

    /// A property of the scenario's run (one name, one value; the last report wins), for the
    /// scenario's JUnit testsuite: facts a worker learned, such as the probed kernel facts.
    public func reportProperty(_ name: String, _ value: String) {
        record(check: 0, tid: bpfs_gettid(), errno: 0, kind: WorkerContext.propertyMarker, title: name, text: value)
    }

    /// Finding-record kind that carries a scenario property (title: name, text: value).
    static let propertyMarker: UInt32 = 0xFFFE

    /// Records a finding from process-level code (setup/teardown), on thread slot 0.
    public func fail(_ check: String, title: String, detail: String, errno: Int32 = 0, op: OpKind = .none) {
        let idx = declaredIndex(check)
        bpfs_tm_check_fail(telemetry.thread(spec.slot, 0), UInt32(idx))
        record(check: idx, tid: bpfs_gettid(), errno: errno, kind: op.rawValue, title: title, text: detail)
    }

    /// A pass from process-level code (e.g. `setup`), on thread slot 0.
    public func pass(_ check: String) {
        bpfs_tm_check_pass(telemetry.thread(spec.slot, 0), UInt32(declaredIndex(check)))
    }

    /// The index of a check the scenario declared. A name it never declared is a bug in the
    /// scenario: debug builds (the tests) stop on it; a release run files it under
    /// `thread-runs`, so the result is still counted somewhere visible.
    func declaredIndex(_ check: String) -> Int {
        if let i = descriptor.checkIndex(check) { return i }
        assertionFailure("scenario \(descriptor.name) used undeclared check '\(check)'")
        return descriptor.checkIndex(CheckSpec.threadRuns.name)!
    }

    /// Puts a finding in the slot's mailbox, or in the spill file when the mailbox is full, so
    /// that no finding is lost (bucket counts stay exact).
    func record(check: Int, tid: Int32, errno: Int32, kind: UInt32, title: String, text: String) {
        if bpfs_tm_add_finding(slot, tid, UInt32(check), errno, kind, title, text) >= 0 { return }
        let spilled = FindingSpill.append(directory: spec.stateDirectory, slot: spec.slot,
                                          SpilledFinding(tid: tid, check: UInt32(check), errno: errno, kind: kind,
                                                         title: title, text: text))
        bpfs_tm_count_overflow(slot, spilled ? 1 : 0)
    }
}

/// Per-thread context: the flight-recorder handle, the thread's RNG and check counters.
public final class ThreadContext {
    public let worker: WorkerContext
    public let index: Int
    public var rng: SplitMix64
    let tm: UnsafeMutablePointer<bpfs_thread_tm>
    /// This thread's latency histograms (bpfs_thread_hist), written only by it.
    let hist: UnsafeMutablePointer<bpfs_thread_hist>
    public let tid: Int32

    init(worker: WorkerContext, index: Int) {
        self.worker = worker
        self.index = index
        rng = SplitMix64(seed: worker.seed, stream: UInt64(worker.spec.slot) << 16 | UInt64(index))
        tm = worker.telemetry.thread(worker.spec.slot, index)
        hist = bpfs_tm_thread_hist(worker.telemetry.base, UInt32(worker.spec.slot), UInt32(index))
        var sampling = SplitMix64(seed: worker.seed, stream: 0x4C41_5400 | UInt64(index))
        bpfs_hist_seed(hist, sampling.next())
        tid = bpfs_gettid()
        tm.pointee.tid = tid
        tm.pointee.active = 1
        tm.pointee.heartbeat_ns = bpfs_now_ns()
    }

    public var keepRunning: Bool { worker.keepRunning }
    /// The op this thread has in flight, read from its telemetry as the coordinator reads it
    /// (for another thread of the worker, e.g. Scenario.stopping); nil when none.
    public var opInFlight: (kind: OpKind, a0: UInt64, a1: UInt64)? {
        let k = tm.pointee.inflight_kind
        guard k != 0, let kind = OpKind(rawValue: k) else { return nil }
        return (kind, tm.pointee.inflight_a0, tm.pointee.inflight_a1)
    }
    public var runtime: any Runtime { worker.runtime }
    public var params: ScenarioParams { worker.params }

    /// Runs `body` as one recorded op: in flight while it runs, then appended to the ring
    /// with its errno. This is the only way scenario work reaches the flight recorder.
    @inline(__always)
    public func op<T>(_ kind: OpKind, _ a0: UInt64 = 0, _ a1: UInt64 = 0, _ body: () throws -> T) throws -> T {
        bpfs_op_begin_h(tm, hist, kind.rawValue, a0, a1, nil, kind.isElementOp ? UInt32(BPFS_OP_COARSE) : 0)
        return try finishOp(body)
    }

    /// Same as `op`, with a short text label (object name, case name) kept in the recorder.
    public func op<T>(_ kind: OpKind, label: String, _ a0: UInt64 = 0, _ a1: UInt64 = 0,
                      _ body: () throws -> T) throws -> T {
        label.withCString { bpfs_op_begin_h(tm, hist, kind.rawValue, a0, a1, $0, 0) }
        return try finishOp(body)
    }

    /// Runs the body of the op in flight and closes its flight-recorder entry with its errno.
    @inline(__always)
    func finishOp<T>(_ body: () throws -> T) throws -> T {
        do {
            let r = try body()
            bpfs_op_end_h(tm, hist, 0)
            return r
        } catch {
            bpfs_op_end_h(tm, hist, errnoNumber(of: error) ?? -1)
            throw error
        }
    }

    /// Marks the thread alive during work that is not an op (sleeps, waits).
    public func heartbeat() { tm.pointee.heartbeat_ns = bpfs_now_ns() }

    public func pass(_ check: String) { bpfs_tm_check_pass(tm, UInt32(worker.declaredIndex(check))) }
    public func pass(_ check: CheckSpec) { pass(check.name) }

    /// A failed check: counted, and its details become a finding in the report.
    public func fail(_ check: String, title: String, detail: String, errno: Int32 = 0, op: OpKind = .none) {
        let i = worker.declaredIndex(check)
        bpfs_tm_check_fail(tm, UInt32(i))
        worker.record(check: i, tid: tid, errno: errno, kind: op.rawValue, title: title, text: detail)
    }
    public func fail(_ check: CheckSpec, title: String, detail: String, errno: Int32 = 0, op: OpKind = .none) {
        fail(check.name, title: title, detail: detail, errno: errno, op: op)
    }

    /// An errno the scenario expected and tolerates (e.g. E2BIG at the program limit): counted, not a finding.
    public func tolerate(_ errno: Int32) { bpfs_tm_tolerate(tm, errno) }

    /// The last ops of this thread, oldest first (for a finding's detail).
    public func recentOps(_ n: Int = 8) -> [String] {
        let base = worker.telemetry.header.pointee.start_ns
        return worker.telemetry.ring(slot: worker.spec.slot, thread: index).suffix(n).map { $0.line(relativeTo: base) }
    }
}

/// The errno's symbolic name for a title ("EBUSY"), or "error" when the error carries none.
public func errnoLabel(of error: Error) -> String { errnoNumber(of: error).map(ErrnoName.name) ?? "error" }

/// The errno an error carries (BPFError's Errno, StressError's errno), nil when it has none.
public func errnoNumber(of error: Error) -> Int32? {
    if let e = error as? BPFError, let n = e.errno { return n.rawValue }
    if let e = error as? StressError, let n = e.errno { return n }
    return nil
}

