// The LPM trie parts of the oracle: key identity and longest-prefix match, updates, and the batch lookup.
import BPFKit
import Foundation
import Glibc

extension MapModel {

    var maxPrefix: Int { 8 * (shape.keySize - 4) }
    static func plen(_ k: [UInt8]) -> Int { Int(UInt32(k[0]) | UInt32(k[1]) << 8 | UInt32(k[2]) << 16 | UInt32(k[3]) << 24) }
    static func plen(_ k: Bytes) -> Int { Int(UInt32(k[0]) | UInt32(k[1]) << 8 | UInt32(k[2]) << 16 | UInt32(k[3]) << 24) }
    func lpmIdentity(_ k: Bytes) -> Bytes { Bytes(lpmIdentity(k.array)) }
    /// prefixlen + data masked to prefixlen bits.
    func lpmIdentity(_ k: [UInt8]) -> [UInt8] {
        let p = MapModel.plen(k)
        var out = Array(k.prefix(4))
        for i in 0..<(shape.keySize - 4) {
            let bits = max(0, min(8, p - 8 * i))
            let mask: UInt8 = bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            out.append(k[4 + i] & mask)
        }
        return out
    }
    /// Longest stored prefix (prefixlen <= key's) matching the key's data.
    func lpmMatch(_ k0: Bytes) -> Bytes? {
        let k = k0.array
        let p = MapModel.plen(k)
        var best: Bytes? = nil, bestLen = -1
        for id in Set(known.keys).union(maybe.keys) {
            let q = MapModel.plen(id)
            guard q <= p, q > bestLen else { continue }
            var probe = Array(k.prefix(4))
            probe.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(q).littleEndian, as: UInt32.self) }
            probe += k[4...]
            if Bytes(lpmIdentity(probe)) == id { best = id; bestLen = q }
        }
        return best
    }
}

extension MapModel {
    /// Bit i (most significant first, as the trie's extract_bit) of an identity's data.
    static func lpmBit(_ id: [UInt8], _ i: Int) -> Bool { id[4 + i / 8] & (0x80 >> UInt8(i % 8)) != 0 }

    /// Post-order of the trie, as get_next_key walks it: a prefix's longer prefixes before it,
    /// and of two prefixes that branch apart, the one with a 0 at the first differing bit first.
    static func lpmPostOrderPrecedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        let (pa, pb) = (plen(a), plen(b))
        for i in 0..<min(pa, pb) where lpmBit(a, i) != lpmBit(b, i) { return !lpmBit(a, i) }
        return pa > pb
    }
}

extension ShadowModel {
    /// An LPM walk returns the stored prefixes in exactly the trie's post-order.
    func lpmWalkOrder(_ ck: inout Check, _ r: CallResult, _ m: MapModel) {
        let got = r.walk.map { m.lpmIdentity($0.key) }
        let want = got.sorted(by: MapModel.lpmPostOrderPrecedes)
        if got != want, let i = got.indices.first(where: { got[$0] != want[$0] }) {
            ck.fail("walk", "LPM get_next_key order is not post-order: step \(i + 1) gave \(Self.hex(r.walk[i].key)), post-order has \(Self.hex(want[i]))")
        }
    }

    /// An LPM update: prefixlen past the key's data bits is EINVAL; keys are identified by
    /// prefixlen and the masked data; a full trie is ENOSPC.
    func lpmUpdate(_ ck: inout Check, _ m: MapModel, _ key: Bytes, _ value: Bytes, _ flags: UInt64, got: Int32) {
        if flags > BPFUpdateFlags.exist || MapModel.plen(key) > m.maxPrefix { expect(&ck, [EINVAL], got, "flags=\(flags) prefixlen \(MapModel.plen(key))"); return }
        let id = m.lpmIdentity(key)
        lpmOrHashUpdate(&ck, m, id, key, value, flags, got: got, fullErrno: ENOSPC)
    }

    /// The generic batch lookup on an LPM trie: get_next_key order (not modelled), exact content.
    func lookupBatchLPM(_ ck: inout Check, _ c: Call, _ r: CallResult, _ m: MapModel, token: [UInt8]?, fit: Int) {
        let s = m.shape
        if case .value = c.inBatch { expect(&ck, [EFAULT], r.errno, "4-byte in_batch, key_size \(s.keySize)"); return }
        let fromStart = c.inBatch == .null || (c.inBatch == .last && token == nil)
        let n = m.known.count
        var allowed: ErrSet
        if fromStart {
            let want = min(Int(c.count), n)
            allowed = want > fit ? [EFAULT] : [Int(c.count) > n ? ENOENT : 0]
        } else {
            allowed = [0, ENOENT]
            if fit < Int(c.count) { allowed.insert(EFAULT) }
        }
        guard expect(&ck, allowed, r.errno, "LPM batch count \(c.count) of \(n) entries, buffers fit \(fit), from \(fromStart ? "start" : "token")") else { return }
        if r.errno == EFAULT { return }
        if r.errno == 0 && r.count != c.count { ck.fail("batch", "success with count \(r.count) of \(c.count)") }
        if r.errno == ENOENT && r.count >= c.count { ck.fail("batch", "ENOENT with a full batch (\(r.count))") }
        var seen = Set<Bytes>()
        for i in 0..<Int(min(r.count, c.count)) where (i + 1) * s.keySize <= r.keysOut.count {
            let k = Bytes(r.keysOut[(i * s.keySize)..<((i + 1) * s.keySize)])
            let v = Bytes(r.valuesOut[(i * s.valueLen)..<min(r.valuesOut.count, (i + 1) * s.valueLen)])
            let id = m.lpmIdentity(k)
            if !seen.insert(id).inserted { ck.fail("batch", "key \(Self.hex(k)) returned twice") }
            guard let want = m.known[id] else { ck.fail("batch", "batch returned key \(Self.hex(k)) that the trie does not hold"); continue }
            if v != want { ck.fail("value", "batch value of \(Self.hex(k)) is \(Self.hex(v)), want \(Self.hex(want))") }
        }
        if fromStart && r.errno == ENOENT && seen.count != n {
            ck.fail("batch", "batch walk from the start returned \(seen.count) of \(n) keys")
        }
        if r.count > 0 && (Int(r.count) * s.keySize <= r.keysOut.count) {
            let last = Array(r.keysOut[((Int(r.count) - 1) * s.keySize)..<(Int(r.count) * s.keySize)])
            if r.token != last { ck.fail("batch", "out_batch \(Self.hex(r.token)) is not the last key \(Self.hex(last))") }
        }
    }
}
