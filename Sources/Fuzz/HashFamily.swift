// The hash-family parts of the oracle (hash, per-CPU, LRU): updates with NOEXIST/EXIST and fullness, lookups of maybe-present keys, and the batch lookup with its EFAULT rules.
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    func lpmOrHashUpdate(_ ck: inout Check, _ m: MapModel, _ id: Bytes, _ key: Bytes, _ value: Bytes, _ flags: UInt64,
                         got: Int32, fullErrno: Int32) {
        let present = m.known.contains(id), unsure = !m.maybe.isEmpty && m.maybe.contains(id)
        var allowed = ErrSet()
        let full = !m.shape.isLRU && m.countLow >= m.shape.maxEntries
        let mayBeFull = !m.shape.isLRU && m.countHigh >= m.shape.maxEntries
        func outcomes(exists: Bool) -> ErrSet {
            if flags == BPFUpdateFlags.noExist && exists { return [EEXIST] }
            if flags == BPFUpdateFlags.exist && !exists { return [ENOENT] }
            if !exists && (full || mayBeFull) { return full ? [fullErrno] : [fullErrno, 0] }
            return [0]
        }
        if present || unsure { allowed.formUnion(outcomes(exists: true)) }
        if !present { allowed.formUnion(outcomes(exists: false)) }
        guard expect(&ck, allowed, got, "key \(Self.hex(key)) \(present ? "present" : unsure ? "maybe present" : "absent"), flags=\(flags), entries \(m.countLow)/\(m.shape.maxEntries)") else {
            return
        }
        switch got {
        case 0:
            if unsure { m.maybe[id] = nil }
            m.known[id] = value
            if m.shape.isLPM { m.lpmKey[id] = key }
            m.mutated()
        case EEXIST:
            if unsure, let v = m.maybe.removeValue(forKey: id) { m.known[id] = v }
        case ENOENT:
            if unsure { m.maybe[id] = nil }
        default: break
        }
    }

    /// The hash-family part of lookup: what the general path does with Candidates, for its
    /// two shapes ([value], or [value, nothing] for a maybe key, or [nothing]) without them.
    func lookupHash(_ ck: inout Check, _ r: CallResult, _ m: MapModel, _ key: Bytes, _ outLength: Int, _ outOK: Bool) {
        let s = m.shape
        // The value the lookup may find (nil: none), and whether it may find nothing.
        var found = m.known[key]
        let mayMiss = !found.isSome
        if mayMiss && !m.maybe.isEmpty { found = m.maybe[key] }
        var allowed = ErrSet()
        if found.isSome { allowed.insert(outOK ? 0 : EFAULT) }
        if mayMiss { allowed.insert(ENOENT) }
        guard expect(&ck, allowed, r.errno, "key \(Self.hex(key)), out buffer \(outLength) of \(s.valueLen) bytes") else { return }
        if r.errno == 0 {
            let got = r.outBytes.prefixBytes(s.valueLen)
            if found.map({ $0 != got }) ?? true {
                ck.fail("value", "key \(Self.hex(key)) returned \(Self.hex(got)), model has \((found.map { [$0] } ?? []).map { Self.hex($0) })")
            }
            if r.outBytes.count > s.valueLen && r.outBytes[s.valueLen...].contains(where: { $0 != GuardArena.poison }) {
                ck.fail("value", "kernel wrote past value_size \(s.valueLen) into a \(r.outBytes.count)-byte buffer")
            }
            if !m.maybe.isEmpty, let v = m.maybe.removeValue(forKey: key) { m.known[key] = v }
        } else if r.errno == ENOENT {
            if !m.maybe.isEmpty { m.maybe[key] = nil }
        }
    }

    /// The hash-family batch lookup: order unknown (buckets in hash order), content exact.
    func lookupBatchHash(_ ck: inout Check, _ c: Call, _ r: CallResult, _ m: MapModel, token: UInt32?, fit: Int, del: Bool) {
        let s = m.shape
        // Hash family: order unknown, content exact.
        if let t = token {
            let buckets = s.maxEntries <= 1 ? 1 : 1 << (64 - UInt64(s.maxEntries - 1).leadingZeroBitCount)
            if Int(t) >= buckets { expect(&ck, [ENOENT], r.errno, "in_batch \(t) >= \(buckets) buckets"); return }
        }
        // The kernel copies whole buckets, each only while it fits in `count`, and faults
        // (EFAULT) only when the entries it copies overflow the buffers: the walk must be able
        // to reach more than `fit` entries, and `count` must leave room for them.
        let reachable = hashBatchReachable(m, continuing: c.inBatch == .last)
        var allowed: ErrSet = [0, ENOENT, ENOSPC]
        if fit < Int(c.count) && min(Int(c.count), reachable) > fit { allowed.insert(EFAULT) }
        guard expect(&ck, allowed, r.errno, "hash batch count \(c.count), buffers fit \(fit), at most \(reachable) entries to return") else { return }
        if r.errno == EFAULT { hashBatchFault(&ck, c, r, m, del: del); return }
        if r.count > c.count || Int(r.count) > fit { ck.fail("batch", "count \(r.count) exceeds capacity \(min(Int(c.count), fit))"); return }
        if r.errno == ENOSPC && r.count != 0 { ck.fail("batch", "ENOSPC with count \(r.count)") }
        if r.errno == 0 && r.count == 0 { ck.fail("batch", "success with no entries (count \(c.count))") }
        if case .value = c.inBatch { m.walkSeen = nil; m.walkStart = nil }
        if c.inBatch == .null || m.walkSeen == nil {
            m.walkSeen = c.inBatch == .null ? [] : nil
            m.walkStart = c.inBatch == .null ? (Set(m.known.keys), Set(m.maybe.keys)) : nil
        }
        var seenHere = Set<Bytes>()
        for i in 0..<Int(r.count) {
            let k = Bytes(r.keysOut[(i * s.keySize)..<((i + 1) * s.keySize)])
            let v = Bytes(r.valuesOut[(i * s.valueLen)..<((i + 1) * s.valueLen)])
            if !seenHere.insert(k).inserted || m.walkSeen?.contains(k) == true {
                ck.fail("batch", "key \(Self.hex(k)) returned twice in one batch walk")
            }
            m.walkSeen?.insert(k)
            guard let want = m.known[k] ?? m.maybe[k] else {
                ck.fail("batch", "batch returned key \(Self.hex(k)) that the map does not hold"); continue
            }
            if v != want { ck.fail("value", "batch value of key \(Self.hex(k)) is \(Self.hex(v)), want \(Self.hex(want))") }
            if del {
                m.known[k] = nil; m.maybe[k] = nil
            } else if let mv = m.maybe.removeValue(forKey: k) { m.known[k] = mv }
        }
        if r.errno == ENOENT, let seen = m.walkSeen, let start = m.walkStart {
            // Only keys the model still knows: an LRU eviction since the walk began (even by an
            // update that failed, as the kernel pops a free node before it checks the flags)
            // moved the others to maybe.
            let missing = start.known.subtracting(seen).filter { m.known[$0].isSome }
            if !missing.isEmpty { ck.fail("batch", "batch walk ended without \(missing.count) key(s), e.g. \(Self.hex(missing.first!))") }
            if del { for k in start.maybe.subtracting(seen) { m.maybe[k] = nil } }
            m.walkSeen = nil; m.walkStart = nil
        }
    }

    /// Upper bound on the entries a hash batch lookup can still return: every entry, or for a
    /// walk continued from the previous out_batch, those it has not returned yet.
    func hashBatchReachable(_ m: MapModel, continuing: Bool) -> Int {
        guard continuing, let seen = m.walkSeen, !seen.isEmpty else { return m.countHigh }
        var n = 0
        for (k, _) in m.known where !seen.contains(k) { n += 1 }
        for (k, _) in m.maybe where !seen.contains(k) { n += 1 }
        return n
    }

    /// What an EFAULT from a hash batch lookup leaves: the kernel zeroed count before the walk
    /// and writes neither count nor out_batch after a failed copy; every whole key slot it wrote
    /// (before the fault) is a key of the map, once; with delete those keys are gone and the
    /// rest of what it copied may be gone too.
    func hashBatchFault(_ ck: inout Check, _ c: Call, _ r: CallResult, _ m: MapModel, del: Bool) {
        let s = m.shape
        if r.count != 0 { ck.fail("batch", "EFAULT with count \(r.count) written back (the kernel zeroes it first and never writes it after a fault)") }
        if r.token.contains(where: { $0 != GuardArena.poison }) { ck.fail("batch", "EFAULT, yet out_batch was written (\(Self.hex(r.token)))") }
        var written: [Bytes] = []
        var seen = Set<Bytes>()
        // The executor reads the whole keys buffer after an EFAULT (count says nothing then).
        let slots = s.keySize > 0 ? r.keysOut.count / s.keySize : 0
        let used = (0..<slots).filter { i in r.keysOut[(i * s.keySize)..<((i + 1) * s.keySize)].contains { $0 != GuardArena.poison } }
        for i in used {
            let k = Bytes(Array(r.keysOut[(i * s.keySize)..<((i + 1) * s.keySize)]))
            if !seen.insert(k).inserted { ck.fail("batch", "key \(Self.hex(k)) written twice before the fault"); continue }
            let held = m.known[k].isSome || m.maybe[k].isSome
            // The copy that faulted may stop inside its last key: only that slot may be partial.
            if !held && i != used.last { ck.fail("batch", "EFAULT after writing key \(Self.hex(k)), which the map does not hold") }
            if held { written.append(k) }
        }
        guard del else { return }
        for k in written { m.known[k] = nil; m.maybe[k] = nil }
        m.blur()
        m.mutated()
    }
}
