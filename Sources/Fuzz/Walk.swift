// The walk oracle: a whole get_next_key walk with a lookup of every key visits each key once and misses none.
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    func walk(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        if let e = fdError(c) {
            if r.walkEnd != e { ck.fail("errno", "walk ended with \(Self.en(r.walkEnd)), want \(Self.en(e))") }
            return
        }
        let m = maps[c.map]!, s = m.shape
        if !m.canRead { if r.walkEnd != EPERM { ck.fail("errno", "walk of a write-only map ended with \(Self.en(r.walkEnd)), want EPERM") }; return }
        if s.isQueueLike { if r.walkEnd != EINVAL { ck.fail("errno", "walk ended with \(Self.en(r.walkEnd)), want EINVAL") }; return }
        if let e = Self.keylessWalkErrno(s) {
            if r.walkEnd != e { ck.fail("errno", "walk ended with \(Self.en(r.walkEnd)), want \(Self.en(e))") }
            return
        }
        if s.isOuter, outerWalk(&ck, r, m) { return }
        if s.isSockMap || s.isFDArray { sockWalk(&ck, r, m); return }
        if s.isDevCPUArray { devcpuWalk(&ck, r, m); return }
        if s.isArray {
            if s.maxEntries > Layout.walkCap { return }
            let zero = m.zero
            if r.walkEnd != ENOENT || r.walk.count != s.maxEntries {
                ck.fail("walk", "array walk gave \(r.walk.count) keys ending \(Self.en(r.walkEnd)), want \(s.maxEntries) then ENOENT"); return
            }
            for (i, e) in r.walk.enumerated() {
                if e.key != Layout.intBytes(UInt64(i), 4) { ck.fail("walk", "walk step \(i) gave key \(Self.hex(e.key))"); return }
                if e.value.map({ Bytes($0) }) != (m.arr[i] ?? zero) && s.valueLen <= Layout.bufferCap { ck.fail("value", "index \(i) holds \(e.value.map { Self.hex($0) } ?? "ENOENT"), want \(Self.hex(m.arr[i] ?? zero))"); return }
            }
            return
        }
        // A walk the executor cut at its cap proves nothing about the keys past the cut.
        if r.walkEnd == 0 && r.walk.count >= Layout.walkCap + 2 { return }
        if r.walkEnd != ENOENT { ck.fail("walk", "walk ended with \(Self.en(r.walkEnd)) after \(r.walk.count) keys") }
        var seen = Set<Bytes>()
        for e in r.walk {
            let ek = Bytes(e.key)
            let id = s.isLPM ? m.lpmIdentity(ek) : ek
            if !seen.insert(id).inserted { ck.fail("walk", "get_next_key returned \(Self.hex(e.key)) twice"); return }
            guard let want = m.known[id] ?? m.maybe[id] else { ck.fail("walk", "get_next_key returned \(Self.hex(e.key)), which the map does not hold"); continue }
            if s.isLPM, let k = m.lpmKey[id], k != ek { ck.fail("walk", "LPM key \(Self.hex(e.key)) was written as \(Self.hex(k))") }
            if e.value.map({ Bytes($0) }) != want && s.valueLen <= Layout.bufferCap { ck.fail("value", "key \(Self.hex(e.key)) holds \(e.value.map { Self.hex($0) } ?? "ENOENT"), want \(Self.hex(want))") }
            if let v = m.maybe.removeValue(forKey: id) { m.known[id] = v }
        }
        let missing = Set(m.known.keys).subtracting(seen)
        if !missing.isEmpty { ck.fail("walk", "get_next_key walk missed \(missing.count) key(s), e.g. \(Self.hex(missing.first!))") }
        // Maybe keys the walk did not see are gone.
        for k in Array(m.maybe.keys) where !seen.contains(k) { m.maybe[k] = nil; m.lpmKey[k] = nil }
        if seen.count > s.maxEntries { ck.fail("count", "walk saw \(seen.count) keys, max_entries \(s.maxEntries)") }
        if s.isLPM && missing.isEmpty { lpmWalkOrder(&ck, r, m) }
    }
}
