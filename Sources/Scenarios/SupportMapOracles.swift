import Basics
import BPFKit
import Foundation
import StressCore

// Shared pieces of the map scenarios (percpu-batch-sizes, map-parallel): cross-process
// map sharing, the per-CPU value codec, the shadow model and the pure oracles. The
// oracles take plain values (errno, counts, byte arrays, map contents) so that unit
// tests can hand them tampered inputs and watch them fail.

/// The kernel-internal ENOTSUPP (524) that batch ops on maps without the op return.
public let ENOTSUPP_KERNEL: Int32 = 524

/// One broken promise found by an oracle; `check` is the scenario check it fails.
public struct Violation: Equatable, CustomStringConvertible {
    public let check: String
    public let message: String
    public init(_ check: String, _ message: String) { self.check = check; self.message = message }
    public var description: String { "[\(check)] \(message)" }
}

/// A map's content as user space sees it: key -> value bytes. For per-CPU maps the value
/// is the CPUs' slots packed back to back, `valueSize` meaningful bytes each (no padding).
public typealias MapContent = [UInt32: [UInt8]]

func errnoList(_ s: Set<Int32>) -> String {
    "{" + s.sorted().map { $0 == 0 ? "0" : ErrnoName.name($0) }.joined(separator: ",") + "}"
}

func errnoText(_ e: Int32) -> String { e == 0 ? "success" : ErrnoName.name(e) }

// MARK: - cross-process sharing

/// Maps shared by all worker processes of one campaign, found by name: no pins, no
/// mounts, nothing to clean up (the kernel frees a map when its last fd closes). Every
/// worker scans the map ids for the campaign's names, creates what is missing, scans
/// again and keeps the lowest id per name, so racing creators converge on one map.
public enum SharedMapSet {
    /// Six hex digits naming this campaign's set: the coordinator's pid (every worker's
    /// parent; workers get different seeds), the scenario, and `variant` (e.g. sizes).
    public static func token(scenario: String, variant: String = "", coordinatorPID: Int32 = getppid()) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in Array("\(coordinatorPID)/\(scenario)/\(variant)".utf8) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(format: "%06x", Int(h & 0xff_ffff))
    }

    /// Map name for `suffix` (≤ 4 chars of [A-Za-z0-9_]): "bpfs<token>_<suffix>", ≤ 15 bytes.
    public static func name(token: String, suffix: String) -> String { "bpfs\(token)_\(suffix)" }

    /// Opens (or creates) one map per spec; `spec.name` must come from `name(token:suffix:)`.
    public static func open(_ specs: [MapSpec], runtime rt: Runtime) throws -> [MapFD] {
        var found = try scan(specs, rt)
        var created: [String: MapFD] = [:]
        for s in specs where found[s.name] == nil {
            created[s.name] = try rt.mapCreate(s)
        }
        if !created.isEmpty {
            // Hold the maps found first until the rescan: a worker that made one and has
            // already exited (a 10 ms campaign) would otherwise free it in between.
            let first = found
            found = try scan(specs, rt)
            for (_, m) in first { m.close() }
        }
        var out: [MapFD] = []
        for s in specs {
            if let m = found[s.name] { out.append(m) } else if let m = created[s.name] { out.append(m) } else {
                throw BPFError(code: .unsupported, operation: "shared map \(s.name)", detail: "vanished while opening")
            }
        }
        for (name, m) in created where found[name] != nil { m.close() }  // lost the race: use the older map
        return out
    }

    /// Lowest-id open map per wanted name whose type and sizes match.
    static func scan(_ specs: [MapSpec], _ rt: Runtime) throws -> [String: MapFD] {
        let wanted = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var best: [String: (UInt32, MapFD)] = [:]
        for id in rt.allIDs(.map) {
            guard let m = try? rt.map(byID: id) else { continue }  // freed meanwhile
            guard let s = m.spec, let w = wanted[s.name], w.type == s.type, w.keySize == s.keySize,
                  w.valueSize == s.valueSize, w.maxEntries == s.maxEntries, best[s.name] == nil else {
                m.close(); continue
            }
            best[s.name] = (id, m)
        }
        return best.mapValues { $0.1 }
    }
}

// MARK: - per-CPU layout and value codec

/// Sizes of one per-CPU entry in user buffers: each CPU's slot is round_up(value_size, 8).
public struct PercpuLayout: Equatable, Sendable, CustomStringConvertible {
    public let valueSize: Int
    public let cpus: Int
    public init(valueSize: Int, cpus: Int) { self.valueSize = valueSize; self.cpus = cpus }
    public var slotStride: Int { (valueSize + 7) & ~7 }
    /// Bytes of one entry in a batch values buffer (the correct size).
    public var entryBytes: Int { slotStride * cpus }
    /// Bytes of one packed entry in MapContent.
    public var packedBytes: Int { valueSize * cpus }

    /// Buffer layout (padded slots) -> packed meaningful bytes.
    public func pack(_ entry: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(packedBytes)
        let b = entry.startIndex
        for c in 0..<cpus { out += entry[(b + c * slotStride)..<(b + c * slotStride + valueSize)] }
        return out
    }

    /// Packed -> buffer layout, zero padding.
    public func unpack(_ packed: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: entryBytes)
        for c in 0..<cpus { for i in 0..<valueSize { out[c * slotStride + i] = packed[c * valueSize + i] } }
        return out
    }

    public var description: String { "value_size=\(valueSize) ncpus=\(cpus) stride=\(entryBytes)" }
}

/// Per-CPU values that encode (key, cpu, generation), checkable slot by slot. Byte 0 of
/// every 8-byte word holds the generation xor a key/cpu/word hash; the other bytes are a
/// hash of (key, cpu, generation, index). The kernel copies values in 8-byte words, so a
/// word is the unit that can legally tear when nothing locks the value (arrays).
public enum PercpuValueCodec {
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func genMask(key: UInt32, cpu: Int, word: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: mix(UInt64(key) << 24 ^ UInt64(cpu) << 12 ^ UInt64(word) ^ 0x5157))
    }

    static func fillByte(key: UInt32, cpu: Int, gen: UInt8, index: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: mix(UInt64(key) << 32 ^ UInt64(cpu) << 20 ^ UInt64(gen) << 12 ^ UInt64(index)))
    }

    /// One CPU's slot: `valueSize` bytes.
    public static func slot(key: UInt32, cpu: Int, gen: UInt8, valueSize: Int) -> [UInt8] {
        (0..<valueSize).map { i in
            i % 8 == 0 ? gen ^ genMask(key: key, cpu: cpu, word: i / 8) : fillByte(key: key, cpu: cpu, gen: gen, index: i)
        }
    }

    /// A whole packed entry: every CPU's slot with the same generation.
    public static func entry(key: UInt32, gen: UInt8, layout: PercpuLayout) -> [UInt8] {
        (0..<layout.cpus).flatMap { slot(key: key, cpu: $0, gen: gen, valueSize: layout.valueSize) }
    }

    /// Generation of each 8-byte word of a slot, nil for a word whose bytes match no generation.
    public static func wordGenerations(key: UInt32, cpu: Int, slot: ArraySlice<UInt8>) -> [UInt8?] {
        let b = slot.startIndex
        return stride(from: 0, to: slot.count, by: 8).map { off in
            let gen = slot[b + off] ^ genMask(key: key, cpu: cpu, word: off / 8)
            for i in (off + 1)..<min(off + 8, slot.count) where slot[b + i] != fillByte(key: key, cpu: cpu, gen: gen, index: i) {
                return nil
            }
            return gen
        }
    }

    /// Checks one packed entry. `tornAllowed`: words may come from different generations
    /// (values copied without a lock); otherwise every word of every CPU must agree.
    /// Returns a description of the first problem, or nil.
    /// An array element nobody has written yet reads as zeros: with `tornAllowed` (arrays)
    /// an all-zero word is accepted as that initial state.
    public static func verify(key: UInt32, packed: [UInt8], layout: PercpuLayout, tornAllowed: Bool) -> String? {
        guard packed.count == layout.packedBytes else { return "entry of key \(key) has \(packed.count) bytes, want \(layout.packedBytes)" }
        var gens = Set<UInt8>()
        for c in 0..<layout.cpus {
            let s = packed[(c * layout.valueSize)..<((c + 1) * layout.valueSize)]
            let words = wordGenerations(key: key, cpu: c, slot: s)
            for (w, g) in words.enumerated() {
                if let g { gens.insert(g); continue }
                let lo = s.startIndex + 8 * w
                if tornAllowed && s[lo..<min(lo + 8, s.endIndex)].allSatisfy({ $0 == 0 }) { continue }
                return "key \(key) cpu \(c) word \(w) does not decode (bytes \(hex(Array(s))))"
            }
        }
        if !tornAllowed && gens.count > 1 {
            return "key \(key) mixes generations \(gens.sorted()) across CPUs/words"
        }
        return nil
    }
}

func hex(_ b: [UInt8], limit: Int = 32) -> String {
    b.prefix(limit).map { String(format: "%02x", $0) }.joined() + (b.count > limit ? "…" : "")
}

/// Compares two map contents; empty when equal, else a short diff.
public func contentDiff(expected: MapContent, actual: MapContent, limit: Int = 6) -> [String] {
    var out: [String] = []
    for k in expected.keys.sorted() {
        guard out.count < limit else { break }
        if let a = actual[k] {
            if a != expected[k]! { out.append("key \(k): value \(hex(a)) want \(hex(expected[k]!))") }
        } else {
            out.append("key \(k): missing")
        }
    }
    for k in actual.keys.sorted() where expected[k] == nil && out.count < limit { out.append("key \(k): unexpected") }
    return out
}

// MARK: - percpu-batch-sizes cases

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
        if c.isArray && (c.op == .lookupAndDelete || c.op == .delete) { return [ENOTSUPP_KERNEL] }
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
        let argError = o.errno == EINVAL || o.errno == ENOTSUPP_KERNEL
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

// MARK: - map-parallel model

/// Values of map-parallel: every value says which key it belongs to (high 32 bits) and
/// who wrote it, with a check byte, so a value under the wrong key or a torn one shows.
public enum ParallelValues {
    static func check(_ key: UInt32, _ payload: UInt32) -> UInt8 {
        UInt8(truncatingIfNeeded: PercpuValueCodec.mix(UInt64(key) << 32 | UInt64(payload)))
    }
    /// Own-range value of `key` in round `round`, `phase` 0 (NOEXIST insert) or 1 (EXIST update).
    public static func own(key: UInt32, round: Int, phase: Int) -> UInt64 {
        let payload = UInt32(truncatingIfNeeded: (round & 0x7F_FFFF) << 1 | (phase & 1))
        return UInt64(key) << 32 | UInt64(payload & 0xFF_FFFF) << 8 | UInt64(check(key, payload & 0xFF_FFFF))
    }
    /// Overlap value written by `writer` (any 24-bit id).
    public static func overlap(key: UInt32, writer: UInt32) -> UInt64 {
        let p = writer & 0xFF_FFFF
        return UInt64(key) << 32 | UInt64(p) << 8 | UInt64(check(key, p ^ 0x80_0000))
    }
    /// True when `value` is an overlap value some writer wrote for `key`.
    public static func isOverlapValue(_ value: UInt64, key: UInt32) -> Bool {
        guard UInt32(value >> 32) == key else { return false }
        let p = UInt32((value >> 8) & 0xFF_FFFF)
        return UInt8(value & 0xFF) == check(key, p ^ 0x80_0000)
    }
}

/// The oracle of map-parallel's quiescent points: the exact content, the two counts and
/// the number of winners per overlap key.
public enum ParallelMapOracle {
    /// `content` read by lookup_batch, `walkKeys` by get_next_key. For arrays `expected`
    /// lists the non-zero slots and every other slot must read 0.
    public static func checkContent(expected: [UInt32: UInt64], content: [UInt32: UInt64], walkKeys: [UInt32],
                                    batchCount: Int, isArray: Bool, maxEntries: Int) -> [Violation] {
        var v: [Violation] = []
        let wantCount = isArray ? maxEntries : expected.count
        if walkKeys.count != batchCount || batchCount != wantCount {
            v.append(Violation("counts-agree", "get_next_key counted \(walkKeys.count), lookup_batch \(batchCount), expected \(wantCount)"))
        }
        if Set(walkKeys).count != walkKeys.count {
            v.append(Violation("counts-agree", "get_next_key visited a key twice"))
        }
        var diffs: [String] = []
        for (k, want) in expected.sorted(by: { $0.key < $1.key }) where diffs.count < 6 {
            guard let got = content[k] else { diffs.append("key \(k) missing"); continue }
            if got != want { diffs.append("key \(k) = 0x\(String(got, radix: 16)) want 0x\(String(want, radix: 16))") }
        }
        for (k, got) in content.sorted(by: { $0.key < $1.key }) where expected[k] == nil && diffs.count < 6 {
            if !isArray || got != 0 { diffs.append("key \(k) = 0x\(String(got, radix: 16)) not expected") }
        }
        if !diffs.isEmpty { v.append(Violation("final-content-exact", diffs.joined(separator: "; "))) }
        return v
    }

    /// Each overlap key must have exactly one successful NOEXIST insert (or delete) per round.
    public static func checkWinners(_ wins: [UInt32: Int], keys: [UInt32], what: String) -> [Violation] {
        let bad = keys.filter { wins[$0, default: 0] != 1 }
        guard !bad.isEmpty else { return [] }
        return [Violation("one-winner", "\(what): " + bad.prefix(6).map { "key \($0) won by \(wins[$0, default: 0]) threads" }.joined(separator: ", "))]
    }
}

// MARK: - small runtime helpers

extension ThreadContext {
    /// Runs one recorded op and returns its errno (0 on success) instead of throwing.
    func errnoOf(_ kind: OpKind, label: String? = nil, _ a0: UInt64 = 0, _ a1: UInt64 = 0, _ body: () throws -> Void) -> Int32 {
        do {
            if let label { try op(kind, label: label, a0, a1, body) } else { try op(kind, a0, a1, body) }
            return 0
        } catch {
            let e = errnoValue(of: error)
            return e > 0 ? e : -1
        }
    }

    /// errnoOf for the BPFKit calls that return an optional Errno (nil on success).
    func errnoOfTry<E: RawRepresentable>(_ kind: OpKind, _ a0: UInt64, _ a1: UInt64, _ body: () -> E?) -> Int32
    where E.RawValue == Int32 {
        var result: Int32 = 0
        _ = errnoOf(kind, a0, a1) {
            if let e = body() {
                result = e.rawValue
                throw StressError(.system, "\(kind.name) failed", errno: e.rawValue)
            }
        }
        return result
    }
}

/// A barrier for the threads of one worker that never waits past the campaign: it gives
/// up when `keepRunning` turns false or a thread leaves (`breakBarrier`).
public final class TimedBarrier {
    private let cond = NSCondition()
    private let parties: Int
    private var arrived = 0
    private var generation = 0
    private var broken = false

    public init(parties: Int) { self.parties = max(1, parties) }

    /// True when all parties arrived; false when the barrier broke or the run is ending.
    public func wait(keepRunning: () -> Bool, heartbeat: () -> Void) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        if broken { return false }
        arrived += 1
        if arrived == parties {
            arrived = 0
            generation += 1
            cond.broadcast()
            return true
        }
        let g = generation
        while generation == g && !broken {
            _ = cond.wait(until: Date().addingTimeInterval(0.05))
            heartbeat()
            if generation == g && !keepRunning() {
                broken = true
                cond.broadcast()
            }
        }
        return generation != g
    }

    /// Releases every waiter for good (a thread is leaving).
    public func breakBarrier() {
        cond.lock()
        broken = true
        cond.broadcast()
        cond.unlock()
    }
}
