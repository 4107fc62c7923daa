// The fd arrays (prog_array, perf_event_array, cgroup_array): create rules, programs in and ids out, the owner program type, and entries released with the map file that added them.
import Basics
import BPFKit
import CBPFStress
import Foundation
import Glibc

// Probed on 6.18: key 4, value 4 (an fd in, for prog_array its program id out), only BPF_ANY
// (EINVAL), E2BIG past max_entries before the fd is looked at; perf_event_array and
// cgroup_array have no lookup from user space (ENOTSUPP); no batches, no lookup_and_delete.
// A pinned prog_array is left out of the lifetime sweep (Lifetime.swift): the put of its last
// user reference clears it in a work item before its own deferred free, and once took more
// than the sweep's 2 s under load (not reproduced in a replay).

extension MapShape {
    /// prog_array (3), perf_event_array (4), cgroup_array (8).
    var isFDArray: Bool { type.rawValue == 3 || type.rawValue == 4 || type.rawValue == 8 }
}

/// The fd arrays' state across the program: each prog_array's owner program kind, and a token
/// per slot for the map file it holds (perf_event_array entries go with the file that added them).
struct FDArrayState {
    var owners: [ObjectIdentifier: PoolKind] = [:]
    var epoch = [Int](repeating: 0, count: Executor.maxSlots)
    var perfModels: [MapModel] = []
    /// The slot of the update being checked (elemUpdate does not carry it).
    var slot = 0
    func token(_ slot: Int) -> UInt64 { UInt64(slot) << 32 | UInt64(epoch[slot]) }
}

extension ShadowModel {
    static let fdArrayRules: [CreateRule] = [
        CreateRule(types: [.progArray, .cgroupArray], flags: sockAccess, key: 4...4, value: 4...4),
        CreateRule(types: [.perfEventArray], flags: sockAccess | BPFMapFlags.preserveElems, key: 4...4, value: 4...4),
    ]

    /// Before a call that closes slot `slot`'s fd (close, and create, obj_get, fd_by_id, which
    /// close it first): the perf_event_array entries added through that file are removed
    /// (perf_event_fd_array_release, at the file's release), and the slot's next fd is a new file.
    func fdArrayFileClosing(_ c: Call) {
        guard c.op == .create || c.op == .close || c.op == .objGet || c.op == .fdByID else { return }
        let t = Self.cookieBytes(fd.token(c.map))
        for m in fd.perfModels {
            for k in m.known.keys where m.known[k] == t { _ = m.known.removeValue(forKey: k); m.mutated() }
        }
        fd.epoch[c.map] += 1
    }

    /// An update of an fd array from slot `slot`: flags, index, then the fd per type.
    func fdArrayUpdate(_ ck: inout Check, _ m: MapModel, slot: Int, _ key: Bytes, _ value: Bytes, _ flags: UInt64, got: Int32) {
        let s = m.shape, name = ProgramText.typeName(s.type)
        func refuse(_ e: Int32, _ why: String) { expect(&ck, [e], got, "\(name): \(why)") }
        if flags != 0 { refuse(EINVAL, "only BPF_ANY (flags \(flags))"); return }
        let idx = Int(key.u32)
        if idx >= s.maxEntries { refuse(E2BIG, "index \(idx) >= max_entries \(s.maxEntries)"); return }
        let fdv = Int64(Int32(bitPattern: value.u32))
        let rec: PoolRecord
        switch fdTarget(fdv) {
        case .closed: refuse(EBADF, "fd \(fdv) is not open"); return
        case .unknown: expect(&ck, s.type == .progArray ? [EBADF, EINVAL] : [EBADF], got, "\(name): fd \(fdv) is not one of the pool's"); return
        case let .object(o): rec = o
        }
        let stored: Bytes
        switch s.type {
        case .progArray:
            guard let p = rec.kind.program else { refuse(EINVAL, "fd \(fdv) is a \(rec.kind.rawValue), not a program"); return }
            let id = ObjectIdentifier(m)
            if let owner = fd.owners[id], let o = owner.program {
                if o.type != p.type { refuse(EINVAL, "the array holds \(owner.rawValue) programs (owner type), not \(rec.kind.rawValue)"); return }
                if o.attach != p.attach && facts.progArrayAttachTypeErrno != 0 {
                    refuse(facts.progArrayAttachTypeErrno, "owner \(owner.rawValue), expected_attach_type differs (kernel fact prog_array_attach_type)"); return
                }
            }
            guard expect(&ck, [0], got, "\(name): \(rec.kind.rawValue) at \(idx)") else { return }
            if fd.owners[id] == nil { fd.owners[id] = rec.kind }
            stored = Bytes(int: rec.fact, count: 4)
        case .perfEventArray:
            if rec.kind != .perf { refuse(EBADF, "fd \(fdv) is a \(rec.kind.rawValue), not a perf event"); return }
            guard expect(&ck, [0], got, "\(name): perf event at \(idx)") else { return }
            if !fd.perfModels.contains(where: { $0 === m }) { fd.perfModels.append(m) }
            stored = Self.cookieBytes(fd.token(slot))
        default:
            if rec.kind != .cgroup { refuse(EBADF, "fd \(fdv) is a \(rec.kind.rawValue), not a cgroup"); return }
            guard expect(&ck, [0], got, "\(name): cgroup at \(idx)") else { return }
            stored = Self.cookieBytes(rec.fact)
        }
        m.known[key] = stored
        m.mutated()
    }

    /// A lookup: a prog_array gives the program id (ENOENT for an empty or missing index);
    /// the others have none from user space (ENOTSUPP).
    func fdArrayLookup(_ ck: inout Check, _ c: ElemCall, _ r: CallResult, _ m: MapModel, _ key: Bytes) {
        let s = m.shape
        if s.type != .progArray { expect(&ck, [ENOTSUPP], r.errno, "\(ProgramText.typeName(s.type)) has no lookup from user space"); return }
        let ob = Self.outputBuf(c, need: 4)
        let want = m.known[key]
        guard expect(&ck, [want == nil ? ENOENT : (ob.length >= 4 && ob.isPointer ? 0 : EFAULT)], r.errno, "prog_array index \(key.u32) \(want == nil ? "empty" : "holds a program")") else { return }
        if r.errno == 0, let want, r.outBytes.prefixBytes(4) != want {
            ck.fail("value", "prog_array index \(key.u32) returned id \(Self.hex(r.out)), want the program's id \(Self.hex(want))")
        }
    }

    /// A delete: E2BIG past max_entries, ENOENT for an empty index.
    func fdArrayDelete(_ ck: inout Check, _ m: MapModel, _ key: Bytes, got: Int32) {
        let idx = Int(key.u32), present = m.known[key].isSome
        guard expect(&ck, [idx >= m.shape.maxEntries ? E2BIG : present ? 0 : ENOENT], got, "delete index \(idx) of \(ProgramText.typeName(m.shape.type)) (\(present ? "held" : "empty"))") else { return }
        if present { _ = m.known.removeValue(forKey: key); m.mutated() }
    }
}

extension KernelFacts {
    /// prog_array_attach_type: an XDP program with expected_attach_type BPF_XDP_DEVMAP into a
    /// prog_array that holds a plain XDP program.
    static func probeFDArrayFacts(_ facts: inout KernelFacts, _ rt: inout bpfs_rt, _ unprobed: inout [String]) {
        let m = "bpfs_fuzz_probe".withCString { bpfs_map_create(&rt, BPFMapType.progArray.rawValue, 4, 4, 2, 0, $0, 0) }
        var id: UInt32 = 0
        let a = bpfs_pool_prog(&rt, 6, 0, 2, &id), b = bpfs_pool_prog(&rt, 6, 37, 2, &id)
        var k0: UInt32 = 0, k1: UInt32 = 1, va = UInt32(bitPattern: a), vb = UInt32(bitPattern: b)
        if m >= 0 && a >= 0 && b >= 0 && bpfs_map_update_elem(&rt, m, &k0, &va, 0) == 0 {
            facts.progArrayAttachTypeErrno = -min(0, bpfs_map_update_elem(&rt, m, &k1, &vb, 0))
        } else {
            unprobed.append("fact.prog_array_attach_type (map: errno \(m < 0 ? -m : 0), programs: \(a < 0 ? -a : 0), \(b < 0 ? -b : 0))")
        }
        for fd in [m, a, b] where fd >= 0 { close(fd) }
    }
}
