// The map-in-map oracle for walks and batches (ids out, fds in), and the sweep after a program: every map it made must go away.
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    /// A walk of an outer map; false when the generic walk applies (a hash of maps whose ids
    /// are all known). An array of maps walks every index; its empty ones look up ENOENT.
    func outerWalk(_ ck: inout Check, _ r: CallResult, _ m: MapModel) -> Bool {
        guard let o = m.outer else { note(r.walkEnd); return true }
        let s = m.shape
        if s.type == .hashOfMaps {
            if o.unknownKeys.isEmpty { return false }
            // Keys set from fds the model cannot name: their ids are unknown, the keys are not.
            let keys = Set(r.walk.map { Bytes($0.key) })
            let want = Set(m.known.keys)
            if !want.isSubset(of: keys.union(m.maybe.keys)) || !keys.isSubset(of: want.union(m.maybe.keys)) {
                ck.fail("walk", "hash of maps walk gave \(keys.count) keys, model holds \(want.count)")
            }
            return true
        }
        if s.maxEntries > Layout.walkCap { return true }
        if r.walkEnd != ENOENT || r.walk.count != s.maxEntries {
            ck.fail("walk", "array of maps walk gave \(r.walk.count) keys ending \(Self.en(r.walkEnd)), want \(s.maxEntries) then ENOENT"); return true
        }
        for (i, e) in r.walk.enumerated() {
            let k = Bytes(int: UInt64(i), count: 4)
            if Bytes(e.key) != k { ck.fail("walk", "walk step \(i) gave key \(Self.hex(e.key))"); return true }
            if o.unknownKeys.contains(k) {
                if e.value == nil { ck.fail("value", "index \(i) holds a map, its lookup gave ENOENT") }
                continue
            }
            let want = m.known[k]
            if e.value.map({ Bytes($0) }) != want {
                ck.fail("value", "index \(i) holds \(e.value.map { Self.hex($0) } ?? "ENOENT"), want \(want.map { "id " + Self.hex($0) } ?? "ENOENT")"); return true
            }
        }
        return true
    }

    /// A batch lookup of an outer map. A hash of maps is a hash batch whose values are ids; an
    /// array of maps goes through generic_map_lookup_batch, which skips empty indexes (their
    /// copy is ENOENT) and leaves out_batch at the last index it looked at.
    func outerLookupBatch(_ ck: inout Check, _ c: Call, _ r: CallResult, _ m: MapModel, token: UInt32?, fit: Int, del: Bool) {
        guard let o = m.outer else { note(r.errno); return }
        let s = m.shape
        // Ids set from fds the model cannot name: the values are unknown (counted, not checked).
        if !o.unknownKeys.isEmpty { note(r.errno); m.blur(); return }
        if s.type == .hashOfMaps {
            let before = Set(m.known.keys).union(m.maybe.keys)
            lookupBatchHash(&ck, c, r, m, token: token, fit: fit, del: del)
            for k in before where !m.known[k].isSome && !m.maybe[k].isSome {
                if let inner = o.held.removeValue(forKey: k) { mim.asyncReleased.insert(ObjectIdentifier(inner)) }
            }
            return
        }
        let start = token.map { Int($0) >= s.maxEntries ? 0 : Int($0) + 1 } ?? 0
        var entries: [(index: Int, id: Bytes)] = []
        var idx = start, last = -1
        var want: Int32 = 0
        while entries.count < Int(c.count) {
            if idx >= s.maxEntries { want = ENOENT; break }
            let k = Bytes(int: UInt64(idx), count: 4)
            if let v = m.known[k] {
                if entries.count >= fit { want = EFAULT; break }
                entries.append((idx, v))
            }
            last = idx
            idx += 1
        }
        guard expect(&ck, [want], r.errno, "array of maps batch from \(start), count \(c.count), buffers fit \(fit)") else { return }
        if want == EFAULT { return }
        if Int(r.count) != entries.count { ck.fail("batch", "count \(r.count), want \(entries.count)"); return }
        for (i, e) in entries.enumerated() {
            let k = Bytes(r.keysOut[(i * 4)..<(i * 4 + 4)]), v = Bytes(r.valuesOut[(i * 4)..<(i * 4 + 4)])
            if k != Bytes(int: UInt64(e.index), count: 4) { ck.fail("batch", "entry \(i) has key \(Self.hex(k)), want \(e.index)"); return }
            if v != e.id { ck.fail("value", "batch value of index \(e.index) is \(Self.hex(v)), want id \(Self.hex(e.id))"); return }
        }
        let wantToken = entries.isEmpty ? [UInt8](repeating: GuardArena.poison, count: 4) : Layout.intBytes(UInt64(last), 4)
        if r.token != wantToken { ck.fail("batch", "out_batch is \(Self.hex(r.token)), want \(Self.hex(wantToken))") }
    }

    /// update_batch / delete_batch of an outer map, element by element as
    /// generic_map_{update,delete}_batch do. update_batch values are seeds, whose fd numbers
    /// are above RLIMIT_NOFILE (EBADF) unless small (then any answer: the fd may be open).
    func outerWriteBatch(_ ck: inout Check, _ c: Call, _ r: CallResult, _ m: MapModel) {
        guard let o = m.outer else { note(r.errno); return }
        let s = m.shape, upd = c.op == .updateBatch
        let kIn = Layout.batchKeysIn(c, s), vIn = upd ? Layout.batchValuesIn(c, s) : .input([])
        let kFit = kIn.isPointer && kIn != .unmapped ? kIn.length / s.keySize : 0
        let vFit = upd ? (vIn.isPointer && vIn != .unmapped ? vIn.length / max(1, s.valueLen) : 0) : Int.max
        var i = 0
        var err: Int32 = 0
        var unsure = false
        while i < Int(c.count) {
            if i >= kFit || i >= vFit { err = EFAULT; break }
            let key = Bytes(int: Layout.batchKey(c, i), count: s.keySize)
            if upd {
                if s.type == .arrayOfMaps && Int(key.u32) >= s.maxEntries { err = E2BIG; break }
                if case .errno(let e, _) = fdRef(Bytes(Layout.batchValue(c, i, s))) { err = e } else { unsure = true }
                break
            }
            if m.maybe[key].isSome { unsure = true; break }
            if !m.known[key].isSome { err = ENOENT; break }
            m.known[key] = nil
            o.unknownKeys.remove(key)
            replaceInner(m, key, nil)
            m.mutated()
            i += 1
        }
        if unsure {
            // What the kernel did from here on is not known: take its count as done.
            guard expect(&ck, [0, err, EBADF, EINVAL, E2BIG, ENOENT, EEXIST], r.errno, "\(c.op.rawValue) reaches an entry the model cannot predict") else { return }
            for j in i..<min(Int(r.count), Int(c.count)) {
                let key = Bytes(int: Layout.batchKey(c, j), count: s.keySize)
                if upd { replaceInner(m, key, nil); o.unknownKeys.insert(key); m.known[key] = Bytes(int: 0, count: 4) } else {
                    m.known[key] = nil; m.maybe[key] = nil; replaceInner(m, key, nil)
                }
            }
            m.mutated()
            return
        }
        guard expect(&ck, [err], r.errno, "\(c.op.rawValue) of \(c.count) on \(ProgramText.typeName(s.type)), keys fit \(kFit)") else { return }
        if err != EFAULT && Int(r.count) != i { ck.fail("batch", "count \(r.count), want \(i) processed") }
    }
}

/// A program whose maps were still there right after it: checked again later (the fuzz loop
/// does not wait for grace periods), and re-run with a waiting sweep if they outlive the bound.
struct PendingSweep {
    let program: Program
    var ids: [UInt32]
    let due: UInt64
}

extension Fuzzer {
    /// After a program (every fd closed, every mapping and pin gone): each map of the lifetime
    /// model's sweep set (ShadowModel.sweepMaps: outer maps, inner maps put into them, maps that
    /// were pinned) must be gone within the bounded wait
    /// (Executor.stillAlive says why it waits). With a ledger attached, each must also be one
    /// the ledger recorded at its creation: the leak check relies on that. In the fuzz loop
    /// (deferSweeps) maps still there are noted and checked by later steps instead.
    func sweepMapInMap(_ rep: inout ExecReport, _ p: Program) {
        let watched = model.sweepMaps
        guard !watched.isEmpty else { return }
        let ids = watched.map(\.shape.id).filter { $0 != 0 }
        if deferSweeps {
            let now = executor.stillAlive(ids, bound: 0)
            if !now.isEmpty && pendingSweeps.count < 256 {
                pendingSweeps.append(PendingSweep(program: p, ids: now, due: DispatchTime.now().uptimeNanoseconds + 2_000_000_000))
            }
            ledgerCheck(&rep, watched)
            return
        }
        let left = Set(executor.stillAlive(ids))
        for m in watched where m.shape.id != 0 {
            let at = model.mim.createIndex[ObjectIdentifier(m)] ?? 0
            if left.contains(m.shape.id) {
                rep.findings.append(OracleFinding(call: at, op: .create, kind: "lifetime",
                                                  message: "\(ProgramText.typeName(m.shape.type)) map id \(m.shape.id) is still alive 2 s after the program closed every fd, mapping and pin"))
            }
        }
        ledgerCheck(&rep, watched)
    }

    /// Every watched map must be one the ownership ledger recorded (when one is attached).
    func ledgerCheck(_ rep: inout ExecReport, _ watched: [MapModel]) {
        for m in watched where m.shape.id != 0 {
            let at = model.mim.createIndex[ObjectIdentifier(m)] ?? 0
            if OwnershipLedger.isActive && !OwnershipLedger.owns(.map, id: UInt64(m.shape.id)) {
                rep.findings.append(OracleFinding(call: at, op: .create, kind: "ledger",
                                                  message: "map id \(m.shape.id) was created through the shim but is not in the ownership ledger"))
            }
        }
    }

    /// At most every 10 ms: drops the pending sweeps whose maps went; a program whose maps are
    /// still there past its due time runs again with the waiting sweep, and its report (a
    /// `create:lifetime` finding if the leak recurs) is the step's.
    func checkPendingSweeps() -> (Program, ExecReport)? {
        guard !pendingSweeps.isEmpty else { return nil }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastSweepPoll > 10_000_000 else { return nil }
        lastSweepPoll = now
        var i = 0
        while i < pendingSweeps.count {
            let left = executor.stillAlive(pendingSweeps[i].ids, bound: 0)
            if left.isEmpty { pendingSweeps.remove(at: i); continue }
            pendingSweeps[i].ids = left
            if now >= pendingSweeps[i].due {
                let p = pendingSweeps.remove(at: i).program
                return (p, execute(p))
            }
            i += 1
        }
        return nil
    }
}
