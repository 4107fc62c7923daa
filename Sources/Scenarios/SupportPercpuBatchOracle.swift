// percpu-batch-sizes' cases and their oracle: the errno, bytes and cursor each batch call must give.
import Basics
import BPFKit
import Foundation
import StressCore

public enum BatchOp: String, CaseIterable, Sendable {
    case lookup = "lookup_batch"
    case lookupAndDelete = "lookup_and_delete_batch"
    case update = "update_batch"
    case delete = "delete_batch"

    public var callName: String { "bpf_map_\(rawValue)" }
    public var opKind: OpKind {
        switch self {
        case .lookup: return .mapLookupBatch
        case .lookupAndDelete: return .mapLookupAndDeleteBatch
        case .update: return .mapUpdateBatch
        case .delete: return .mapDeleteBatch
        }
    }
    var reads: Bool { self == .lookup || self == .lookupAndDelete }
}

public enum BatchCaseKind: String, CaseIterable, Sendable {
    case correct
    /// values sized value_size × count (the seed bug's size).
    case valueSizeTimesCount = "value_size-x-count"
    /// values sized round_up(value_size, 8) × count, no CPU factor.
    case roundUpNoCPUs = "round_up-x-count"
    /// the correct size minus one byte (delete_batch: the keys buffer).
    case oneByteShort = "one-byte-short"
    case countZero = "count-0"
    case countAboveMax = "count-above-max_entries"
    /// BPF_F_LOCK on values without a bpf_spin_lock.
    case elemFlagsLock = "elem_flags-F_LOCK"
    case elemFlagsUnknown = "elem_flags-unknown"
    case flagsNonzero = "flags-nonzero"
    case staleInBatch = "stale-in_batch"
    case garbageInBatch = "garbage-in_batch"
    case unmappedInBatch = "unmapped-in_batch"

    public var isTooSmall: Bool { self == .valueSizeTimesCount || self == .roundUpNoCPUs || self == .oneByteShort }
    var isInBatch: Bool { self == .staleInBatch || self == .garbageInBatch || self == .unmappedInBatch }

    /// Cases that make sense for `op`; on maps other workers mutate (`shared`), only those
    /// whose outcome does not corrupt what the others decode.
    public static func applicable(_ op: BatchOp, shared: Bool) -> [BatchCaseKind] {
        allCases.filter { k in
            switch op {
            case .lookup, .lookupAndDelete: return true
            case .update: return !k.isInBatch && !(shared && (k.isTooSmall || k == .countAboveMax))
            case .delete:
                return !k.isInBatch && k != .valueSizeTimesCount && k != .roundUpNoCPUs && !(shared && k == .countAboveMax)
            }
        }
    }
}

/// The exact arguments of one batch call (what a finding carries).
public struct BatchCase: CustomStringConvertible, Sendable {
    public enum InBatch: Equatable, Sendable { case start, token(UInt32), unmapped }

    public var op: BatchOp
    public var kind: BatchCaseKind
    public var mapType: BPFMapType
    public var layout: PercpuLayout
    public var maxEntries: Int
    public var count: UInt32
    public var keyBytes: Int
    public var valueBytes: Int
    public var elemFlags: UInt64
    public var flags: UInt64
    public var inBatch: InBatch
    /// Keys placed in the key buffer (update/delete), in order.
    public var keys: [UInt32]
    /// Entries in the map when the call starts, when known (maps only this thread touches).
    public var entries: Int?

    public static let garbageToken: UInt32 = 0xFFFF_FFF0

    public var isArray: Bool { mapType == .percpuArray }
    public var isLRU: Bool { mapType == .lruPercpuHash }

    public var description: String {
        let ib: String
        switch inBatch {
        case .start: ib = "NULL"
        case let .token(t): ib = "&\(t)"
        case .unmapped: ib = "<guard page>"
        }
        return "\(op.callName)(\(kind.rawValue)) map=\(mapType) \(layout) max_entries=\(maxEntries) count=\(count) " +
            "keys_bytes=\(keyBytes) values_bytes=\(valueBytes) (correct \(Int(count) * layout.entryBytes)) " +
            "elem_flags=0x\(String(elemFlags, radix: 16)) flags=0x\(String(flags, radix: 16)) in_batch=\(ib) " +
            "entries=\(entries.map(String.init) ?? "unknown")" + (keys.isEmpty ? "" : " keys=\(keys.prefix(12))\(keys.count > 12 ? "…" : "")")
    }

    /// Builds the arguments of `kind`: `count` is the capacity the caller means, `keys`
    /// the keys for update/delete.
    public static func make(op: BatchOp, kind: BatchCaseKind, mapType: BPFMapType, layout: PercpuLayout,
                            maxEntries: Int, count: Int, keys: [UInt32], entries: Int?, staleToken: UInt32 = 0) -> BatchCase {
        var c = BatchCase(op: op, kind: kind, mapType: mapType, layout: layout, maxEntries: maxEntries,
                          count: UInt32(count), keyBytes: 4 * count, valueBytes: count * layout.entryBytes,
                          elemFlags: 0, flags: 0, inBatch: .start, keys: keys, entries: entries)
        switch kind {
        case .correct: break
        case .valueSizeTimesCount: c.valueBytes = count * layout.valueSize
        case .roundUpNoCPUs: c.valueBytes = count * layout.slotStride
        case .oneByteShort:
            if op == .delete { c.keyBytes -= 1 } else { c.valueBytes -= 1 }
        case .countZero: c.count = 0
        case .countAboveMax:
            let n = maxEntries + 4
            c.count = UInt32(n); c.keyBytes = 4 * n; c.valueBytes = n * layout.entryBytes
            if !op.reads { c.keys = (0..<UInt32(n)).map { $0 } }
        case .elemFlagsLock: c.elemFlags = BPFUpdateFlags.lock
        case .elemFlagsUnknown: c.elemFlags = 0x8
        case .flagsNonzero: c.flags = 1
        case .staleInBatch: c.inBatch = .token(staleToken)
        case .garbageInBatch: c.inBatch = .token(garbageToken)
        case .unmappedInBatch: c.inBatch = .unmapped
        }
        return c
    }
}

/// What one batch call did, read back from its guarded buffers.
public struct BatchOutcome {
    public var errno: Int32
    public var countOut: UInt32
    /// Entries of a lookup (key, packed value), parsed only when the call succeeded (0/ENOENT).
    public var returned: [(UInt32, [UInt8])]
    /// Buffers whose canary was overwritten ("keys", "values", "out_batch", "in_batch").
    public var brokenCanaries: [String]
    public init(errno: Int32, countOut: UInt32, returned: [(UInt32, [UInt8])] = [], brokenCanaries: [String] = []) {
        self.errno = errno; self.countOut = countOut; self.returned = returned; self.brokenCanaries = brokenCanaries
    }
}

/// The oracle of percpu-batch-sizes. The errno table was verified against kernel 6.18
/// with a probe (2 possible CPUs, value sizes 1 and 12, all three map types):
///
/// | case                          | lookup / lookup_and_delete            | update                    | delete             |
/// |-------------------------------|---------------------------------------|---------------------------|--------------------|
/// | correct                       | hash ENOENT (end reached); array 0 (count = max_entries) | 0              | 0                  |
/// | value_size×count, round_up×count, one byte short | EFAULT when the entries need more than the buffer | EFAULT, count = entries that fit | EFAULT (keys) |
/// | count 0                       | 0                                     | 0                         | 0                  |
/// | count > max_entries           | ENOENT                                | hash E2BIG, LRU 0, array E2BIG | ENOENT (first absent key) |
/// | elem_flags F_LOCK or unknown  | EINVAL (checked before count 0)       | EINVAL                    | EINVAL             |
/// | flags ≠ 0                     | hash EINVAL; array 0 (generic code ignores batch.flags) | 0 (ignored) | 0 (ignored) |
/// | garbage in_batch (≥ buckets)  | hash ENOENT, count 0; array restarts at key 0 | —                 | —                  |
/// | stale in_batch                | 0 or ENOENT, entries from that cursor | —                         | —                  |
/// | unmapped in_batch             | EFAULT                                | —                         | —                  |
/// | array lookup_and_delete / delete | ENOTSUPP (524), any arguments      |                           |                    |
public enum PercpuBatchOracle {
    /// The errnos the kernel documents (and 6.18 returns) for `c`.
    public static func expectedErrnos(_ c: BatchCase) -> Set<Int32> {
        if c.isArray && (c.op == .lookupAndDelete || c.op == .delete) { return [ENOTSUPP] }
        if c.elemFlags != 0 { return [EINVAL] }  // no bpf_spin_lock in these values; unknown bits
        if c.count == 0 { return [0] }
        let n = Int(c.count)
        let stride = c.layout.entryBytes
        switch c.op {
        case .lookup, .lookupAndDelete:
            if c.flags != 0 && !c.isArray { return [EINVAL] }
            if c.inBatch == .unmapped { return [EFAULT] }
            if c.inBatch == .token(BatchCase.garbageToken) && !c.isArray { return [ENOENT] }
            if case .token = c.inBatch, c.inBatch != .token(BatchCase.garbageToken) {
                return [0, ENOENT, EFAULT].filter { $0 != EFAULT || c.valueBytes < n * stride }.reduce(into: []) { $0.insert($1) }
            }
            // From the start: the whole map fits in `count` unless count < entries.
            let fullRead: Set<Int32> = c.isArray ? (n > c.maxEntries ? [ENOENT] : [0]) : [ENOENT]
            guard let entries = c.isArray ? c.maxEntries : c.entries else {
                return c.valueBytes < n * stride ? fullRead.union([EFAULT]) : fullRead
            }
            let returned = min(entries, n)
            return returned * stride > c.valueBytes || returned * 4 > c.keyBytes ? [EFAULT] : fullRead
        case .update:
            if n * stride > c.valueBytes || n * 4 > c.keyBytes { return [EFAULT] }
            if c.kind == .countAboveMax { return c.isLRU ? [0] : [E2BIG] }
            return [0]
        case .delete:
            // Keys others may have deleted stop the call (ENOENT) before it reaches the short end.
            if n * 4 > c.keyBytes { return c.entries == nil ? [EFAULT, ENOENT] : [EFAULT] }
            if c.kind == .countAboveMax { return [ENOENT] }
            return c.entries == nil ? [0, ENOENT] : [0]
        }
    }

    /// Judges one call. `before`/`after` are the map's contents around the call when no
    /// other thread touches the map (nil on shared maps); `written` are the packed values
    /// the update buffer held at the correct stride, per key index.
    public static func check(_ c: BatchCase, outcome o: BatchOutcome, before: MapContent?, after: MapContent?,
                             written: [[UInt8]] = [], universe: Int) -> [Violation] {
        var v: [Violation] = []
        let expected = expectedErrnos(c)
        if !expected.contains(o.errno) {
            v.append(Violation("expected-errnos", "got \(errnoText(o.errno)), documented \(errnoList(expected))"))
        }
        if c.kind.isTooSmall && expected == [EFAULT] && o.errno != EFAULT {
            v.append(Violation("too-small-efault", "buffer too small by \(Int(c.count) * c.layout.entryBytes - c.valueBytes) bytes but the call returned \(errnoText(o.errno))"))
        }
        if !o.brokenCanaries.isEmpty {
            v.append(Violation("canary-intact", "bytes before the \(o.brokenCanaries.joined(separator: ", ")) buffer(s) were overwritten"))
        }
        let stride = c.layout.entryBytes
        let success = o.errno == 0 || o.errno == ENOENT
        let argError = o.errno == EINVAL || o.errno == ENOTSUPP
        if argError && o.countOut != c.count {
            v.append(Violation("expected-errnos", "\(errnoText(o.errno)) changed count from \(c.count) to \(o.countOut)"))
        }

        // What a lookup returned.
        if c.op.reads && success {
            if o.countOut > c.count || Int(o.countOut) * stride > c.valueBytes || Int(o.countOut) * 4 > c.keyBytes {
                v.append(Violation("slots-decode", "count \(o.countOut) entries do not fit the \(c.valueBytes)-byte values buffer (\(stride) per entry) yet the call succeeded"))
            } else {
                v += checkReturned(c, o, before: before, universe: universe)
            }
        }

        // What the map looks like afterwards.
        if let before, let after {
            let want: MapContent?
            var subsetOnly = false
            switch c.op {
            case .lookup:
                want = before
            case .lookupAndDelete:
                if success {
                    var w = before
                    for (k, _) in o.returned { w[k] = nil }
                    want = w
                } else if o.errno == EFAULT && c.inBatch != .unmapped {
                    want = before; subsetOnly = true  // entries of the faulting bucket are gone (documented)
                } else {
                    want = before
                }
            case .update:
                var w = before
                var applied = c.keys.count
                if o.errno == EFAULT {
                    applied = min(c.valueBytes / stride, c.keyBytes / 4, Int(c.count))
                } else if o.errno == E2BIG {
                    applied = predictedE2BIGIndex(c, before: before)
                } else if o.errno != 0 {
                    applied = 0
                }
                if o.errno == EFAULT || o.errno == E2BIG || o.errno == 0, Int(o.countOut) != min(applied, Int(c.count)) {
                    v.append(Violation("failed-call-no-change", "update_batch reported count \(o.countOut), \(min(applied, Int(c.count))) elements were due"))
                }
                applied = min(applied, Int(c.count))
                for i in 0..<min(applied, c.keys.count, written.count) { w[c.keys[i]] = written[i] }
                if c.isLRU && c.kind == .countAboveMax { subsetOnly = true }  // LRU evicts to make room
                want = w
            case .delete:
                var w = before
                var deleted = 0
                if o.errno == 0 { deleted = min(Int(c.count), c.keys.count) }
                if o.errno == EFAULT { deleted = min(c.keyBytes / 4, Int(c.count)) }
                if o.errno == ENOENT { deleted = c.keys.firstIndex { before[$0] == nil } ?? c.keys.count }
                if o.errno == 0 || o.errno == EFAULT || o.errno == ENOENT, Int(o.countOut) != deleted {
                    v.append(Violation("failed-call-no-change", "delete_batch reported count \(o.countOut), \(deleted) keys were due"))
                }
                for k in c.keys.prefix(deleted) { w[k] = nil }
                want = w
            }
            if let want {
                if subsetOnly {
                    let extra = after.filter { want[$0.key] == nil || want[$0.key]! != $0.value }.map(\.key).sorted()
                    if !extra.isEmpty {
                        v.append(Violation("failed-call-no-change", "after \(errnoText(o.errno)) the map holds keys \(extra.prefix(8)) with values nobody wrote"))
                    }
                } else {
                    let d = contentDiff(expected: want, actual: after)
                    if !d.isEmpty {
                        v.append(Violation("failed-call-no-change", "after \(errnoText(o.errno)) the map differs from the model: " + d.joined(separator: "; ")))
                    }
                }
            }
        }
        return v
    }

    /// Index of the element at which update_batch of `c.keys` hits E2BIG.
    static func predictedE2BIGIndex(_ c: BatchCase, before: MapContent) -> Int {
        if c.isArray { return c.keys.firstIndex { Int($0) >= c.maxEntries } ?? c.keys.count }
        var size = before.count
        for (i, k) in c.keys.enumerated() where before[k] == nil {
            if size >= c.maxEntries { return i }
            size += 1
        }
        return c.keys.count
    }

    static func checkReturned(_ c: BatchCase, _ o: BatchOutcome, before: MapContent?, universe: Int) -> [Violation] {
        var v: [Violation] = []
        var seen = Set<UInt32>()
        for (k, val) in o.returned {
            if !seen.insert(k).inserted { v.append(Violation("slots-decode", "key \(k) returned twice")); continue }
            if Int(k) >= universe { v.append(Violation("slots-decode", "key \(k) is outside the keys ever written (< \(universe))")); continue }
            if let before {
                if let want = before[k] {
                    if want != val { v.append(Violation("slots-decode", "key \(k): value \(hex(val)) want \(hex(want))")) }
                } else {
                    v.append(Violation("entries-exact", "key \(k) returned but not in the map"))
                }
            } else if let problem = PercpuValueCodec.verify(key: k, packed: val, layout: c.layout, tornAllowed: c.isArray) {
                v.append(Violation("slots-decode", problem))
            }
            if v.count > 8 { break }
        }
        guard let before else { return v }
        let got = Set(o.returned.map(\.0))
        switch c.inBatch {
        case .start, .token(BatchCase.garbageToken):
            if c.isArray {
                let want = Set((0..<UInt32(min(Int(c.count), c.maxEntries))))
                if c.inBatch == .start || c.isArray, got != want {
                    v.append(Violation("entries-exact", "array batch returned keys \(got.sorted().prefix(8))…, want 0..<\(want.count)"))
                }
            } else if c.inBatch == .start && Int(c.count) >= before.count && got != Set(before.keys) {
                v.append(Violation("entries-exact", "returned \(got.count) keys, the map holds \(before.count): missing \(Set(before.keys).subtracting(got).sorted().prefix(8)), extra \(got.subtracting(before.keys).sorted().prefix(8))"))
            }
        case let .token(t) where c.isArray:
            let lo = Int(t) + 1
            let want = lo >= c.maxEntries ? Set<UInt32>() : Set((UInt32(lo)..<UInt32(min(c.maxEntries, lo + Int(c.count)))))
            if got != want { v.append(Violation("entries-exact", "array batch from cursor \(t) returned \(got.count) keys, want \(want.count) from \(lo)")) }
        default: break
        }
        return v
    }
}
