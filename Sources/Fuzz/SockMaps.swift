// The socket maps (sockmap, sockhash, reuseport_sockarray, xskmap): create rules, the model of their fd values and cookies, and the kernel's lifetime rules.
import Basics
import BPFKit
import Foundation
import CBPFStress
import Glibc

// Probed on 6.18 (see README, Fuzzing): the value is a socket fd (4 or 8 bytes; xskmap 4), a
// lookup from user space gives the socket's cookie (8-byte values only; 4-byte: ENOSPC;
// xskmap: EOPNOTSUPP), and no batch or lookup_and_delete command exists (ENOTSUPP).

extension MapShape {
    /// sockmap (15), xskmap (17), sockhash (18), reuseport_sockarray (20).
    var isSockMap: Bool {
        switch type.rawValue {
        case 15, 17, 18, 20: return true
        default: return false
        }
    }
    /// Arrays of fds whose get_next_key walks the indices (sockmap, xskmap, reuseport_sockarray,
    /// prog_array, perf_event_array, cgroup_array).
    var isFDArrayLike: Bool {
        switch type.rawValue {
        case 3, 4, 8, 15, 17, 20: return true
        default: return false
        }
    }
}

/// What the model keeps across socket maps: every socket-map model of the program (closed ones
/// too: a closed map is freed later, in a workqueue, and holds its sockets until then).
struct SockMapState {
    var models: [MapModel] = []
    /// xskmaps that held an AF_XDP socket: each socket holds its map (xsk_map_node), and
    /// drops that reference when it closes, so the map's end is deferred past its last fd.
    var xskHeld: Set<ObjectIdentifier> = []
}

extension ShadowModel {
    static let sockAccess = BPFMapFlags.numaNode | BPFMapFlags.rdonly | BPFMapFlags.wronly

    /// Create rules (probed on 6.18): key 4 (sockhash 1...512, E2BIG above), value 4 or 8
    /// (xskmap 4), NUMA_NODE and the fd access flags; reuseport_sockarray also takes the
    /// program access flags (it is an array underneath); sockhash refuses more than 2^27 entries
    /// (buckets of 16 bytes must fit U32_MAX: EINVAL).
    static let sockMapRules: [CreateRule] = [
        CreateRule(types: [.sockmap], flags: sockAccess, key: 4...4, value: 4...8, valueIn: [4, 8]),
        CreateRule(types: [.sockhash], flags: sockAccess, key: 1...Int.max, value: 4...8, valueIn: [4, 8], keyE2BIG: 512,
                   limit: .maxEntries(1 << 27)),
        CreateRule(types: [.reuseportSockarray], flags: sockAccess | BPFMapFlags.rdonlyProg | BPFMapFlags.wronlyProg,
                   key: 4...4, value: 4...8, valueIn: [4, 8]),
        CreateRule(types: [.xskmap], flags: sockAccess, key: 4...4, value: 4...4),
    ]

    /// What an fd number in a value names, as far as the model knows.
    enum FDTarget {
        case closed
        case object(PoolRecord)
        /// An fd the model did not make (a literal small number): EBADF or ENOTSOCK.
        case unknown
    }

    func fdTarget(_ fd: Int64) -> FDTarget {
        if fd < 0 || fd == Int64(Executor.closedFD) || fd >= 1 << 20 { return .closed }
        if let o = pool.object(fd: Int32(fd)) { return .object(o.record) }
        return .unknown
    }

    static func cookieBytes(_ c: UInt64) -> Bytes { Bytes(int: c, count: 8) }

    /// Where socket `cookie` is linked: in a live sockmap/sockhash (a psock), in a live
    /// reuseport array, and whether a closed map (not yet freed) may still hold it.
    func sockLinks(_ cookie: UInt64) -> (psock: Bool, reuseport: Bool, dying: Bool) {
        let v = Self.cookieBytes(cookie)
        var links = (psock: false, reuseport: false, dying: false)
        for m in sock.models where m.known.contains(where: { $0.value == v }) {
            let live = maps.contains { $0 === m }
            if !live { links.dying = true; continue }
            if m.shape.type == .reuseportSockarray { links.reuseport = true } else if m.shape.type != .xskmap { links.psock = true }
        }
        return links
    }

    /// An update of a socket map with value bytes `value` (the fd), in the kernel's order per type.
    func sockUpdate(_ ck: inout Check, _ m: MapModel, _ key: Bytes, _ value: Bytes, _ flags: UInt64, got: Int32) {
        let s = m.shape
        if !sock.models.contains(where: { $0 === m }) { sock.models.append(m) }
        let raw = s.valueSize == 8 ? value.prefixBytes(8).u64 : UInt64(value.u32)
        let idx = Int(key.u32)
        let exists = m.known[key].isSome
        let typeName = ProgramText.typeName(s.type)
        func refuse(_ e: Int32, _ why: String) { expect(&ck, [e], got, "\(typeName): \(why)") }
        // The fd itself: sockmap and sockhash resolve it first (EINVAL past S32_MAX); the
        // reuseport array and xskmap check flags and the index first, and read a 4-byte
        // value as a signed int (a negative fd: EBADF).
        let early = s.type == .reuseportSockarray || s.type == .xskmap
        if early {
            if flags > BPFUpdateFlags.exist { refuse(EINVAL, "flags \(flags)"); return }
            if idx >= s.maxEntries { refuse(E2BIG, "index \(idx) >= max_entries \(s.maxEntries)"); return }
        }
        let fd: Int64
        if s.valueSize == 8 || !early {
            if raw > UInt64(Int32.max) { refuse(EINVAL, "fd \(raw) > S32_MAX"); return }
            fd = Int64(raw)
        } else {
            fd = Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: raw)))
        }
        let rec: PoolRecord
        switch fdTarget(fd) {
        case .closed: refuse(EBADF, "fd \(fd) is not open"); return
        case .unknown: expect(&ck, [EBADF, ENOTSOCK], got, "\(typeName): fd \(fd) is not one of the pool's"); return
        case let .object(o):
            if !o.kind.isSocket { refuse(ENOTSOCK, "fd \(fd) is a \(o.kind.rawValue)"); return }
            rec = o
        }
        let links = sockLinks(rec.fact)
        let why = "\(rec.kind.rawValue) (cookie \(rec.fact))"
        switch s.type {
        case .xskmap:
            if rec.kind != .xsk { refuse(EOPNOTSUPP, "\(why) is not AF_XDP"); return }
            if m.known[key] == Self.cookieBytes(rec.fact) { refuse(0, "the same socket again"); return }
            if exists && flags == BPFUpdateFlags.noExist { refuse(EEXIST, "NOEXIST on a full slot"); return }
            if !exists && flags == BPFUpdateFlags.exist { refuse(ENOENT, "EXIST on an empty slot"); return }
        case .reuseportSockarray:
            if exists && flags == BPFUpdateFlags.noExist { refuse(EEXIST, "NOEXIST on a full slot"); return }
            if !exists && flags == BPFUpdateFlags.exist { refuse(ENOENT, "EXIST on an empty slot"); return }
            if !(rec.kind.isTCP || rec.kind.isUDP) { refuse(ENOTSUPP, "\(why) is not TCP or UDP over IP"); return }
            if rec.kind != .udpReuseport && rec.kind != .tcpReuseportListen { refuse(EINVAL, "\(why) is not a bound SO_REUSEPORT socket"); return }
            if links.psock || links.reuseport { refuse(EBUSY, "\(why) is in a socket map already (sk_user_data)"); return }
            if links.dying { expect(&ck, [0, EBUSY], got, "\(typeName): \(why) was in a map that is closed, maybe not yet freed"); if got != 0 { return } }
            else if !expect(&ck, [0], got, "\(typeName): \(why)") { return }
        default:
            let stateOK = !(rec.kind == .tcpUnconnected || rec.kind == .xsk || (rec.kind == .udpUnbound && facts.sockmapUnboundUDPErrno != 0))
            if !stateOK { refuse(rec.kind == .udpUnbound ? facts.sockmapUnboundUDPErrno : EOPNOTSUPP, "\(why) cannot be in a sockmap (kernel fact sockmap_udp_unbound)"); return }
            if flags > BPFUpdateFlags.exist { refuse(EINVAL, "flags \(flags)"); return }
            if s.type == .sockmap && idx >= s.maxEntries { refuse(E2BIG, "index \(idx) >= max_entries \(s.maxEntries)"); return }
            if links.reuseport { refuse(EBUSY, "\(why) is in a reuseport array (sk_user_data)"); return }
            var allowed: ErrSet = []
            if exists && flags == BPFUpdateFlags.noExist { allowed.insert(EEXIST) } else if !exists && flags == BPFUpdateFlags.exist { allowed.insert(ENOENT) }
            else if s.type == .sockhash && !exists && m.known.count >= s.maxEntries { allowed.insert(E2BIG) } else { allowed.insert(0) }
            if links.dying { allowed.insert(EBUSY) }
            guard expect(&ck, allowed, got, "\(typeName): \(why), key \(Self.hex(key)) \(exists ? "held" : "empty"), flags \(flags)") else { return }
            if got != 0 { return }
        }
        if got == 0 { m.known.setValue(Self.cookieBytes(rec.fact), forKey: key); m.mutated() }
        if got == 0 && s.type == .xskmap { sock.xskHeld.insert(ObjectIdentifier(m)) }
    }

    /// A lookup: xskmap EOPNOTSUPP; the others ENOSPC for 4-byte values, else the cookie or ENOENT.
    func sockLookup(_ ck: inout Check, _ c: ElemCall, _ r: CallResult, _ m: MapModel, _ key: Bytes) {
        let s = m.shape
        if s.type == .xskmap { expect(&ck, [EOPNOTSUPP], r.errno, "xskmap has no lookup from user space"); return }
        if s.valueSize != 8 { expect(&ck, [ENOSPC], r.errno, "\(ProgramText.typeName(s.type)) with value_size \(s.valueSize) returns no cookie"); return }
        let ob = Self.outputBuf(c, need: 8)
        let want = m.known[key]
        guard expect(&ck, [want == nil ? ENOENT : (ob.length >= 8 && ob.isPointer ? 0 : EFAULT)], r.errno, "key \(Self.hex(key)) \(want == nil ? "empty" : "holds a socket")") else { return }
        if r.errno == 0, let want, r.outBytes.prefixBytes(8) != want {
            ck.fail("value", "key \(Self.hex(key)) returned \(Self.hex(r.out)), want the socket cookie \(Self.hex(want))")
        }
    }

    /// A delete: sockmap and xskmap EINVAL past max_entries; sockmap EINVAL on an empty index,
    /// xskmap 0; the reuseport array E2BIG past max_entries, ENOENT on an empty index; sockhash ENOENT.
    func sockDelete(_ ck: inout Check, _ m: MapModel, _ key: Bytes, got: Int32) {
        let s = m.shape, idx = Int(key.u32), present = m.known[key].isSome
        let want: Int32
        switch s.type {
        case .sockmap: want = idx >= s.maxEntries || !present ? EINVAL : 0
        case .xskmap: want = idx >= s.maxEntries ? EINVAL : 0
        case .reuseportSockarray: want = idx >= s.maxEntries ? E2BIG : present ? 0 : ENOENT
        default: want = present ? 0 : ENOENT
        }
        guard expect(&ck, [want], got, "delete \(Self.hex(key)) from \(ProgramText.typeName(s.type)) (\(present ? "held" : "empty"))") else { return }
        if present { _ = m.known.removeValue(forKey: key); m.mutated() }
    }

    /// A walk: the arrays give every index, the hash every key once; lookups the cookie
    /// (8-byte values) or an error.
    func sockWalk(_ ck: inout Check, _ r: CallResult, _ m: MapModel) {
        let s = m.shape
        let keys: [Bytes]
        if s.type == .sockhash {
            keys = m.known.keys.sorted { $0.array.lexicographicallyPrecedes($1.array) }
            let got = r.walk.map { Bytes($0.key) }.sorted { $0.array.lexicographicallyPrecedes($1.array) }
            if got != keys || r.walkEnd != ENOENT { ck.fail("walk", "sockhash walk gave \(r.walk.count) keys ending \(Self.en(r.walkEnd)), model has \(keys.count)"); return }
        } else {
            if s.maxEntries > Layout.walkCap { return }
            keys = (0..<s.maxEntries).map { Bytes(int: UInt64($0), count: 4) }
            if r.walk.map({ Bytes($0.key) }) != keys || r.walkEnd != ENOENT {
                ck.fail("walk", "\(ProgramText.typeName(s.type)) walk gave \(r.walk.count) keys ending \(Self.en(r.walkEnd)), want \(s.maxEntries) then ENOENT"); return
            }
        }
        for e in r.walk {
            let want = (s.valueSize == 8 && s.isSockMap && s.type != .xskmap) || s.type == .progArray ? m.known[Bytes(e.key)] : nil
            if e.value.map({ Bytes($0) }) != want {
                ck.fail("value", "key \(Self.hex(e.key)) looked up \(e.value.map { Self.hex($0) } ?? "an error"), want \(want.map { Self.hex($0) } ?? "an error")"); return
            }
        }
    }

    /// An xskmap holding an AF_XDP socket that is still open: the socket holds the map.
    func xskHolds(_ m: MapModel) -> Bool { m.shape.type == .xskmap && !m.known.isEmpty }

    /// A socket closed (drop, or an open over it): the kernel unlinks it from every map at once
    /// (sock_map_close, reuseport_detach_sock, xsk_release), so its entries are gone.
    func sockObjectDropped(_ o: PoolRecord) {
        guard o.kind.isSocket else { return }
        let v = Self.cookieBytes(o.fact)
        for m in sock.models {
            for k in m.known.keys where m.known[k] == v { _ = m.known.removeValue(forKey: k); m.mutated() }
        }
    }
}

extension Bytes {
    /// The first 8 bytes as a little-endian u64 (0 for missing bytes).
    var u64: UInt64 {
        let a = array
        var v: UInt64 = 0
        for i in 0..<Swift.min(8, a.count) { v |= UInt64(a[i]) << (8 * UInt64(i)) }
        return v
    }
}

extension KernelFacts {
    /// sockmap_udp_unbound: a 1-entry sockmap and an unbound UDP socket (bpfs_pool_socket).
    static func probeSockFacts(_ facts: inout KernelFacts, _ rt: inout bpfs_rt, _ unprobed: inout [String]) {
        let m = "bpfs_fuzz_probe".withCString { bpfs_map_create(&rt, BPFMapType.sockmap.rawValue, 4, 4, 1, 0, $0, 0) }
        var peer: Int32 = -1, cookie: UInt64 = 0
        let s = bpfs_pool_socket(Int32(PoolKind.udpUnbound.ordinal), &peer, &cookie)
        if m >= 0 && s >= 0 {
            var key: UInt32 = 0, fd = UInt32(bitPattern: s)
            facts.sockmapUnboundUDPErrno = -min(0, bpfs_map_update_elem(&rt, m, &key, &fd, 0))
        } else {
            unprobed.append("fact.sockmap_udp_unbound (sockmap: errno \(m < 0 ? -m : 0), socket: errno \(s < 0 ? -s : 0))")
        }
        if m >= 0 { close(m) }
        if s >= 0 { close(s) }
    }
}
