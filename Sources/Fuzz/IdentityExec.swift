// The executor's permission and identity calls: pins in a private bpffs mounted nowhere, OBJ_GET, GET_FD_BY_ID, GET_NEXT_ID, GET_INFO.
import BPFKit
import CBPFStress
import Foundation
import Glibc

/// The executor's identity state: the private bpffs (fsopen + fsmount: a mount in no mount
/// namespace, reachable only through its fd, gone with the process even after a crash; the
/// system's /sys/fs/bpf is never touched), the pins made in it, and each slot's map id.
final class ExecIdentity {
    /// The bpffs fd; -errno when it could not be made; nil before the first pin call.
    private(set) var mount: Int32?
    /// The id of the map each slot last held (0: none), kept after the slot's fd closes: only
    /// ids of maps this executor made or opened from them are ever asked for.
    var ids = [UInt32](repeating: 0, count: Executor.maxSlots)
    /// Pin names (bits) made in the bpffs since the last reset.
    var pinned: UInt8 = 0

    /// The names `path=N` stands for: four pin names, the bpffs root itself, a name in a
    /// directory that does not exist.
    static let names = ["p0", "p1", "p2", "p3", ".", "nodir/p0"]
    static let pinNames = 4

    /// The bpffs fd, made on first use.
    func bpffs() -> Int32 {
        if let m = mount { return m }
        let m = bpfs_fuzz_private_bpffs()
        mount = m
        return m
    }

    /// Unlinks every pin (the next program starts from an empty bpffs); keeps the mount.
    func reset() {
        if pinned != 0, let m = mount, m >= 0 {
            for i in 0..<Self.pinNames where pinned & (1 << UInt8(i)) != 0 { unlinkat(m, Self.names[i], 0) }
        }
        pinned = 0
        for i in ids.indices { ids[i] = 0 }
    }

    deinit { if let m = mount, m >= 0 { close(m) } }

    /// The pathname of name `i`: relative to the bpffs fd with BPF_F_PATH_FD, else through
    /// /proc/self/fd (the path every kernel resolves, with or without path_fd).
    func path(_ i: Int, relative: Bool) -> String {
        let n = Self.names[min(max(i, 0), Self.names.count - 1)]
        return relative ? n : "/proc/self/fd/\(mount ?? -1)/\(n)"
    }
}

/// The executor's own answer for pin, unpin and obj_get when no private bpffs could be made
/// (a kernel without fsopen): the calls are not issued.
let noPrivateBPFFS = EOPNOTSUPP

extension Executor {
    /// Runs pin, unpin, obj_get, fd_by_id, next_id or info.
    func runIdentity(_ c: Call, fd: Int32, shape s: MapShape, into r: inout CallResult) {
        let id = identity
        switch c.op {
        case .pin, .unpin, .objGet:
            let mnt = id.bpffs()
            guard mnt >= 0 else { r.errno = noPrivateBPFFS; return }
            let relative = c.flags & UInt64(BPFS_F_PATH_FD) != 0
            let path = id.path(Int(c.count), relative: relative)
            let pathFD = relative ? mnt : 0
            switch c.op {
            case .pin:
                r.errno = err(path.withCString { bpfs_fuzz_obj_pin(rtp, fd, $0, pathFD, UInt32(truncatingIfNeeded: c.flags)) })
                if r.errno == 0 && c.count < ExecIdentity.pinNames { id.pinned |= 1 << UInt8(c.count) }
            case .unpin:
                r.errno = unlinkat(mnt, ExecIdentity.names[Int(min(c.count, 5))], 0) == 0 ? 0 : Glibc.errno
                if r.errno == 0 && c.count < ExecIdentity.pinNames { id.pinned &= ~(1 << UInt8(c.count)) }
            default:
                let rc = path.withCString { bpfs_fuzz_obj_get(rtp, $0, pathFD, UInt32(truncatingIfNeeded: c.flags)) }
                adopt(c.map, rc, into: &r)
            }
        case .fdByID:
            let from = Int(min(c.count, UInt32(Executor.maxSlots - 1)))
            let rc = bpfs_map_get_fd_by_id(rtp, id.ids[from], UInt32(truncatingIfNeeded: c.flags))
            adopt(c.map, rc, into: &r)
        case .nextID:
            var next: UInt32 = 0
            // From the slot's id minus one: the answer is that id exactly while the map lives.
            r.errno = err(bpfs_fuzz_map_next_id(rtp, id.ids[c.map] &- 1, UInt32(truncatingIfNeeded: c.flags), &next))
            r.valuesOut = Layout.intBytes(UInt64(next), 4)
        default:
            // info: an in/out struct of info_len bytes, zero-filled (the kernel reads it in
            // before it fills it: a zero struct asks for no extras), last byte non-zero with tail.
            var b = [UInt8](repeating: 0, count: min(Int(c.count), 8192))
            if c.flags & 1 != 0, !b.isEmpty { b[b.count - 1] = 1 }
            let p: Placed
            switch c.out {
            case .null: p = place(.null, slot: 2)
            case .unmapped: p = place(.unmapped, slot: 2)
            default: p = place(.input(b), slot: 2)
            }
            var len = c.count
            r.errno = err(bpfs_fuzz_obj_info(rtp, fd, p.ptr, &len))
            r.count = len
            r.valuesOut = read(p)
            checkCanary("info", p, into: &r)
        }
    }

    /// A new fd from obj_get / fd_by_id goes into `slot` as a create's would; r.count is the id
    /// its map info names. An fd whose map is not one of the fuzzer's is closed at once
    /// (belt and braces: only the fuzzer's own ids are asked for) and reported as EXDEV.
    func adopt(_ slot: Int, _ rc: Int32, into r: inout CallResult) {
        install(slot, fd: -1, shape: nil)
        identity.ids[slot] = 0
        guard rc >= 0 else { r.errno = -rc; return }
        var info = bpfs_map_info()
        guard withUnsafePointer(to: rt, { bpfs_map_info($0, rc, &info) }) == 0 else {
            Glibc.close(rc); r.errno = EXDEV; return
        }
        let name = withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard name.hasPrefix("bpfs_fuzz") else { Glibc.close(rc); r.errno = EXDEV; return }
        install(slot, fd: rc, shape: MapShape(type: BPFMapType(rawValue: info.type), keySize: Int(info.key_size),
                                             valueSize: Int(info.value_size), maxEntries: Int(info.max_entries),
                                             flags: info.map_flags, cpus: cpus))
        identity.ids[slot] = info.id
        r.count = info.id
    }
}
