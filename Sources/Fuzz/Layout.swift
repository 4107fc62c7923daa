// Map shapes and buffer layout: what each Buf argument resolves to, shared by executor and model.
import Basics
import BPFKit
import Foundation

/// The parameters of a map that exists, as the kernel reports them (BPF_OBJ_GET_INFO_BY_FD).
public struct MapShape: Hashable, Sendable {
    public var type: BPFMapType
    // id and btf sit in the padding after type and flags: the shape stays 48 bytes (it is
    // copied on every call).
    /// The map's id (map info), 0 when it could not be read: map-in-map lookups return it.
    public var id: UInt32
    public var keySize: Int
    public var valueSize: Int
    public var maxEntries: Int
    public var flags: UInt32
    /// The BTF value's kernel-owned fields (BTFValue bits), as the create asked for them.
    public var btf: UInt8
    public var cpus: Int

    public init(type: BPFMapType, keySize: Int, valueSize: Int, maxEntries: Int, flags: UInt32, cpus: Int, id: UInt32 = 0, btf: UInt8 = 0) {
        self.type = type; self.keySize = keySize; self.valueSize = valueSize
        self.maxEntries = maxEntries; self.flags = flags; self.cpus = cpus; self.id = id; self.btf = btf
    }

    // Raw type numbers (BPF_MAP_TYPE_*): these run on every call, a switch on raw values
    // compiles to a compare where the BPFMapType statics are calls into BPFKit.
    /// Bytes of one value in user buffers: per-CPU maps carry round_up(value_size, 8) per possible CPU.
    public var valueLen: Int {
        switch type.rawValue {
        case 5, 6, 10, 21: return ((valueSize + 7) & ~7) * cpus  // percpu_hash, percpu_array, lru_percpu_hash, percpu_cgroup_storage
        default: return valueSize
        }
    }
    /// hash, percpu_hash, lru_hash, lru_percpu_hash.
    public var isHashFamily: Bool {
        switch type.rawValue {
        case 1, 5, 9, 10: return true
        default: return false
        }
    }
    /// array, percpu_array.
    public var isArray: Bool { type.rawValue == 2 || type.rawValue == 6 }
    /// lru_hash, lru_percpu_hash.
    public var isLRU: Bool { type.rawValue == 9 || type.rawValue == 10 }
    /// queue, stack.
    public var isQueueLike: Bool { type.rawValue == 22 || type.rawValue == 23 }
    /// lpm_trie.
    public var isLPM: Bool { type.rawValue == 11 }
    /// bloom_filter: values pushed and peeked, no keys.
    public var isBloom: Bool { type.rawValue == 30 }
    /// ringbuf, user_ringbuf: no element commands at all (ENOTSUPP).
    public var isRingbuf: Bool { type.rawValue == 27 || type.rawValue == 31 }
    /// array_of_maps, hash_of_maps: values are inner map fds in, ids out.
    public var isOuter: Bool { type.rawValue == 12 || type.rawValue == 13 }
}

/// What a Buf argument turns into for a given map: the bytes the executor places against
/// the guard page (or a NULL / unmapped pointer). Model and executor share this, so they
/// always agree on buffer lengths.
public enum ResolvedBuf: Equatable {
    case null
    case unmapped
    /// Input bytes (the kernel reads them).
    case input([UInt8])
    /// An output buffer of this many bytes (the kernel writes them).
    case output(Int)

    /// Usable length (0 for NULL/unmapped).
    public var length: Int {
        switch self {
        case .null, .unmapped: return 0
        case let .input(b): return b.count
        case let .output(n): return n
        }
    }
    var isPointer: Bool { self != .null }
}

public enum Layout {
    /// Most keys one `walk` visits (and the model checks): a walk of a 1M-entry array would
    /// keep a fuzz thread busy for seconds, past its stop request.
    public static let walkCap = 1 << 12

    /// Largest buffer the executor places in one guarded slot; larger requests are cut to it
    /// (so a huge count reaches the guard page, which is the point).
    public static let bufferCap = 256 * 1024

    /// Deterministic value bytes for seed `s`.
    public static func pattern(_ s: UInt32, _ n: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: n) { buf, done in
            if n > 0 { writePattern(s, n, into: UnsafeMutableRawPointer(buf.baseAddress!)) }
            done = n
        }
    }

    /// Writes pattern(s, n) to memory (the executor fills guarded buffers in place).
    @inline(__always)
    static func writePattern(_ s: UInt32, _ n: Int, into p: UnsafeMutableRawPointer) {
        var g = PatternStream(seed: s)
        var i = 0
        while i + 8 <= n { p.storeBytes(of: g.next().littleEndian, toByteOffset: i, as: UInt64.self); i += 8 }
        if i < n {
            let z = g.next()
            for b in 0..<(n - i) { p.storeBytes(of: UInt8(truncatingIfNeeded: z >> (8 * UInt64(b))), toByteOffset: i + b, as: UInt8.self) }
        }
    }

    /// Writes intBytes(v, n) to memory.
    @inline(__always)
    static func writeInt(_ v: UInt64, _ n: Int, into p: UnsafeMutableRawPointer) {
        if n == 4 { p.storeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian, as: UInt32.self); return }
        if n == 8 { p.storeBytes(of: v.littleEndian, as: UInt64.self); return }
        for i in 0..<n { p.storeBytes(of: i < 8 ? UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) : 0, toByteOffset: i, as: UInt8.self) }
    }

    /// `v` little-endian in `n` bytes (zero beyond 8 bytes).
    public static func intBytes(_ v: UInt64, _ n: Int) -> [UInt8] {
        (0..<n).map { $0 < 8 ? UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) : 0 }
    }

    /// A key argument. auto: keySize bytes of 0 (a NULL pointer for key-less maps).
    public static func key(_ b: Buf, _ s: MapShape) -> ResolvedBuf {
        switch b {
        case .auto: return s.keySize == 0 ? .null : .input(intBytes(0, s.keySize))
        case .null: return .null
        case .unmapped: return .unmapped
        case let .bytes(x): return .input(x)
        case let .int(v): return s.keySize == 0 ? .input(intBytes(v, 4)) : .input(intBytes(v, s.keySize))
        case let .pattern(seed, len): return .input(pattern(seed, min(len ?? s.keySize, bufferCap)))
        case let .len(n): return .input([UInt8](repeating: 0, count: min(n, bufferCap)))
        // Executor and model resolve obj:N to the object's fd first (Pool.swift); unresolved, it
        // is the closed fd.
        case .obj: return key(.int(UInt64(Executor.closedFD)), s)
        }
    }

    /// A value argument the kernel reads (update).
    public static func value(_ b: Buf, _ s: MapShape) -> ResolvedBuf {
        switch b {
        case .auto: return .input(pattern(0, s.valueLen))
        case .null: return .null
        case .unmapped: return .unmapped
        case let .bytes(x): return .input(x)
        case let .int(v): return .input(intBytes(v, s.valueLen))
        case let .pattern(seed, len): return .input(pattern(seed, min(len ?? s.valueLen, bufferCap)))
        case let .len(n): return .input([UInt8](repeating: 0, count: min(n, bufferCap)))
        case .obj: return value(.int(UInt64(Executor.closedFD)), s)
        }
    }

    /// An output buffer of `need` bytes by default.
    public static func output(_ b: Buf, need: Int) -> ResolvedBuf {
        switch b {
        case .auto: return .output(min(need, bufferCap))
        case .null: return .null
        case .unmapped: return .unmapped
        case let .len(n): return .output(min(n, bufferCap))
        case let .bytes(x): return .output(x.count)
        case let .int(v): return .output(Int(min(v, UInt64(bufferCap))))
        case let .pattern(_, len): return .output(min(len ?? need, bufferCap))
        case .obj: return .output(min(need, bufferCap))
        }
    }

    /// The i-th key of a batch (update/delete): keys[i % keys.count], or i when none are given.
    public static func batchKey(_ c: Call, _ i: Int) -> UInt64 { c.keys.isEmpty ? UInt64(i) : c.keys[i % c.keys.count] }

    /// The keys buffer of update_batch / delete_batch: count keys, cut at the cap (or kbuf).
    public static func batchKeysIn(_ c: Call, _ s: MapShape) -> ResolvedBuf {
        let ks = max(s.keySize, 0)
        switch c.keysBuf {
        case .null: return .null
        case .unmapped: return .unmapped
        default: break
        }
        var n = Int(c.count) * ks
        if case let .len(l) = c.keysBuf { n = l }
        n = min(n, bufferCap)
        var out = [UInt8](repeating: 0, count: n)
        if ks > 0 {
            var i = 0
            while i * ks < n {
                let kb = intBytes(batchKey(c, i), ks)
                for j in 0..<ks where i * ks + j < n { out[i * ks + j] = kb[j] }
                i += 1
            }
        }
        return .input(out)
    }

    /// The values buffer of update_batch: value i has seed vals+i.
    public static func batchValuesIn(_ c: Call, _ s: MapShape) -> ResolvedBuf {
        let vl = s.valueLen
        switch c.valuesBuf {
        case .null: return .null
        case .unmapped: return .unmapped
        default: break
        }
        var n = Int(c.count) * vl
        if case let .len(l) = c.valuesBuf { n = l }
        n = min(n, bufferCap)
        var out: [UInt8] = []
        out.reserveCapacity(n)
        var i = 0
        while out.count < n && vl > 0 {
            out += pattern(c.vals &+ UInt32(truncatingIfNeeded: i), vl).prefix(n - out.count)
            i += 1
        }
        return .input(out)
    }

    /// The value update_batch writes for entry i.
    public static func batchValue(_ c: Call, _ i: Int, _ s: MapShape) -> [UInt8] {
        pattern(c.vals &+ UInt32(truncatingIfNeeded: i), s.valueLen)
    }

    /// Output keys / values buffers of the lookup batches.
    public static func batchKeysOut(_ c: Call, _ s: MapShape) -> ResolvedBuf {
        output(c.keysBuf, need: Int(c.count) * s.keySize)
    }
    public static func batchValuesOut(_ c: Call, _ s: MapShape) -> ResolvedBuf {
        output(c.valuesBuf, need: Int(c.count) * s.valueLen)
    }

    /// in_batch: NULL, the previous out_batch, unmapped, or a literal u32.
    public static func inBatch(_ t: Token, last: [UInt8]?) -> ResolvedBuf {
        switch t {
        case .null: return .null
        case .unmapped: return .unmapped
        case .last: return last.map { .input($0) } ?? .null
        case let .value(v): return .input(intBytes(UInt64(v), 4))
        }
    }

    /// Bytes of out_batch we declare: hash maps write a u32 bucket index, the generic batch
    /// code (array, LPM) writes the last key (key_size bytes).
    public static func tokenLen(_ s: MapShape) -> Int { s.isHashFamily || s.type == .hashOfMaps ? 4 : max(s.keySize, 1) }
}
