import Basics
import CBPFStress
import Foundation

/// The shared-memory block that workers write and the coordinator reads
/// (memfd + mmap, layout in bpfs_telemetry.h).
public final class TelemetryBlock {
    public let fd: Int32
    public let base: UnsafeMutableRawPointer
    public let size: Int
    public let slotCount: Int

    /// memfd_create + ftruncate + mmap, for the coordinator.
    public init(slots: Int) throws {
        var p: UnsafeMutableRawPointer?
        let rc = bpfs_tm_create(UInt32(slots), &p)
        guard rc >= 0, let base = p else { throw StressError.system("telemetry memfd", -rc) }
        fd = rc
        self.base = base
        slotCount = slots
        size = bpfs_tm_size(UInt32(slots))
    }

    /// mmap of an inherited telemetry fd, for a worker.
    public init(attachingTo fd: Int32) throws {
        var p: UnsafeMutableRawPointer?
        var size: UInt64 = 0
        let rc = bpfs_tm_attach(fd, &p, &size)
        guard rc == 0, let base = p else { throw StressError.system("telemetry attach", -rc) }
        self.fd = fd
        self.base = base
        self.size = Int(size)
        slotCount = Int(base.assumingMemoryBound(to: bpfs_tm_header.self).pointee.nslots)
    }

    deinit { munmap(base, size) }

    var header: UnsafeMutablePointer<bpfs_tm_header> { base.assumingMemoryBound(to: bpfs_tm_header.self) }

    public func slot(_ i: Int) -> UnsafeMutablePointer<bpfs_slot_tm> { bpfs_tm_slot(base, UInt32(i)) }

    public func thread(_ slot: Int, _ t: Int) -> UnsafeMutablePointer<bpfs_thread_tm> {
        bpfs_tm_thread(base, UInt32(slot), UInt32(t))
    }

    /// Asks every worker to finish its current op and leave.
    public func requestStop() { withUnsafeMutablePointer(to: &header.pointee.stop) { $0.pointee = 1 } }
    public var stopRequested: Bool { header.pointee.stop != 0 }

    /// Zeroes a slot before it is (re)used.
    public func reset(slot i: Int) {
        memset(UnsafeMutableRawPointer(slot(i)), 0, MemoryLayout<bpfs_slot_tm>.size)
        bpfs_tm_hist_reset(base, UInt32(i))
    }
}

/// One flight-recorder entry, decoded.
public struct OpRecord: Sendable, Equatable {
    public var seq: UInt64
    public var kind: OpKind
    public var startNs: UInt64
    public var durationNs: UInt64
    public var errno: Int32
    public var summary: String
    /// Timed with the coarse clock (4 ms resolution): start and duration are approximate.
    public var coarse: Bool = false

    public func line(relativeTo base: UInt64) -> String {
        let t = Double(Int64(startNs) - Int64(base)) / 1e9
        let result = errno == 0 ? "ok" : (errno > 0 ? ErrnoName.name(errno) : "failed")
        let took = coarse ? (durationNs == 0 ? "<4 ms, coarse clock" : String(format: "~%.0f ms, coarse clock", Double(durationNs) / 1e6))
                          : String(format: "%.3f ms", Double(durationNs) / 1e6)
        return String(format: coarse ? "#%llu t~%.3fs %@ %@ -> %@ (%@)" : "#%llu t=%.6fs %@ %@ -> %@ (%@)",
                      seq, t, kind.name, summary, result, took)
    }
}

/// A consistent-enough copy of one worker thread's telemetry.
public struct ThreadSnapshot: Sendable {
    public var tid: Int32
    public var heartbeatNs: UInt64
    public var opsTotal: UInt64
    public var inflight: (kind: OpKind, startNs: UInt64, summary: String)?
    public var kindOps: [UInt64]
    public var kindErrs: [UInt64]
    public var errnoSeen: [UInt64]
    public var errnoTolerated: [UInt64]
    public var checkPass: [UInt64]
    public var checkFail: [UInt64]
}

extension TelemetryBlock {
    public func snapshot(slot: Int, thread t: Int) -> ThreadSnapshot {
        let p = thread(slot, t)
        var s = ThreadSnapshot(tid: p.pointee.tid, heartbeatNs: p.pointee.heartbeat_ns, opsTotal: p.pointee.ops_total,
                               inflight: nil, kindOps: [], kindErrs: [], errnoSeen: [], errnoTolerated: [],
                               checkPass: [], checkFail: [])
        let kindRaw = withUnsafePointer(to: &p.pointee.inflight_kind) { __atomicLoadU32($0) }
        if kindRaw != 0 {
            let kind = OpKind(rawValue: kindRaw) ?? .none
            let label = withUnsafeBytes(of: p.pointee.inflight_label) { cString($0) }
            s.inflight = (kind, p.pointee.inflight_start_ns,
                          kind.describe(p.pointee.inflight_a0, p.pointee.inflight_a1, label: label))
        }
        s.kindOps = withUnsafeBytes(of: p.pointee.kind_ops) { Array($0.bindMemory(to: UInt64.self)) }
        s.kindErrs = withUnsafeBytes(of: p.pointee.kind_errs) { Array($0.bindMemory(to: UInt64.self)) }
        s.errnoSeen = withUnsafeBytes(of: p.pointee.errno_seen) { Array($0.bindMemory(to: UInt64.self)) }
        s.errnoTolerated = withUnsafeBytes(of: p.pointee.errno_tolerated) { Array($0.bindMemory(to: UInt64.self)) }
        s.checkPass = withUnsafeBytes(of: p.pointee.check_pass) { Array($0.bindMemory(to: UInt64.self)) }
        s.checkFail = withUnsafeBytes(of: p.pointee.check_fail) { Array($0.bindMemory(to: UInt64.self)) }
        return s
    }

    /// The flight recorder of one thread, oldest first.
    public func ring(slot: Int, thread t: Int) -> [OpRecord] {
        let p = thread(slot, t)
        var out = [bpfs_op_record](repeating: bpfs_op_record(), count: Int(BPFS_RING_LEN))
        let n = out.withUnsafeMutableBufferPointer { bpfs_tm_read_ring(p, $0.baseAddress) }
        return out.prefix(Int(n)).map { r in
            let kind = OpKind(rawValue: UInt32(r.kind)) ?? .none
            let label = withUnsafeBytes(of: r.label) { cString($0) }
            return OpRecord(seq: r.seq, kind: kind, startNs: r.start_ns, durationNs: r.dur_ns, errno: r.err,
                            summary: kind.describe(r.a0, r.a1, label: label),
                            coarse: r.flags & UInt16(BPFS_OP_COARSE) != 0)
        }
    }
}

@inline(__always) func __atomicLoadU32(_ p: UnsafePointer<UInt32>) -> UInt32 {
    // An aligned 32-bit load is atomic on x86_64/arm64; the C side stores with release.
    UnsafeRawPointer(p).load(as: UInt32.self)
}

func cString(_ raw: UnsafeRawBufferPointer) -> String {
    let bytes = raw.bindMemory(to: UInt8.self)
    let n = bytes.firstIndex(of: 0) ?? bytes.count
    return String(decoding: UnsafeBufferPointer(rebasing: bytes[0..<n]), as: UTF8.self)
}
