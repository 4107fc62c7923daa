// Bytes: the inline (<= 16 bytes) key and value type of the model and call results.
import Basics

/// Key and value bytes of the shadow model and of call results. Up to 16 bytes (every key
/// and value of the common maps) live inline, so building, copying, comparing and hashing
/// one costs no allocation and no reference counting; longer ones are kept in an array.
/// Invariant: inline bytes past `count` are zero, and `heap` is set exactly when count > 16.
struct Bytes: Hashable, RandomAccessCollection, ExpressibleByArrayLiteral, CustomStringConvertible {
    static let inlineMax = 16
    private(set) var lo: UInt64 = 0
    private(set) var hi: UInt64 = 0
    private(set) var n: Int = 0
    private(set) var heap: [UInt8]? = nil

    @inline(__always) init() {}

    /// Inline bytes from their words (BytesDict): count <= 16, bytes past count zero.
    @inline(__always) init(inlineLo: UInt64, hi: UInt64, count: Int) { lo = inlineLo; self.hi = hi; n = count }

    init(_ a: [UInt8]) {
        if a.count > Bytes.inlineMax { n = a.count; heap = a; return }
        self = a.withUnsafeBytes { Bytes(copying: $0) }
    }

    init<C: Collection>(_ a: C) where C.Element == UInt8 {
        if let arr = a as? [UInt8] { self.init(arr); return }
        var b = Bytes()
        if a.count > Bytes.inlineMax {
            b.n = a.count; b.heap = Array(a)
        } else {
            for x in a { b.setInline(b.n, x); b.n += 1 }
        }
        self = b
    }

    init(arrayLiteral elements: UInt8...) { self.init(elements) }

    /// `count` bytes read from memory.
    @inline(__always)
    init(copying p: UnsafeRawBufferPointer) {
        let c = p.count
        if c > Bytes.inlineMax { n = c; heap = Array(p); return }
        n = c
        guard let base = p.baseAddress else { return }
        if c == 8 { lo = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self)); return }
        if c == 4 { lo = UInt64(UInt32(littleEndian: base.loadUnaligned(as: UInt32.self))); return }
        for i in 0..<c { setInline(i, base.load(fromByteOffset: i, as: UInt8.self)) }
    }

    /// `v` little-endian in `count` bytes, zero beyond 8 bytes (Layout.intBytes).
    @inline(__always)
    init(int v: UInt64, count c: Int) {
        if c > Bytes.inlineMax { n = c; heap = Layout.intBytes(v, c); return }
        n = c
        lo = c >= 8 ? v : v & ((1 << UInt64(c * 8)) - 1)
    }

    /// The deterministic value bytes of seed `s` (Layout.pattern).
    @inline(__always)
    init(pattern s: UInt32, count c: Int) {
        if c > Bytes.inlineMax { n = c; heap = Layout.pattern(s, c); return }
        n = c
        var g = PatternStream(seed: s)
        if c > 0 { let w = g.next(); lo = c >= 8 ? w : w & ((1 << UInt64(c * 8)) - 1) }
        if c > 8 { let w = g.next(); hi = c >= 16 ? w : w & ((1 << UInt64((c - 8) * 8)) - 1) }
    }

    /// self = b, without the release of self's (nil) array when neither holds one: the
    /// executor overwrites one reused result per call.
    @inline(__always)
    mutating func assign(_ b: Bytes) {
        if heap.isSome || b.heap.isSome { self = b; return }
        lo = b.lo; hi = b.hi; n = b.n
    }

    @inline(__always) private mutating func setInline(_ i: Int, _ b: UInt8) {
        if i < 8 { lo |= UInt64(b) << UInt64(8 * i) } else { hi |= UInt64(b) << UInt64(8 * (i - 8)) }
    }

    var startIndex: Int { 0 }
    var endIndex: Int { n }
    var count: Int { n }
    var isEmpty: Bool { n == 0 }

    @inline(__always)
    subscript(i: Int) -> UInt8 {
        precondition(i >= 0 && i < n, "Bytes index out of range")
        if let h = heap { return h[i] }
        return i < 8 ? UInt8(truncatingIfNeeded: lo >> UInt64(8 * i)) : UInt8(truncatingIfNeeded: hi >> UInt64(8 * (i - 8)))
    }

    /// The bytes as an array (messages, public results).
    var array: [UInt8] {
        if let h = heap { return h }
        return (0..<n).map { self[$0] }
    }

    /// The first `k` bytes (all of them when k >= count).
    @inline(__always)
    func prefixBytes(_ k: Int) -> Bytes {
        if k >= n { return self }
        if let h = heap { return Bytes(Array(h.prefix(k))) }
        var b = Bytes()
        b.n = Swift.max(0, k)
        b.lo = k >= 8 ? lo : (k <= 0 ? 0 : lo & ((1 << UInt64(k * 8)) - 1))
        b.hi = k >= 16 ? hi : (k <= 8 ? 0 : hi & ((1 << UInt64((k - 8) * 8)) - 1))
        return b
    }

    /// The first 4 bytes as a little-endian u32 (0 for missing bytes).
    var u32: UInt32 {
        if let h = heap { return UInt32(h[0]) | UInt32(h[1]) << 8 | UInt32(h[2]) << 16 | UInt32(h[3]) << 24 }
        return UInt32(truncatingIfNeeded: lo)
    }

    @inline(__always)
    static func == (a: Bytes, b: Bytes) -> Bool {
        guard a.n == b.n else { return false }
        if a.n > inlineMax { return a.heap! == b.heap! }
        return a.lo == b.lo && a.hi == b.hi
    }

    static func == (a: Bytes, b: [UInt8]) -> Bool { a == Bytes(b) }
    static func != (a: Bytes, b: [UInt8]) -> Bool { !(a == Bytes(b)) }

    func hash(into h: inout Hasher) {
        h.combine(n)
        if let x = heap { h.combine(x) } else { h.combine(lo); h.combine(hi) }
    }

    var description: String { ShadowModel.hex(self) }
}

/// The SplitMix64 words behind Layout.pattern.
struct PatternStream {
    var x: UInt64
    @inline(__always) init(seed s: UInt32) { x = UInt64(s) &* 0x9E37_79B9_7F4A_7C15 ^ 0xD1B5_4A32_D192_ED03 }
    @inline(__always) mutating func next() -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A set of errnos (0...126 and ENOTSUPP) as a bit mask: the model builds one or two per
/// call, and a Set<Int32> would allocate each time.
struct ErrSet: ExpressibleByArrayLiteral, Equatable, Sequence {
    private(set) var a: UInt64 = 0
    private(set) var b: UInt64 = 0

    @inline(__always) init() {}
    @inline(__always) init(arrayLiteral xs: Int32...) { for x in xs { insert(x) } }
    init(_ s: Set<Int32>) { for x in s { insert(x) } }

    @inline(__always)
    mutating func insert(_ e: Int32) {
        switch e {
        case 0..<64: a |= 1 << UInt64(e)
        case 64..<127: b |= 1 << UInt64(e - 64)
        case ENOTSUPP: b |= 1 << 63
        default: preconditionFailure("ErrSet cannot hold errno \(e)")
        }
    }

    @inline(__always)
    func contains(_ e: Int32) -> Bool {
        switch e {
        case 0..<64: return a & (1 << UInt64(e)) != 0
        case 64..<127: return b & (1 << UInt64(e - 64)) != 0
        case ENOTSUPP: return b & (1 << 63) != 0
        default: return false
        }
    }

    @inline(__always) mutating func formUnion(_ o: ErrSet) { a |= o.a; b |= o.b }
    var count: Int { a.nonzeroBitCount + b.nonzeroBitCount }
    var isEmpty: Bool { a == 0 && b == 0 }
    /// The smallest errno in the set.
    var first: Int32? { makeIterator().next() }

    func makeIterator() -> AnyIterator<Int32> {
        var i: Int32 = 0
        let s = self
        return AnyIterator {
            while i < 128 {
                let e: Int32 = i < 64 ? i : (i == 127 ? ENOTSUPP : i)
                i += 1
                if s.contains(e) { return e }
            }
            return nil
        }
    }

    func sorted() -> [Int32] { Array(self) }
}
