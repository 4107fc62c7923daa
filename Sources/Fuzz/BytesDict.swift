// BytesDict: the shadow model's key -> value table, open addressing over plain words.
/// The shadow model's key -> value table (MapModel.known / maybe): what [Bytes: Bytes] did,
/// with entries whose key and value are both inline (<= 16 bytes: every entry of the common
/// maps) kept in an open-addressing table of plain words. A Dictionary<Bytes, Bytes> probe
/// copied and destroyed Bytes (retain/release of their heap array, nil or not) through its
/// generic find; here a probe compares three words. Entries with a longer key or value live in
/// `big`. Invariant: a key is in at most one of the two; `slots` is empty or a power of two
/// with at least one free slot (load <= 3/4). Value semantics (both parts copy on write):
/// batch simulation saves and restores a table.
struct BytesDict: Sequence, ExpressibleByDictionaryLiteral {
    struct Slot {
        var klo: UInt64 = 0, khi: UInt64 = 0
        /// Key length; -1: free slot.
        var kn: Int = -1
        var vlo: UInt64 = 0, vhi: UInt64 = 0
        var vn: Int = 0
    }

    private var slots: [Slot] = []
    private var used = 0
    private var big: [Bytes: Bytes] = [:]

    init() {}
    init(dictionaryLiteral elements: (Bytes, Bytes)...) { for (k, v) in elements { self[k] = v } }

    var count: Int { used + big.count }
    var isEmpty: Bool { used == 0 && big.isEmpty }

    @inline(__always)
    static func hash(_ lo: UInt64, _ hi: UInt64, _ n: Int) -> Int {
        var z = lo ^ (UInt64(truncatingIfNeeded: n) << 56)
        z = (z ^ (z >> 32)) &* 0xD6E8_FEB8_6659_FD93
        z ^= hi &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return Int(truncatingIfNeeded: z ^ (z >> 32))
    }

    /// The slot holding inline key `k`, or the free slot ending its probe run (slots non-empty).
    @inline(__always)
    private func find(_ k: Bytes) -> (index: Int, found: Bool) {
        let mask = slots.count - 1
        var i = Self.hash(k.lo, k.hi, k.n) & mask
        while true {
            let s = slots[i]
            if s.kn < 0 { return (i, false) }
            if s.kn == k.n && s.klo == k.lo && s.khi == k.hi { return (i, true) }
            i = (i + 1) & mask
        }
    }

    @inline(__always)
    private static func isInline(_ b: Bytes) -> Bool { b.count <= Bytes.inlineMax }

    subscript(k: Bytes) -> Bytes? {
        @inline(__always) get {
            if Self.isInline(k) && used != 0 {
                let (i, f) = find(k)
                if f { let s = slots[i]; return Bytes(inlineLo: s.vlo, hi: s.vhi, count: s.vn) }
            }
            return big.isEmpty ? nil : big[k]
        }
        @inline(__always) set {
            if let v = newValue { setValue(v, forKey: k) } else { removeValue(forKey: k) }
        }
    }

    @inline(__always)
    func contains(_ k: Bytes) -> Bool {
        if Self.isInline(k) && used != 0 && find(k).found { return true }
        return !big.isEmpty && big.index(forKey: k).isSome
    }

    @inline(__always)
    mutating func setValue(_ v: Bytes, forKey k: Bytes) {
        guard Self.isInline(k) && Self.isInline(v) else {
            if Self.isInline(k) && used != 0 { removeSmall(k) }
            big[k] = v
            return
        }
        if !big.isEmpty { big[k] = nil }
        if (used + 1) * 4 > slots.count * 3 { grow() }
        let (i, f) = find(k)
        slots[i] = Slot(klo: k.lo, khi: k.hi, kn: k.n, vlo: v.lo, vhi: v.hi, vn: v.n)
        if !f { used += 1 }
    }

    @discardableResult
    @inline(__always)
    mutating func removeValue(forKey k: Bytes) -> Bytes? {
        if Self.isInline(k) && used != 0, let v = removeSmall(k) { return v }
        return big.isEmpty ? nil : big.removeValue(forKey: k)
    }

    @discardableResult
    private mutating func removeSmall(_ k: Bytes) -> Bytes? {
        let (i0, f) = find(k)
        guard f else { return nil }
        let v = Bytes(inlineLo: slots[i0].vlo, hi: slots[i0].vhi, count: slots[i0].vn)
        // Backward-shift deletion (linear probing): later entries of the run whose home slot
        // is not in (hole, j] move into the hole, so every probe run stays unbroken.
        let mask = slots.count - 1
        var hole = i0, j = i0
        while true {
            j = (j + 1) & mask
            let s = slots[j]
            if s.kn < 0 { break }
            let home = Self.hash(s.klo, s.khi, s.kn) & mask
            let stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j)
            if stays { continue }
            slots[hole] = s
            hole = j
        }
        slots[hole] = Slot()
        used -= 1
        return v
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(), count: Swift.max(16, old.count * 2))
        let mask = slots.count - 1
        for s in old where s.kn >= 0 {
            var i = Self.hash(s.klo, s.khi, s.kn) & mask
            while slots[i].kn >= 0 { i = (i + 1) & mask }
            slots[i] = s
        }
    }

    var keys: [Bytes] { map(\.key) }

    struct Iterator: IteratorProtocol {
        let slots: [Slot]
        var i = 0
        var rest: Dictionary<Bytes, Bytes>.Iterator
        mutating func next() -> (key: Bytes, value: Bytes)? {
            while i < slots.count {
                let s = slots[i]
                i += 1
                if s.kn >= 0 {
                    return (Bytes(inlineLo: s.klo, hi: s.khi, count: s.kn), Bytes(inlineLo: s.vlo, hi: s.vhi, count: s.vn))
                }
            }
            return rest.next()
        }
    }

    func makeIterator() -> Iterator { Iterator(slots: slots, rest: big.makeIterator()) }
}
