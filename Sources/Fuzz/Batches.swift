// The batch oracles: the checks every batch op shares, the lookup dispatch per family, and update/delete batches simulated element by element.
import Basics
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    func batchPrefix(_ ck: inout Check, _ c: Call, _ r: CallResult, read: Bool, write: Bool) -> MapModel? {
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return nil }
        let m = maps[c.map]!
        if (read && !m.canRead) || (write && !m.canWrite) { expect(&ck, [EPERM], r.errno, "access (frozen \(m.frozen))"); return nil }
        let s = m.shape
        let has: Bool
        switch c.op {
        case .lookupBatch, .updateBatch: has = s.isHashFamily || s.isArray || s.isLPM || s.isOuter
        case .deleteBatch: has = s.isHashFamily || s.isLPM || s.type == .hashOfMaps
        default: has = s.isHashFamily || s.type == .hashOfMaps
        }
        if !has { expect(&ck, [ENOTSUPP], r.errno, "\(ProgramText.typeName(s.type)) has no \(c.op.rawValue)"); return nil }
        if c.elemFlags != 0 && !(s.hasSpinLock && c.elemFlags == BPFUpdateFlags.lock) { expect(&ck, [EINVAL], r.errno, "elem_flags \(c.elemFlags)"); return nil }
        return m
    }

    func lookupBatch(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        let del = c.op == .lookupAndDeleteBatch
        // Mirrors the executor: in=last passes the out_batch of the previous such call.
        defer { if c.fd == .map, r.errno == 0 || r.errno == ENOENT || r.errno == ENOSPC { lastToken[c.map] = r.token } }
        guard let m = batchPrefix(&ck, c, r, read: true, write: del) else { return }
        let s = m.shape
        if (s.isHashFamily || s.type == .hashOfMaps) && c.flags != 0 { expect(&ck, [EINVAL], r.errno, "batch flags \(c.flags)"); return }
        if c.count == 0 {
            expect(&ck, [0], r.errno, "count 0")
            if r.count != 0 { ck.fail("batch", "count 0 came back as \(r.count)") }
            return
        }
        let kOut = Layout.batchKeysOut(c, s), vOut = Layout.batchValuesOut(c, s)
        if c.inBatch == .unmapped { expect(&ck, [EFAULT], r.errno, "in_batch unmapped"); return }
        // The cursor the executor passed: a literal, the previous out_batch, or NULL.
        var token: UInt32? = nil
        switch c.inBatch {
        case let .value(t): token = t
        case .last: token = lastToken[c.map].map { UInt32($0[0]) | UInt32($0[1]) << 8 | UInt32($0[2]) << 16 | UInt32($0[3]) << 24 }
        default: break
        }
        let kFit = kOut.length / max(1, s.keySize), vFit = vOut.length / max(1, s.valueLen)
        let fit = (kOut == .null || kOut == .unmapped || vOut == .null || vOut == .unmapped) ? 0 : min(kFit, vFit)

        if s.isOuter { outerLookupBatch(&ck, c, r, m, token: token, fit: fit, del: del); return }
        if s.isArray { lookupBatchArray(&ck, c, r, m, token: token, fit: fit); return }
        if s.isLPM {
            lookupBatchLPM(&ck, c, r, m, token: c.inBatch == .last ? lastToken[c.map] : nil, fit: fit)
            return
        }
        lookupBatchHash(&ck, c, r, m, token: token, fit: fit, del: del)
    }

    func writeBatch(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        let upd = c.op == .updateBatch
        guard let m = batchPrefix(&ck, c, r, read: false, write: true) else { return }
        let s = m.shape
        if c.count == 0 {
            expect(&ck, [0], r.errno, "count 0")
            return
        }
        if s.isOuter { outerWriteBatch(&ck, c, r, m); return }
        let kIn = Layout.batchKeysIn(c, s), vIn = upd ? Layout.batchValuesIn(c, s) : .input([])
        let kFit = kIn.isPointer && kIn != .unmapped ? kIn.length / s.keySize : 0
        let vFit = upd ? (vIn.isPointer && vIn != .unmapped ? vIn.length / max(1, s.valueLen) : 0) : Int.max
        // Simulate element by element, as generic_map_{update,delete}_batch do.
        let saved = (m.known, m.maybe, m.arr, m.lpmKey)
        var i = 0
        var err: Int32 = 0
        var ambiguous = false
        while i < Int(c.count) {
            if i >= kFit || i >= vFit { err = EFAULT; break }
            let key = Bytes(int: Layout.batchKey(c, i), count: s.keySize)
            if upd {
                var sub = Check(index: ck.index, op: ck.op)
                let allowedFor = predictUpdate(m, key)
                if allowedFor.count > 1 { ambiguous = true }
                let e = allowedFor.contains(0) ? Int32(0) : allowedFor.first!
                elemUpdate(&sub, m, key, Bytes(Layout.batchValue(c, i, s)), 0, got: e)
                if e != 0 { err = e; break }
            } else {
                var id = key
                if s.isLPM {
                    if MapModel.plen(key) > m.maxPrefix { err = EINVAL; break }
                    id = m.lpmIdentity(key)
                }
                if !m.known[id].isSome && !m.maybe[id].isSome { err = ENOENT; break }
                if m.maybe[id].isSome { ambiguous = true }
                m.known[id] = nil; m.maybe[id] = nil; m.lpmKey[id] = nil
                m.mutated()
            }
            i += 1
        }
        if (upd || injectedNow) && r.errno == ENOMEM && err != ENOMEM {
            // A memory limit (or the fault fail_nth injected) stopped the batch: the first
            // `count` entries were processed.
            note(ENOMEM)
            ambiguous = true
        }
        if ambiguous {
            // An LRU eviction or an unsure key on the way: replay what the kernel reports it did.
            var allowed: ErrSet = [0, err]
            if upd { allowed.formUnion([E2BIG, ENOSPC, ENOMEM]) } else { allowed.insert(ENOENT) }
            expect(&ck, allowed, r.errno, "\(c.op.rawValue) of \(c.count) with unsure entries")
            (m.known, m.maybe, m.arr, m.lpmKey) = saved
            m.blur()
            if r.count > c.count { ck.fail("batch", "count \(r.count) > \(c.count)"); return }
            if r.errno == EFAULT {
                // generic_map_{update,delete}_batch report in count the elements they processed
                // before the fault, and those changes stay: they may now be present (or gone).
                for j in 0..<Int(r.count) {
                    let key = Bytes(int: Layout.batchKey(c, j), count: s.keySize)
                    let id = s.isLPM ? m.lpmIdentity(key) : key
                    if upd {
                        m.known[id] = nil; m.maybe[id] = s.masked(Bytes(Layout.batchValue(c, j, s)))
                    } else if let v = m.known.removeValue(forKey: id) {
                        m.maybe[id] = v
                    }
                }
                m.mutated()
                return
            }
            for j in 0..<Int(r.count) {
                let key = Bytes(int: Layout.batchKey(c, j), count: s.keySize)
                let id = s.isLPM ? m.lpmIdentity(key) : key
                if upd { m.maybe[id] = nil; m.known[id] = s.masked(Bytes(Layout.batchValue(c, j, s))) } else { m.maybe[id] = nil; m.known[id] = nil }
            }
            if !upd && r.errno == ENOENT && Int(r.count) < Int(c.count) {
                let key = Bytes(int: Layout.batchKey(c, Int(r.count)), count: s.keySize)
                let id = s.isLPM ? m.lpmIdentity(key) : key
                if m.known[id].isSome { ck.fail("batch", "delete_batch stopped with ENOENT at key \(Self.hex(key)), which the map holds") }
                m.maybe[id] = nil
            }
            m.mutated()
            return
        }
        guard expect(&ck, [err], r.errno, "\(c.op.rawValue) of \(c.count), keys fit \(kFit), values fit \(vFit == Int.max ? -1 : vFit)") else { return }
        if err != EFAULT && Int(r.count) != i { ck.fail("batch", "count \(r.count), want \(i) processed") }
    }

    /// The errnos an ANY update of `key` can give (batch elements).
    func predictUpdate(_ m: MapModel, _ key: Bytes) -> ErrSet {
        let s = m.shape
        if s.isArray {
            let idx = Int(key.u32)
            return idx >= s.maxEntries ? [E2BIG] : [0]
        }
        if s.isLPM {
            if MapModel.plen(key) > m.maxPrefix { return [EINVAL] }
            let id = m.lpmIdentity(key)
            return m.known[id].isSome ? [0] : (m.known.count >= s.maxEntries ? [ENOSPC] : [0])
        }
        if s.isLRU { return m.countHigh >= m.lruCapacity && !m.known[key].isSome ? [0] : [0] }
        if m.known[key].isSome { return [0] }
        if m.countLow >= s.maxEntries { return m.maybe[key].isSome ? [0, E2BIG] : [E2BIG] }
        if m.countHigh >= s.maxEntries { return [0, E2BIG] }
        return [0]
    }
}
