// The executor's object pool: the kinds, open, drop, reset, and the fd of `obj:N` buffers.
import BPFKit
import CBPFStress
import Foundation
import Glibc

// Text form (PoolOps below):
//
//     open obj=2 kind=tcp       makes pool object 2 (closing what it held before)
//     drop obj=2                closes every fd of object 2 (kills and reaps a child, rmdirs a cgroup)
//     update map=0 key=#1 value=obj:2    the fd number of object 2 as the value
//
// open's result: errno, outBytes the object's fact (8 bytes LE: socket cookie, program id,
// cgroup id, pid; 0 for perf events and files), count the fd number (the model needs the
// bytes an `obj:N` buffer carries).

/// What a pool object is. Raw values are the text names (`kind=`).
public enum PoolKind: String, CaseIterable, Sendable {
    // Sockets, all on the loopback of the executor's network namespace (bpfs_pool_socket).
    case udp, udp6
    case udpUnbound = "udp_unbound"
    case udpReuseport = "udp_reuseport"
    case tcpListen = "tcp_listen"
    case tcpReuseportListen = "tcp_reuseport_listen"
    /// An established client; the pool keeps the accepted peer.
    case tcp
    case tcpUnconnected = "tcp_unconnected"
    /// One end of a socketpair; the pool keeps the other.
    case unixStream = "unix_stream"
    case unixDgram = "unix_dgram"
    /// An AF_XDP socket, never bound.
    case xsk
    // Programs `r0 = verdict; exit` named bpfs_fuzz_obj.
    case progSocketFilter = "prog_socket_filter"
    case progXDP = "prog_xdp"
    case progXDPDevmap = "prog_xdp_devmap"
    case progXDPCpumap = "prog_xdp_cpumap"
    case progSkSkb = "prog_sk_skb"
    /// perf_event_open of PERF_COUNT_SW_BPF_OUTPUT, pid -1, CPU 0.
    case perf
    /// An unlinked temp file (O_TMPFILE, O_RDWR).
    case file
    case pidfdSelf = "pidfd_self"
    /// A `sleep` child the pool spawned, killed by pid at drop and reset.
    case pidfdChild = "pidfd_child"
    /// A private child cgroup of the cgroup2 mount, bpfstress-fuzz-<pid>-<n>, removed at drop.
    case cgroup

    /// Index in allCases (what a Call stores in `flags`).
    public var ordinal: Int { Self.allCases.firstIndex(of: self)! }
    public static func at(_ i: UInt64) -> PoolKind? { i < UInt64(allCases.count) ? allCases[Int(i)] : nil }

    public var isSocket: Bool { ordinal <= PoolKind.xsk.ordinal }
    public var isProgram: Bool { (PoolKind.progSocketFilter.ordinal...PoolKind.progSkSkb.ordinal).contains(ordinal) }
    public var isTCP: Bool { [.tcpListen, .tcpReuseportListen, .tcp, .tcpUnconnected].contains(self) }
    public var isUDP: Bool { [.udp, .udp6, .udpUnbound, .udpReuseport].contains(self) }

    /// prog_type, expected_attach_type and r0 of a program kind.
    var program: (type: UInt32, attach: UInt32, verdict: Int32)? {
        switch self {
        case .progSocketFilter: return (1, 0, 0)          // BPF_PROG_TYPE_SOCKET_FILTER
        case .progXDP: return (6, 0, 2)                    // BPF_PROG_TYPE_XDP, XDP_PASS
        case .progXDPDevmap: return (6, 33, 2)             // BPF_XDP_DEVMAP (33; 37 is BPF_XDP)
        case .progXDPCpumap: return (6, 35, 2)             // BPF_XDP_CPUMAP (35; 36 is BPF_SK_LOOKUP)
        case .progSkSkb: return (14, 0, 1)                 // BPF_PROG_TYPE_SK_SKB, SK_PASS
        default: return nil
        }
    }
}

/// The executor's pool of kernel objects for fd-valued keys and values. Not thread-safe
/// (one per executor); every object is gone after reset() and deinit.
final class ObjectPool {
    static let size = 8

    struct Object {
        var kind: PoolKind
        var fd: Int32
        /// A second fd kept open (the accepted end of a tcp pair, the other end of a socketpair).
        var peer: Int32 = -1
        /// A spawned child (pidfd_child).
        var pid: pid_t = 0
        /// The directory of a private cgroup.
        var cgroupPath: String? = nil
        var fact: UInt64 = 0
    }

    private(set) var objects = [Object?](repeating: nil, count: ObjectPool.size)
    let rtp: UnsafeMutablePointer<bpfs_rt>

    init(rtp: UnsafeMutablePointer<bpfs_rt>) { self.rtp = rtp }
    deinit { reset() }

    /// The fd an `obj:N` buffer carries: the object's fd, or Executor.closedFD.
    @inline(__always)
    func fd(_ n: Int) -> Int32 {
        guard n >= 0 && n < Self.size, let o = objects[n] else { return Executor.closedFD }
        return o.fd
    }

    /// Makes object `n` of `kind` (closing what `n` held): (0, fact, fd) or (errno, 0, -1).
    func open(_ n: Int, _ kind: PoolKind) -> (errno: Int32, fact: UInt64, fd: Int32) {
        drop(n)
        var o = Object(kind: kind, fd: -1)
        let rc: Int32
        switch kind {
        case _ where kind.isSocket:
            var peer: Int32 = -1
            var cookie: UInt64 = 0
            rc = bpfs_pool_socket(Int32(kind.ordinal), &peer, &cookie)
            o.peer = peer; o.fact = cookie
        case _ where kind.isProgram:
            let p = kind.program!
            var id: UInt32 = 0
            rc = bpfs_pool_prog(rtp, p.type, p.attach, p.verdict, &id)
            o.fact = UInt64(id)
        case .perf: rc = bpfs_pool_perf(0)
        case .file: rc = bpfs_pool_tmpfile("/tmp")
        case .pidfdSelf:
            rc = bpfs_pool_pidfd(getpid())
            o.fact = UInt64(getpid())
        case .pidfdChild:
            let pid = bpfs_pool_spawn_sleep(600)
            guard pid > 0 else { return (-pid, 0, -1) }
            rc = bpfs_pool_pidfd(pid)
            if rc < 0 { _ = bpfs_pool_kill_reap(pid) } else { o.pid = pid; o.fact = UInt64(pid) }
        case .cgroup:
            let (e, fd, path, id) = Self.makeCgroup()
            if e != 0 { return (e, 0, -1) }
            rc = fd; o.cgroupPath = path; o.fact = id
        default: return (EINVAL, 0, -1)
        }
        guard rc >= 0 else { return (-rc, 0, -1) }
        o.fd = rc
        objects[n] = o
        return (0, o.fact, rc)
    }

    /// mkdir + open of bpfstress-fuzz-<pid>-<n> under the cgroup2 mount (never the root itself).
    static func makeCgroup() -> (errno: Int32, fd: Int32, path: String, id: UInt64) {
        guard let root = Probes.cgroup2Mount() else { return (ENOENT, -1, "", 0) }
        let path = root + "/bpfstress-fuzz-\(getpid())-\(bpfs_pool_serial())"
        guard mkdir(path, 0o755) == 0 else { return (errno, -1, "", 0) }
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { let e = errno; rmdir(path); return (e, -1, "", 0) }
        var st = stat()
        let id: UInt64 = fstat(fd, &st) == 0 ? UInt64(st.st_ino) : 0
        return (0, fd, path, id)
    }

    /// Closes object `n`'s fds (a child killed by pid and reaped, a cgroup removed); false when
    /// it held nothing.
    @discardableResult
    func drop(_ n: Int) -> Bool {
        guard n >= 0 && n < Self.size, let o = objects[n] else { return false }
        objects[n] = nil
        if o.fd >= 0 { Glibc.close(o.fd) }
        if o.peer >= 0 { Glibc.close(o.peer) }
        if o.pid > 0 { _ = bpfs_pool_kill_reap(o.pid) }
        if let p = o.cgroupPath { rmdir(p) }
        return true
    }

    /// Drops every object.
    func reset() {
        for i in objects.indices where objects[i] != nil { drop(i) }
    }
}

extension Executor {
    /// open / drop (the executor's answer for a drop of an empty object is EBADF).
    func runPool(_ c: Call, into r: inout CallResult) {
        let n = Int(c.count)
        if c.op == .drop { r.errno = pool.drop(n) ? 0 : EBADF; return }
        guard let kind = PoolKind.at(c.flags) else { r.errno = EINVAL; return }
        let (e, fact, fd) = pool.open(n, kind)
        r.errno = e
        r.outBytes = Bytes(int: fact, count: 8)
        r.count = UInt32(bitPattern: fd)
    }

    /// An `obj:N` key or value: the object's fd as a #N integer of the buffer's natural size.
    func objInt(_ b: Buf) -> Buf? {
        if case let .obj(n) = b { return .int(UInt64(UInt32(bitPattern: pool.fd(n)))) }
        return nil
    }
}
