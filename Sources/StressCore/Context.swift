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
        self.deadline = bpfs_now_ns() + UInt64(spec.durationSeconds * 1e9)
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

    /// Marks a check as not runnable here (a missing feature), with the reason. It shows as a
    /// skipped JUnit testcase unless some thread still passed or failed it.
    public func skipCheck(_ check: String, reason: String) {
        guard let idx = descriptor.checkIndex(check) else { return }
        _ = bpfs_tm_add_finding(slot, bpfs_gettid(), UInt32(idx), 0, WorkerContext.skipMarker, "skip", reason)
    }

    /// Finding-record kind that carries a skip reason instead of a finding.
    static let skipMarker: UInt32 = 0xFFFF

    /// Records a finding from process-level code (setup/teardown), on thread slot 0.
    public func fail(_ check: String, title: String, detail: String, errno: Int32 = 0, op: OpKind = .none) {
        let idx = descriptor.checkIndex(check) ?? 0
        let t = telemetry.thread(spec.slot, 0)
        withUnsafeMutablePointer(to: &t.pointee.check_fail) {
            $0.withMemoryRebound(to: UInt64.self, capacity: Int(BPFS_MAX_CHECKS)) { $0[idx] += 1 }
        }
        _ = bpfs_tm_add_finding(slot, bpfs_gettid(), UInt32(idx), errno, op.rawValue, title, detail)
    }
}

/// Per-thread context: the flight-recorder handle, the thread's RNG and check counters.
public final class ThreadContext {
    public let worker: WorkerContext
    public let index: Int
    public var rng: SplitMix64
    let tm: UnsafeMutablePointer<bpfs_thread_tm>
    let checkPass: UnsafeMutablePointer<UInt64>
    let checkFail: UnsafeMutablePointer<UInt64>
    let tolerated: UnsafeMutablePointer<UInt64>
    public let tid: Int32

    init(worker: WorkerContext, index: Int) {
        self.worker = worker
        self.index = index
        rng = SplitMix64(seed: worker.seed, stream: UInt64(worker.spec.slot) << 16 | UInt64(index))
        tm = worker.telemetry.thread(worker.spec.slot, index)
        let raw = UnsafeMutableRawPointer(tm)
        checkPass = (raw + MemoryLayout<bpfs_thread_tm>.offset(of: \bpfs_thread_tm.check_pass)!)
            .assumingMemoryBound(to: UInt64.self)
        checkFail = (raw + MemoryLayout<bpfs_thread_tm>.offset(of: \bpfs_thread_tm.check_fail)!)
            .assumingMemoryBound(to: UInt64.self)
        tolerated = (raw + MemoryLayout<bpfs_thread_tm>.offset(of: \bpfs_thread_tm.errno_tolerated)!)
            .assumingMemoryBound(to: UInt64.self)
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
        bpfs_op_begin_ex(tm, kind.rawValue, a0, a1, nil, kind.isElementOp ? UInt32(BPFS_OP_COARSE) : 0)
        return try finishOp(body)
    }

    /// Same as `op`, with a short text label (object name, case name) kept in the recorder.
    public func op<T>(_ kind: OpKind, label: String, _ a0: UInt64 = 0, _ a1: UInt64 = 0,
                      _ body: () throws -> T) throws -> T {
        label.withCString { bpfs_op_begin(tm, kind.rawValue, a0, a1, $0) }
        return try finishOp(body)
    }

    /// Runs the body of the op in flight and closes its flight-recorder entry with its errno.
    @inline(__always)
    func finishOp<T>(_ body: () throws -> T) throws -> T {
        do {
            let r = try body()
            bpfs_op_end(tm, 0)
            return r
        } catch {
            bpfs_op_end(tm, errnoValue(of: error))
            throw error
        }
    }

    /// Marks the thread alive during work that is not an op (sleeps, waits).
    public func heartbeat() { tm.pointee.heartbeat_ns = bpfs_now_ns() }

    public func pass(_ check: String) {
        guard let i = worker.descriptor.checkIndex(check) else { return }
        checkPass[i] += 1
    }

    /// A failed check: counted, and its details become a finding in the report.
    public func fail(_ check: String, title: String, detail: String, errno: Int32 = 0, op: OpKind = .none) {
        let i = worker.descriptor.checkIndex(check) ?? 0
        checkFail[i] += 1
        _ = bpfs_tm_add_finding(worker.slot, tid, UInt32(i), errno, op.rawValue, title, detail)
    }

    /// An errno the scenario expected and tolerates (e.g. E2BIG at the program limit): counted, not a finding.
    public func tolerate(_ errno: Int32) {
        let e = errno >= 0 && errno < BPFS_MAX_ERRNO ? Int(errno) : 0
        tolerated[e] += 1
    }

    /// The last ops of this thread, oldest first (for a finding's detail).
    public func recentOps(_ n: Int = 8) -> [String] {
        let base = worker.telemetry.header.pointee.start_ns
        return worker.telemetry.ring(slot: worker.spec.slot, thread: index).suffix(n).map { $0.line(relativeTo: base) }
    }
}

/// The errno carried by an error thrown from BPFKit or StressCore; -1 when there is none.
public func errnoValue(of error: Error) -> Int32 {
    if let e = error as? BPFError, let n = e.errno { return n.rawValue }
    if let e = error as? StressError, let n = e.errno { return n }
    return -1
}

