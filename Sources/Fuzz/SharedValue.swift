// Values for maps all workers fuzz at once (torn or misfiled reads show), and the batch and census checks on them.
import BPFKit
import Foundation

/// Values written to maps that several processes fuzz at once. Each carries who wrote it,
/// for which key, a per-writer sequence number and a checksum over all of that, so that a
/// torn read (bytes of two writes) or a value filed under the wrong key is caught.
public enum SharedValue {
    /// writer u32, key u32, seq u64, filler u64, checksum u64.
    public static let size = 32

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func checksum(_ writer: UInt32, _ key: UInt32, _ seq: UInt64, _ filler: UInt64) -> UInt64 {
        mix(mix(UInt64(writer) << 32 | UInt64(key)) ^ mix(seq) ^ filler)
    }

    public static func encode(writer: UInt32, key: UInt32, seq: UInt64) -> [UInt8] {
        let filler = mix(seq ^ UInt64(writer) << 20 ^ UInt64(key))
        var out = [UInt8]()
        out.reserveCapacity(size)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        put(writer); put(key); put(seq); put(filler); put(checksum(writer, key, seq, filler))
        return out
    }

    public struct Decoded: Equatable { public let writer: UInt32; public let key: UInt32; public let seq: UInt64 }

    /// Decodes a value read under `key`; the problem when it is torn, foreign or misfiled.
    public static func verify(_ b: [UInt8], key: UInt32) -> Result<Decoded, SharedValueError> {
        guard b.count >= size else { return .failure(.init("value of \(b.count) bytes, want \(size)")) }
        func get<T: FixedWidthInteger>(_ off: Int, _: T.Type) -> T {
            b.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: off, as: T.self)) }
        }
        let w = get(0, UInt32.self), k = get(4, UInt32.self), seq = get(8, UInt64.self)
        let filler = get(16, UInt64.self), sum = get(24, UInt64.self)
        if sum != checksum(w, k, seq, filler) || filler != mix(seq ^ UInt64(w) << 20 ^ UInt64(k)) {
            return .failure(.init("torn or foreign value under key \(key): writer \(w) key \(k) seq \(seq), checksum mismatch"))
        }
        if k != key { return .failure(.init("value written for key \(k) read under key \(key) (writer \(w) seq \(seq))")) }
        return .success(Decoded(writer: w, key: k, seq: seq))
    }
}

public struct SharedValueError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// The invariants of one batch lookup on a shared map: each key at most once, every key
/// from the workers' key universe, every value intact and filed under its key. (The number
/// of entries is not bounded by max_entries here: a batch sweep is not a snapshot, and with
/// concurrent deletes and inserts it legitimately saw 257 entries of a 256-entry map. Counts
/// are checked by checkSharedCensus, on a snapshot, and exactly by the single-process oracle.)
public func checkSharedBatch(keys: [UInt32], values: [[UInt8]], universe: Int, tornAllowed: Bool) -> [String] {
    var out: [String] = []
    var seen = Set<UInt32>()
    for (k, v) in zip(keys, values) {
        if !seen.insert(k).inserted { out.append("key \(k) returned twice in one batch") }
        if Int(k) >= universe { out.append("key \(k) is outside the key range 0..<\(universe) any worker writes") }
        if case let .failure(e) = SharedValue.verify(v, key: k) {
            if !(tornAllowed && e.description.hasPrefix("torn")) { out.append(e.description) }
        }
    }
    if seen.count > universe { out.append("batch returned \(seen.count) distinct keys of a \(universe)-key universe") }
    return out
}

/// The invariants of a census: a shared map read while no worker may write it (every
/// writer waits on the census lock), so the read is a snapshot. The get_next_key walk
/// holds at most max_entries keys, each once, each found by lookup with an intact value
/// (no tearing is possible with no writer), and a batch lookup of the whole map returns
/// exactly the walk's keys and values.
/// `walk`: each walked key with its lookup (nil: ENOENT). `batch`: nil when it failed.
/// `overshoot`: how many keys past max_entries the map type may hold. 0 for preallocated
/// maps (a fixed pool of elements). A BPF_F_NO_PREALLOC hash checks "full" and counts the
/// new element in two steps (alloc_htab_elem: is_map_full, then inc_elem_count), so inserts
/// racing on other CPUs can each pass the check: verified on 6.18, a 256-entry map held 257
/// keys with 2 CPUs. Each CPU has at most one insert inside that window (it runs under the
/// bucket lock, preemption off), so such a map holds at most max_entries + CPUs - 1 keys.
public func checkSharedCensus(walk: [(key: UInt32, value: [UInt8]?)], batch: [(key: UInt32, value: [UInt8])]?,
                              maxEntries: Int, universe: Int, overshoot: Int = 0) -> [String] {
    var out: [String] = []
    if walk.count > maxEntries + overshoot {
        out.append("census: \(walk.count) keys in a map of max_entries \(maxEntries)" + (overshoot > 0 ? " (at most \(maxEntries + overshoot) with racing inserts)" : ""))
    }
    var walked: [UInt32: [UInt8]] = [:]
    for (k, v) in walk {
        if walked[k] != nil { out.append("census: get_next_key returned key \(k) twice") }
        if Int(k) >= universe { out.append("census: key \(k) is outside the key range 0..<\(universe) any worker writes") }
        guard let v else { out.append("census: walked key \(k) is missing on lookup with no writer running"); continue }
        if case let .failure(e) = SharedValue.verify(v, key: k) { out.append("census: " + e.description) }
        walked[k] = v
    }
    guard let batch else { return out }
    var batched: [UInt32: [UInt8]] = [:]
    for (k, v) in batch {
        if batched.updateValue(v, forKey: k) != nil { out.append("census: batch lookup returned key \(k) twice") }
    }
    let onlyWalk = Set(walked.keys).subtracting(batched.keys), onlyBatch = Set(batched.keys).subtracting(walked.keys)
    if !onlyWalk.isEmpty || !onlyBatch.isEmpty {
        out.append("census: batch lookup and walk disagree: \(onlyWalk.count) key(s) only walked (e.g. \(onlyWalk.sorted().first.map(String.init) ?? "-")), \(onlyBatch.count) only batched (e.g. \(onlyBatch.sorted().first.map(String.init) ?? "-"))")
    }
    for (k, v) in batched where walked[k] != nil && walked[k] != v {
        out.append("census: key \(k) has a different value in the batch than on lookup")
    }
    return out
}

/// How many keys a census reads with get_next_key: past every count it checks (max_entries
/// plus the racing-insert overshoot) and past the whole key universe, so that a map over its
/// bound, or a walk that repeats keys, shows instead of being cut at the bound.
public func censusReadLimit(maxEntries: Int, overshoot: Int, universe: Int) -> Int {
    max(maxEntries + overshoot, universe) + 1
}

/// The census walk of one shared map: every key get_next_key returns (up to
/// censusReadLimit) and its lookup (nil when the lookup failed).
public func censusWalk(_ map: MapFD, maxEntries: Int, overshoot: Int, universe: Int) throws -> [(key: UInt32, value: [UInt8]?)] {
    let keys = try map.keys(as: UInt32.self, limit: censusReadLimit(maxEntries: maxEntries, overshoot: overshoot, universe: universe))
    return keys.map { k in
        let kb = withUnsafeBytes(of: k.littleEndian) { Array($0) }
        return (k, try? map.lookup(key: kb, valueBytes: SharedValue.size))
    }
}
