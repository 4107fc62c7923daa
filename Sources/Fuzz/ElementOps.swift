// The element-op oracles (update, lookup, delete, next_key, lookup_and_delete): the checks every map type shares, then each family's part.
import Basics
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    // MARK: element ops

    /// Errno (or nil) of the common prefix of update: fd, write permission, F_LOCK, key and value copies.
    func update(_ ck: inout Check, _ c: ElemCall, _ r: CallResult) {
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return }
        withModel(c.map) { update(&ck, c, r, on: $0) }
    }

    /// The rest of update, on the slot's model.
    func update(_ ck: inout Check, _ c: ElemCall, _ r: CallResult, on m: MapModel) {
        let s = m.shape
        // The fd arrays remember which slot's fd added an entry (its release removes it).
        if s.isFDArray { fd.slot = c.map }
        if let e = devmapRefusal(m) { expect(&ck, [e], r.errno, "devmap update outside the private netns (executor)"); return }
        if !m.canWrite { expect(&ck, [EPERM], r.errno, m.frozen ? "frozen map" : "read-only map"); return }
        if c.flags & BPFUpdateFlags.lock != 0 && !s.hasSpinLock { expect(&ck, [EINVAL], r.errno, "BPF_F_LOCK without a bpf_spin_lock"); return }
        let (keyError, key) = Self.resolveKey(c, s)
        if let e = keyError { expect(&ck, [e], r.errno, "key buffer \(c.key) for key_size \(s.keySize)"); return }
        let vb = Self.resolveValue(c, s)
        if !vb.ok {
            expect(&ck, [EFAULT], r.errno, "value buffer of \(vb.length) bytes, value needs \(s.valueLen)"); return
        }
        elemUpdate(&ck, m, key, vb.value, c.flags, got: r.errno)
    }

    /// The map-type part of an update; applies it to the model as the kernel answered.
    func elemUpdate(_ ck: inout Check, _ m: MapModel, _ key: Bytes, _ value0: Bytes, _ flags0: UInt64, got: Int32) {
        let s = m.shape
        // BTF values: the kernel owns the special fields (never copied in), and BPF_F_LOCK
        // only takes the value's lock.
        let value = s.btf == 0 ? value0 : s.masked(value0)
        let flags = s.hasSpinLock ? flags0 & ~BPFUpdateFlags.lock : flags0
        func ctx() -> String { "flags=\(flags)" }
        if s.isHashFamily {
            if flags > BPFUpdateFlags.exist { expect(&ck, [EINVAL], got, ctx()); return }
            m.allowEviction()
            lpmOrHashUpdate(&ck, m, key, key, value, flags, got: got, fullErrno: E2BIG)
            return
        }
        elemUpdateOther(&ck, m, key, value, flags, got: got)
    }

    /// elemUpdate for the map types outside the hash family (out of line: the hash path stays small).
    @inline(never)
    func elemUpdateOther(_ ck: inout Check, _ m: MapModel, _ key: Bytes, _ value: Bytes, _ flags: UInt64, got: Int32) {
        switch m.shape.type {
        case .array, .percpuArray: arrayUpdate(&ck, m, key, value, flags, got: got)
        case .queue, .stack: queueUpdate(&ck, m, value, flags, got: got)
        case .lpmTrie: lpmUpdate(&ck, m, key, value, flags, got: got)
        case .bloomFilter: bloomPush(&ck, m, value, flags, got: got)
        case .ringbuf, .userRingbuf: expect(&ck, [ENOTSUPP], got, "ring buffers have no element commands")
        case .arrayOfMaps, .hashOfMaps: outerUpdate(&ck, m, key, fdRef(value), flags, got: got)
        case .sockmap, .sockhash, .reuseportSockarray, .xskmap: sockUpdate(&ck, m, key, value, flags, got: got)
        case .progArray, .perfEventArray, .cgroupArray: fdArrayUpdate(&ck, m, slot: fd.slot, key, value, flags, got: got)
        case .skStorage, .inodeStorage, .taskStorage, .cgrpStorage, .cgroupStorage, .percpuCgroupStorage: storageUpdate(&ck, m, key, value, flags, got: got)
        case .devmap, .devmapHash, .cpumap: devcpuUpdate(&ck, m, key, value, flags, got: got)
        case .stackTrace, .arena: stackArenaUpdate(&ck, m, got: got)
        default:
            if flags > BPFUpdateFlags.exist { expect(&ck, [EINVAL], got, "flags=\(flags)"); return }
            m.allowEviction()
            lpmOrHashUpdate(&ck, m, key, key, value, flags, got: got, fullErrno: E2BIG)
        }
    }

    func lookup(_ ck: inout Check, _ c: ElemCall, _ r: CallResult) {
        if c.flags & ~BPFUpdateFlags.lock != 0 { expect(&ck, [EINVAL], r.errno, "lookup flags \(c.flags)"); return }
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return }
        withModel(c.map) { lookup(&ck, c, r, on: $0) }
    }

    /// The rest of lookup, on the slot's model.
    func lookup(_ ck: inout Check, _ c: ElemCall, _ r: CallResult, on m: MapModel) {
        let s = m.shape
        if !m.canRead { expect(&ck, [EPERM], r.errno, "write-only map"); return }
        if c.flags != 0 && !(s.hasSpinLock && c.flags == BPFUpdateFlags.lock) { expect(&ck, [EINVAL], r.errno, "BPF_F_LOCK without a bpf_spin_lock"); return }
        let (keyError, key) = Self.resolveKey(c, s)
        if let e = keyError { expect(&ck, [e], r.errno, "key buffer \(c.key)"); return }
        let ob = Self.outputBuf(c, need: s.valueLen)
        let outOK = ob.length >= s.valueLen && ob.isPointer
        // The hash family first: nearly every lookup the fuzzer makes (and all of bench fuzz's).
        if s.isHashFamily { lookupHash(&ck, r, m, key, ob.length, outOK); return }
        if s.isBloom || s.isRingbuf { keylessLookup(&ck, c, r, m); return }
        if s.isOuter { outerLookup(&ck, c, r, m, key); return }
        if s.isSockMap { sockLookup(&ck, c, r, m, key); return }
        if s.isFDArray { fdArrayLookup(&ck, c, r, m, key); return }
        if s.type.rawValue == 7 || s.type.rawValue == 33 { stackArenaLookup(&ck, r, m); return }  // stack_trace, arena
        if s.isDevCPUArray { devcpuLookup(&ck, r, m, key, outLen: ob.length, outOK: outOK); return }
        if s.isLocalStorage || s.isCgroupStorage { storageLookup(&ck, r, m, key, outLength: ob.length, outOK: outOK); return }
        // What the lookup finds: a value, nothing, or (maybe keys) either.
        var candidates = Candidates()
        var id = key
        switch s.type {
        case _ where s.isHashFamily:
            if let v = m.known[key] {
                candidates.append(v)
            } else if !m.maybe.isEmpty, let v = m.maybe[key] {
                candidates.append(v); candidates.append(nil)
            } else { candidates.append(nil) }
        case .array, .percpuArray:
            let idx = Int(key.u32)
            candidates.append(idx < s.maxEntries ? (m.arr[idx] ?? m.zero) : nil)
        case .queue, .stack:
            candidates.append(s.type == .queue ? m.deque.first : m.deque.last)
        case .lpmTrie:
            if MapModel.plen(key) > m.maxPrefix { candidates.append(nil) } else {
                if let best = m.lpmMatch(key) {
                    id = best
                    if let v = m.known[best] { candidates.append(v) } else { candidates.append(m.maybe[best]); candidates.append(nil) }
                } else { candidates.append(nil) }
            }
        default:
            if let v = m.known[key] {
                candidates.append(v)
            } else if let v = m.maybe[key] {
                candidates.append(v); candidates.append(nil)
            } else { candidates.append(nil) }
        }
        if s.isLPM && candidates.count > 1 { candidates.append(nil) }
        var allowed = ErrSet()
        for i in 0..<candidates.count { allowed.insert(candidates[i] == nil ? ENOENT : (outOK ? 0 : EFAULT)) }
        guard expect(&ck, allowed, r.errno, "key \(Self.hex(key)), out buffer \(ob.length) of \(s.valueLen) bytes") else { return }
        if r.errno == 0 {
            let got = r.outBytes.prefixBytes(s.valueLen)
            if !candidates.contains(got) {
                ck.fail("value", "key \(Self.hex(key)) returned \(Self.hex(got)), model has \(candidates.values.map { Self.hex($0) })")
            }
            if r.outBytes.count > s.valueLen && r.outBytes[s.valueLen...].contains(where: { $0 != GuardArena.poison }) {
                ck.fail("value", "kernel wrote past value_size \(s.valueLen) into a \(r.outBytes.count)-byte buffer")
            }
            if !s.isLPM, !m.maybe.isEmpty, let v = m.maybe.removeValue(forKey: id) { m.known[id] = v }
        } else if r.errno == ENOENT, s.isHashFamily {
            if !m.maybe.isEmpty { m.maybe[id] = nil }
        }
    }

    func delete(_ ck: inout Check, _ c: ElemCall, _ r: CallResult) {
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return }
        withModel(c.map) { delete(&ck, c, r, on: $0) }
    }

    /// The rest of delete, on the slot's model.
    func delete(_ ck: inout Check, _ c: ElemCall, _ r: CallResult, on m: MapModel) {
        let s = m.shape
        if !m.canWrite { expect(&ck, [EPERM], r.errno, m.frozen ? "frozen map" : "read-only map"); return }
        let (keyError, key) = Self.resolveKey(c, s)
        if let e = keyError { expect(&ck, [e], r.errno, "key buffer \(c.key)"); return }
        if s.isHashFamily { elemDelete(&ck, m, key, got: r.errno); return }
        if s.isLocalStorage || s.isCgroupStorage { storageDelete(&ck, m, key, got: r.errno); return }
        switch s.type {
        case .array, .percpuArray, .queue, .stack:
            expect(&ck, [EINVAL], r.errno, "\(ProgramText.typeName(s.type)) has no delete")
        case .bloomFilter: expect(&ck, [EOPNOTSUPP], r.errno, "a bloom filter has no delete")
        case .ringbuf, .userRingbuf: expect(&ck, [ENOTSUPP], r.errno, "ring buffers have no element commands")
        case .arrayOfMaps, .hashOfMaps: outerDelete(&ck, m, key, got: r.errno)
        case .sockmap, .sockhash, .reuseportSockarray, .xskmap: sockDelete(&ck, m, key, got: r.errno)
        case .progArray, .perfEventArray, .cgroupArray: fdArrayDelete(&ck, m, key, got: r.errno)
        case .devmap, .devmapHash, .cpumap, .stackTrace, .arena: devcpuDelete(&ck, m, key, got: r.errno)
        default:
            var id = key
            if s.isLPM {
                if MapModel.plen(key) > m.maxPrefix { expect(&ck, [EINVAL], r.errno, "prefixlen > max"); return }
                id = m.lpmIdentity(key)
            }
            elemDelete(&ck, m, id, got: r.errno)
        }
    }

    func elemDelete(_ ck: inout Check, _ m: MapModel, _ id: Bytes, got: Int32) {
        let present = m.known.contains(id)
        let allowed: ErrSet = present ? [0] : !m.maybe.isEmpty && m.maybe.contains(id) ? [0, ENOENT] : [ENOENT]
        guard expect(&ck, allowed, got, "delete key \(Self.hex(id))") else { return }
        if present { m.known[id] = nil }
        if !m.maybe.isEmpty { m.maybe[id] = nil }
        if !m.lpmKey.isEmpty { m.lpmKey[id] = nil }
        if got == 0 { m.mutated() }
    }

    func nextKey(_ ck: inout Check, _ c: ElemCall, _ r: CallResult) {
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return }
        let m = maps[c.map]!, s = m.shape
        if !m.canRead { expect(&ck, [EPERM], r.errno, "write-only map"); return }
        let kb = Layout.key(c.k == .auto ? .null : c.key, s)
        if kb != .null, let e = Self.keyCopyError(kb, s.keySize) { expect(&ck, [e], r.errno, "key buffer \(c.key)"); return }
        if s.isQueueLike { expect(&ck, [EINVAL], r.errno, "queue/stack have no keys"); return }
        if let e = Self.keylessWalkErrno(s) { expect(&ck, [e], r.errno, "\(ProgramText.typeName(s.type)) has no keys"); return }
        let ob = Self.outputBuf(c, need: s.keySize)
        let outOK = ob.length >= s.keySize && ob.isPointer
        let key: Bytes? = kb == .null ? nil : Self.bytes(kb, s.keySize)
        let okErr: Int32 = outOK ? 0 : EFAULT
        if s.isArray || s.type == .arrayOfMaps || s.isFDArrayLike || s.isDevCPUArray {
            let idx = key.map { Int($0.u32) } ?? Int(UInt32.max)
            let next: Int? = idx >= s.maxEntries ? 0 : (idx == s.maxEntries - 1 ? nil : idx + 1)
            guard expect(&ck, [next == nil ? ENOENT : okErr], r.errno, "array next after \(key.map { Self.hex($0) } ?? "NULL")") else { return }
            if r.errno == 0, let n = next, r.outBytes.prefixBytes(4) != Layout.intBytes(UInt64(n), 4) {
                ck.fail("walk", "next key after \(idx) is \(Self.hex(r.out)), want \(n)")
            }
            return
        }
        let all = Set(m.known.keys).union(m.maybe.keys)
        let ids: Bytes? = key.map { s.isLPM ? m.lpmIdentity($0) : $0 }
        let present = ids.map { m.known[$0].isSome || m.maybe[$0].isSome } ?? false
        var allowed = ErrSet()
        if m.known.isEmpty || present { allowed.insert(ENOENT) }
        let onlyItself = all.count == 1 && present && m.known[ids!].isSome
        if !all.isEmpty && !onlyItself { allowed.insert(okErr) }
        guard expect(&ck, allowed, r.errno, "next_key after \(key.map { Self.hex($0) } ?? "NULL") with \(all.count) entries") else { return }
        if r.errno == 0 {
            let got = r.outBytes.prefixBytes(s.keySize)
            let gid = s.isLPM ? m.lpmIdentity(got) : got
            if !all.contains(gid) { ck.fail("walk", "next_key returned \(Self.hex(got)), not a key of the map") }
            if let ids, gid == ids { ck.fail("walk", "next_key returned the key it was given") }
        }
    }

    func lookupAndDelete(_ ck: inout Check, _ c: ElemCall, _ r: CallResult) {
        if c.flags & ~BPFUpdateFlags.lock != 0 { expect(&ck, [EINVAL], r.errno, "flags \(c.flags)"); return }
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return }
        let m = maps[c.map]!, s = m.shape
        if !m.canRead || !m.canWrite { expect(&ck, [EPERM], r.errno, "needs read and write access"); return }
        if c.flags != 0 && !s.hasSpinLock { expect(&ck, [EINVAL], r.errno, "flags on \(s.isQueueLike ? "queue/stack" : "map without spin lock")"); return }
        let kb = Layout.key(c.key, s)
        if let e = Self.keyCopyError(kb, s.keySize) { expect(&ck, [e], r.errno, "key buffer \(c.key)"); return }
        let ob = Self.outputBuf(c, need: s.valueLen)
        let outOK = ob.length >= s.valueLen && ob.isPointer
        let okErr: Int32 = outOK ? 0 : EFAULT
        if s.isQueueLike {
            let v = s.type == .queue ? m.deque.first : m.deque.last
            guard expect(&ck, [v == nil ? ENOENT : okErr], r.errno, "pop from \(m.deque.count) values") else { return }
            if v != nil {
                if r.errno == 0 && r.outBytes.prefixBytes(s.valueLen) != v! {
                    ck.fail("value", "pop returned \(Self.hex(r.out)), want \(Self.hex(v!))")
                }
                if s.type == .queue { m.deque.removeFirst() } else { m.deque.removeLast() }
            }
            return
        }
        if s.type == .stackTrace { stackLookupAndDelete(&ck, r); return }
        if !s.isHashFamily { expect(&ck, [ENOTSUPP], r.errno, "\(ProgramText.typeName(s.type)) has no lookup_and_delete"); return }
        let key = Self.bytes(kb, s.keySize)
        let allowed: ErrSet = m.known[key].isSome ? [okErr] : m.maybe[key].isSome ? [okErr, ENOENT] : [ENOENT]
        guard expect(&ck, allowed, r.errno, "key \(Self.hex(key))") else { return }
        if r.errno == 0, let want = m.known[key] ?? m.maybe[key], r.outBytes.prefixBytes(s.valueLen) != want {
            ck.fail("value", "lookup_and_delete returned \(Self.hex(r.out)), want \(Self.hex(want))")
        }
        // EFAULT comes after the delete: the element is gone either way.
        if m.known.removeValue(forKey: key) != nil || m.maybe.removeValue(forKey: key) != nil { m.mutated() }
    }
}
