// The race oracle: what holds under any interleaving of two threads on one map, then a quiescent census against the model's possible states.
import Basics
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    /// Checks a race. Thread A's calls go through the model in order: B's walks, batches and
    /// mmaps change nothing, so A's answers are exact; B's freeze or close lands at some
    /// unknown call of A, after which A sees only EPERM or EINVAL (never a success again); B's
    /// batch deletes make A's answers loose ({0, E2BIG} for updates, {0, ENOENT} for deletes) but
    /// leave the final state exact (A's values are unique per call). Everything B returns must
    /// be a key A or the map had, each at most once per batch call, every byte of a value from
    /// a value written for that key. Then the census walk must match the model.
    func race(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        guard c.fd == .map else { expect(&ck, [raceNotModelled], r.errno, "race through fd \(c.fd.rawValue) (executor's answer)"); return }
        guard let m = maps[c.map] else { expect(&ck, [EBADF], r.errno, "no map in the slot"); return }
        let s = m.shape
        guard RaceOps.supported(c, s) else { expect(&ck, [raceNotModelled], r.errno, "race on \(ProgramText.typeName(s.type)) (executor's answer)"); return }
        guard expect(&ck, [0], r.errno, "race") else { return }
        guard let rec = RaceRecord(decoding: r) else { ck.fail("race", "the race record does not decode"); return }
        let kind = RaceOps.kind(c), seq = RaceOps.sequence(c, s)
        guard rec.aErrno.count == seq.count else { ck.fail("race", "thread A made \(rec.aErrno.count) calls, want \(seq.count)"); return }
        let cands = raceCandidates(m, seq)
        checkB(&ck, kind, m, rec, cands)
        // After a finding the model's state is no longer the kernel's: the census would only repeat it.
        guard ck.findings.isEmpty else { return }
        let landed = rec.bErrno.contains(0) && (kind == 3 || kind == 5)
        if kind == 2 { raceDeleteBatch(&ck, m, seq, rec) } else { raceSequential(&ck, c, m, seq, rec, landed: landed) }
        if kind == 3 && landed { m.frozen = true }
        m.mutated()
        guard ck.findings.isEmpty else { return }
        var census = CallResult()
        census.walk = r.walk
        census.walkEnd = r.walkEnd
        walk(&ck, Call(.walk, map: c.map), census)
    }

    /// Per key (as bytes): every value it may hold during the race. On preallocated hash maps a
    /// deleted element goes back to the free list at once and another key's update may reuse
    /// it while a lookup copies it, so there a value's bytes may come from any key's values.
    func raceCandidates(_ m: MapModel, _ seq: [(del: Bool, key: UInt64, seed: UInt32)]) -> [Bytes: [[UInt8]]] {
        let s = m.shape
        var c: [Bytes: [[UInt8]]] = [:]
        if s.isArray {
            for i in 0..<s.maxEntries { c[Bytes(Layout.intBytes(UInt64(i), 4)), default: []].append((m.arr[i] ?? m.zero).array) }
        } else {
            for (k, v) in m.known { c[k, default: []].append(v.array) }
            for (k, v) in m.maybe { c[k, default: []].append(v.array) }
        }
        // A BTF value's kernel-owned bytes (lock, timer, kptr) are never copied in: they read 0.
        for a in seq where !a.del { c[Bytes(Layout.intBytes(a.key, s.keySize)), default: []].append(s.masked(Bytes(Layout.pattern(a.seed, s.valueLen))).array) }
        for a in seq where c[Bytes(Layout.intBytes(a.key, s.keySize))] == nil { c[Bytes(Layout.intBytes(a.key, s.keySize))] = [] }
        if s.isHashFamily && s.flags & BPFMapFlags.noPrealloc == 0 {
            let all = c.values.flatMap { $0 }
            for k in c.keys { c[k] = all }
        }
        return c
    }

    /// Every byte of `v` is that byte of some candidate.
    static func bytesFromSome(_ v: [UInt8], _ cands: [[UInt8]]) -> Bool {
        for p in v.indices where !cands.contains(where: { p < $0.count && $0[p] == v[p] }) { return false }
        return true
    }

    /// Thread B's answers and entries.
    func checkB(_ ck: inout Check, _ kind: Int, _ m: MapModel, _ rec: RaceRecord, _ cands: [Bytes: [[UInt8]]]) {
        let s = m.shape
        var allowed: ErrSet
        switch kind {
        case 0: allowed = m.canRead ? [0, ENOENT] : [EPERM]  // 0: the walk hit its step bound
        case 1: allowed = m.canRead ? [0, ENOENT] : [EPERM]
        case 2: allowed = m.canRead && m.canWrite ? [0, ENOENT] : [EPERM]
        case 3:
            if let e = facts.freezeErrno(btf: s.btf) { allowed = [e] } else {
                allowed = m.frozen ? [facts.refreezeErrno] : m.rdonly ? [facts.readOnlyFreezeErrno] : m.writeMappings > 0 ? [EBUSY] : [0, EBUSY]
            }
            // Freeze is retried only while a write is in flight (EBUSY).
            if rec.bErrno.dropLast().contains(where: { $0 != EBUSY }) { ck.fail("race", "thread B retried freeze after \(rec.bErrno.map(Self.en))") }
        // bpf_map_mmap refuses a value with kernel-owned fields (a BTF record) after the access checks.
        case 4: allowed = m.wronly ? [EACCES] : s.btf & ~BTFValue.plain != 0 ? [ENOTSUPP] : m.rdonly ? [EINVAL] : [0]
        default: allowed = [0]
        }
        // A hash bucket can hold more entries than one batch call takes only with more keys than that.
        if (kind == 1 || kind == 2) && s.isHashFamily && cands.count > RaceOps.batchCount { allowed.insert(ENOSPC) }
        for (i, e) in rec.bErrno.enumerated() where !allowed.contains(e) {
            ck.fail("race", "thread B call \(i + 1) (\(RaceOps.kinds[kind])): got \(Self.en(e)), want \(Self.set(allowed))"); return
        }
        var seen = Set<[UInt8]>(), call = -1
        for e in rec.entries {
            if e.call != call { seen = []; call = e.call }
            guard let cs = cands[Bytes(e.key)] else { ck.fail("race", "thread B (\(RaceOps.kinds[kind])) returned key \(Self.hex(e.key)), which no thread wrote and the map did not hold"); return }
            if (kind == 1 || kind == 2) && !seen.insert(e.key).inserted { ck.fail("race", "key \(Self.hex(e.key)) twice in one batch call of thread B"); return }
            let lookupOK: ErrSet = s.isArray ? [0] : [0, ENOENT]
            if !lookupOK.contains(e.errno) { ck.fail("race", "thread B's lookup of key \(Self.hex(e.key)) during a walk: \(Self.en(e.errno))"); return }
            if e.errno == 0 && !Self.bytesFromSome(e.value, cs) {
                ck.fail("race", "thread B saw key \(Self.hex(e.key)) with \(Self.hex(e.value)), bytes no thread wrote for it"); return
            }
        }
    }

    /// A's calls in order through the model; a freeze or close of B that landed turns them
    /// into EPERM or EINVAL from the first call that shows it on.
    func raceSequential(_ ck: inout Check, _ c: Call, _ m: MapModel, _ seq: [(del: Bool, key: UInt64, seed: UInt32)], _ rec: RaceRecord, landed: Bool) {
        var closedFrom: Int?
        for (j, a) in seq.enumerated() {
            let got = rec.aErrno[j]
            if closedFrom != nil {
                if got != EINVAL { ck.fail("race", "thread A call \(j + 1): \(Self.en(got)) after call \(closedFrom! + 1) saw the fd replaced by /dev/null (EINVAL)"); return }
                continue
            }
            var sub = raceStep(c, m, a, got)
            if !sub.findings.isEmpty && landed {
                if RaceOps.kind(c) == 5 && got == EINVAL { closedFrom = j; continue }
                if RaceOps.kind(c) == 3 && got == EPERM && !m.frozen { m.frozen = true; sub = raceStep(c, m, a, got) }
            }
            for f in sub.findings { ck.fail(f.kind, "thread A call \(j + 1) (\(a.del ? "delete" : "update") #\(a.key)): \(f.message)"); return }
        }
    }

    /// One call of A through the model's own update or delete.
    func raceStep(_ c: Call, _ m: MapModel, _ a: (del: Bool, key: UInt64, seed: UInt32), _ got: Int32) -> Check {
        var call = Call(a.del ? .delete : .update, map: c.map)
        call.key = .int(a.key)
        if !a.del { call.value = .pattern(a.seed, len: nil) }
        var r = CallResult(); r.errno = got
        var sub = Check(index: 0, op: call.op)
        withUnsafePointer(to: call) { p in
            if a.del { delete(&sub, ElemCall(p), r, on: m) } else { update(&sub, ElemCall(p), r, on: m) }
        }
        return sub
    }

    /// Batch deletes by B: A's answers from sets; the final state per key from A's last
    /// successful call on it, gone when B returned exactly that value, and the map's own entry
    /// gone when B returned it. A's values are unique within one race, but an earlier call may
    /// have left the same value: when the key held it before, or A wrote it twice, B may have
    /// taken the other copy, and the key may be present or not.
    func raceDeleteBatch(_ ck: inout Check, _ m: MapModel, _ seq: [(del: Bool, key: UInt64, seed: UInt32)], _ rec: RaceRecord) {
        let s = m.shape
        let full = Set(m.known.keys).union(Set(m.maybe.keys)).union(Set(seq.map { Bytes(Layout.intBytes($0.key, s.keySize)) })).count >= s.maxEntries
        var last: [Bytes: Bytes?] = [:]
        for (j, a) in seq.enumerated() {
            let got = rec.aErrno[j]
            // ENOMEM: an insert into a NO_PREALLOC map may hit a memory limit under load.
            let allowed: ErrSet = !m.canWrite ? [EPERM] : a.del ? [0, ENOENT] : full ? [0, E2BIG, ENOMEM] : [0, ENOMEM]
            if !allowed.contains(got) { ck.fail("race", "thread A call \(j + 1) (\(a.del ? "delete" : "update") #\(a.key)): got \(Self.en(got)), want \(Self.set(allowed))"); return }
            let k = Bytes(Layout.intBytes(a.key, s.keySize))
            if a.del && (got == 0 || got == ENOENT) { last[k] = .some(nil) } else if !a.del && got == 0 { last[k] = .some(s.masked(Bytes(Layout.pattern(a.seed, s.valueLen)))) }
        }
        let taken = Set(rec.entries.map { Bytes($0.key + $0.value) })
        if rec.bErrno.contains(ENOSPC) { m.blur() }
        for (k, v) in last {
            let before = m.known[k] ?? m.maybe[k]
            m.known[k] = nil; m.maybe[k] = nil
            guard let v = v else { continue }
            if !taken.contains(Bytes(k.array + v.array)) { m.known[k] = v; continue }
            let writes = seq.filter { !$0.del && Bytes(Layout.intBytes($0.key, s.keySize)) == k && s.masked(Bytes(Layout.pattern($0.seed, s.valueLen))) == v }.count
            if writes > 1 || before == v { m.maybe[k] = v }
        }
        for (k, v) in m.known where last[k] == nil && taken.contains(Bytes(k.array + v.array)) { m.known[k] = nil }
        for (k, v) in m.maybe where last[k] == nil && taken.contains(Bytes(k.array + v.array)) { m.maybe[k] = nil }
    }
}
