// The permission and identity oracle: pins, OBJ_GET file_flags, GET_FD_BY_ID open_flags, GET_NEXT_ID, GET_INFO info_len, and access per fd.
import BPFKit
import Foundation
import Glibc

/// The model's identity state: what each slot's fd may do, which map each slot last held, the
/// pins, and what the model knows of each map (its id, map_extra, whether it may be dying).
final class IdentityModel {
    final class Record {
        let map: MapModel
        var id: UInt32
        let extra: UInt64
        /// The last reference went with an unpin: bpffs frees the inode (and drops its
        /// reference) after an RCU grace period, so the map may still be found for a while.
        var dying = false
        /// The kernel said ENOENT for its id while nothing held it: its refcount reached zero,
        /// and a map never comes back from that (Lifetime.swift).
        var dead = false
        /// It was pinned at some point: the sweep after the program checks that it went.
        var pinned = false
        init(_ m: MapModel, id: UInt32, extra: UInt64) { map = m; self.id = id; self.extra = extra }
    }

    /// (read-only, write-only) of each slot's fd.
    var perms = [(Bool, Bool)](repeating: (false, false), count: Executor.maxSlots)
    /// Set once two slots hold fds of one map: from then on each call applies its slot's access.
    var shared = false
    /// The map each slot last held, kept after close (fd_by_id, next_id and alive ask for its id).
    var last = [Record?](repeating: nil, count: Executor.maxSlots)
    /// Every map the program made or opened, in order (the sweep after it checks them all).
    var all: [Record] = []
    var pins = [Record?](repeating: nil, count: ExecIdentity.pinNames)
    /// Ring buffers: the first u64 of each page written through ring_mmap (RingMmap.swift).
    var ringWords: [ObjectIdentifier: [Int: UInt64]] = [:]

    /// The access of a fd opened with these flags (RDONLY / WRONLY bits of map or file flags).
    static func access(_ flags: UInt64) -> (Bool, Bool) {
        (flags & UInt64(BPFMapFlags.rdonly) != 0, flags & UInt64(BPFMapFlags.wronly) != 0)
    }
}

extension ShadowModel {
    static let pathFD = UInt64(1) << 14
    static let objFlagMask = UInt64(BPFMapFlags.rdonly | BPFMapFlags.wronly)

    /// Gives the slot's model the access of the slot's own fd (only when models are shared).
    /// Each fd has its own batch cursor: a batch lookup through one of two fds of a map ends
    /// the model's record of a batch walk in progress (the check of that call stays).
    @inline(never)
    func applyFDPerms(_ slot: Int, batch: Bool = false) {
        guard let m = maps[slot] else { return }
        (m.rdonly, m.wronly) = identity.perms[slot]
        if batch && maps.indices.contains(where: { $0 != slot && maps[$0] === m }) { m.mutated() }
    }

    /// After a create: the slot's record (its id as the executor read it from map info).
    func identityCreated(_ c: Call, _ r: CallResult) {
        identity.perms[c.map] = IdentityModel.access(UInt64(c.mapFlags))
        // The id the executor read from map info (the call's count, or the shape it passed).
        identity.last[c.map] = maps[c.map].map { IdentityModel.Record($0, id: r.count != 0 ? r.count : $0.shape.id, extra: c.mapExtra) }
        if let rec = identity.last[c.map] { identity.all.append(rec) }
    }

    /// A new fd of `rec` (with access from `flags`) in slot `d`, emptied as a create empties it.
    func adopt(_ d: Int, _ rec: IdentityModel.Record?, flags: UInt64) {
        unmapAll(d)
        maps[d] = rec?.map
        closed[d] = false
        lastToken[d] = nil
        identity.last[d] = rec
        identity.perms[d] = IdentityModel.access(flags)
        // From the first fd opened from a pin or id on, every call applies its own slot's access.
        if let rec { identity.shared = true; applyFDPerms(d); rec.map.mutated() }
    }

    func identity(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        let bpffs = facts.privateBPFFS
        switch c.op {
        case .pin:
            guard bpffs else { expect(&ck, [noPrivateBPFFS], r.errno, "no private bpffs (executor's answer)"); return }
            if c.flags & ~Self.pathFD != 0 { expect(&ck, [EINVAL], r.errno, "pin file_flags \(c.flags): only BPF_F_PATH_FD"); return }
            if c.flags & Self.pathFD != 0 && !facts.pathFD { expect(&ck, [EINVAL], r.errno, "BPF_F_PATH_FD; kernel fact path_fd no"); return }
            // bpf_fd_probe_obj: anything that is not a map, program or link fd is EINVAL.
            guard c.fd == .map, let m = maps[c.map], let rec = identity.last[c.map], rec.map === m else {
                expect(&ck, [EINVAL], r.errno, "pin of fd \(c.fd.rawValue) that holds no map"); return
            }
            let i = Int(c.count)
            if i == 4 || (i < ExecIdentity.pinNames && identity.pins[i] != nil) { expect(&ck, [EEXIST], r.errno, "pin name \(ExecIdentity.names[min(i, 5)]) exists"); return }
            if i >= ExecIdentity.pinNames { expect(&ck, [ENOENT], r.errno, "pin into a directory that does not exist"); return }
            if expect(&ck, [0], r.errno, "pin") { identity.pins[i] = rec; rec.dying = false; rec.pinned = true }
        case .unpin:
            guard bpffs else { expect(&ck, [noPrivateBPFFS], r.errno, "no private bpffs (executor's answer)"); return }
            let i = Int(c.count)
            if i == 4 { expect(&ck, [EISDIR], r.errno, "unlink of the bpffs root"); return }
            guard i < ExecIdentity.pinNames, let rec = identity.pins[i] else { expect(&ck, [ENOENT], r.errno, "no such pin"); return }
            guard expect(&ck, [0], r.errno, "unpin") else { return }
            identity.pins[i] = nil
            if !holds(rec) { rec.dying = true }
        case .objGet:
            guard bpffs else { expect(&ck, [noPrivateBPFFS], r.errno, "no private bpffs (executor's answer)"); return }
            var allowed: ErrSet = [0]
            let i = Int(c.count)
            if c.flags & ~(Self.objFlagMask | Self.pathFD) != 0 || (c.flags & Self.pathFD != 0 && !facts.pathFD) {
                allowed = [EINVAL]
            } else if c.flags & Self.objFlagMask == Self.objFlagMask {
                allowed = [EINVAL]
            } else if i == 4 {
                allowed = [EACCES]  // bpf_inode_type: the root is a directory, not a bpf object
            } else if i >= ExecIdentity.pinNames || identity.pins[i] == nil {
                allowed = [ENOENT]
            }
            guard expect(&ck, allowed, r.errno, "obj_get \(ExecIdentity.names[min(i, 5)]) file_flags 0x\(String(c.flags, radix: 16))") else { return }
            let rec = r.errno == 0 ? identity.pins[i] : nil
            if let rec, r.count != rec.id { ck.fail("identity", "obj_get of the pin of map id \(rec.id) opened map id \(r.count)") }
            adopt(c.map, rec, flags: c.flags)
        case .fdByID:
            let from = Int(min(c.count, UInt32(Executor.maxSlots - 1)))
            let rec = identity.last[from]
            var allowed: ErrSet = [0]
            var why = "map alive"
            if c.flags & ~Self.objFlagMask != 0 || c.flags & Self.objFlagMask == Self.objFlagMask {
                allowed = [EINVAL]; why = "open_flags 0x\(String(c.flags, radix: 16))"
            } else if let rec {
                switch life(rec) {
                case .alive: break
                case .dying: allowed = [0, ENOENT]; why = "its last reference may wait for a deferred put (\(deferredWhy(rec)))"
                case .gone: allowed = [ENOENT]; why = "no fd, mapping, pin or open outer map holds the map"
                }
            } else {
                allowed = [ENOENT]; why = "slot \(from) never held a map (id 0)"
            }
            guard expect(&ck, allowed, r.errno, why) else { return }
            if let rec, allowed != [EINVAL] {
                // ENOENT: its refcount reached zero for good. Found: the new fd holds it, and a
                // deferred put still pending keeps it after that fd closes (dying stays).
                if r.errno == ENOENT { rec.dead = true }
                if r.errno == 0, r.count != rec.id { ck.fail("identity", "fd_by_id \(rec.id) opened map id \(r.count)") }
            }
            adopt(c.map, r.errno == 0 ? rec : nil, flags: c.flags)
        case .nextID:
            nextID(&ck, c, r)
        default:
            info(&ck, c, r)
        }
    }

    /// GET_NEXT_ID from the slot's id minus one: that id exactly while the map lives; once it
    /// is gone, ENOENT or a later id (another process's map), never its own.
    func nextID(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        if c.flags != 0 { expect(&ck, [EINVAL], r.errno, "open_flags set on GET_NEXT_ID"); return }
        let next = UInt32(Bytes(r.valuesOut).prefixBytes(4).array.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        guard let rec = identity.last[c.map], rec.id != 0 else {
            expect(&ck, [EINVAL], r.errno, "slot holds no map id: start_id 0xffffffff is past INT_MAX"); return
        }
        let l = life(rec)
        guard expect(&ck, l == .alive ? [0] : [0, ENOENT], r.errno, l == .alive ? "map alive" : "map gone or dying") else { return }
        if r.errno != 0 { rec.dead = true; return }
        if next <= rec.id &- 1 { ck.fail("identity", "next id \(next) is not past start id \(rec.id &- 1)"); return }
        if l == .alive && next != rec.id { ck.fail("identity", "next id \(next) after \(rec.id &- 1), want the live map's id \(rec.id)") }
        if l == .gone && next == rec.id { ck.fail("identity", "next id \(next) is the id of a map nothing holds") }
        if l == .dying && next != rec.id { rec.dead = true }
    }
}
