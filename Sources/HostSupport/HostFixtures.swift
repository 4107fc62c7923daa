// Host fixtures the scenarios use around the runtime: a loopback TCP client, network namespaces, cgroup members.
import BPFKit
import CBPFStress
import Glibc
import SystemPackage

/// A loopback TCP client that uses a chosen congestion control (bpfs_tcp_connect_cc).
public enum CongestionClient {
    /// socket, setsockopt(TCP_CONGESTION, cc), connect to 127.0.0.1/::1 `port`; returns
    /// the connected fd (caller closes) and the congestion control the socket reports.
    /// `family` is AF_INET or AF_INET6.
    public static func connect(family: Int32, port: UInt16, congestion: String, timeoutMs: Int32 = 2000) throws
        -> (fd: Int32, inUse: String) {
        var name = [CChar](repeating: 0, count: 32)
        let fd = bpfs_tcp_connect_cc(family, port, congestion, timeoutMs, &name, UInt32(name.count))
        guard fd >= 0 else {
            throw BPFError(code: .syscall, operation: "connect with TCP_CONGESTION", errno: Errno(rawValue: -fd),
                           detail: "\(congestion) to port \(port)")
        }
        return (fd, String(cString: name))
    }
}

/// An anonymous network namespace held by an fd; closing it destroys the namespace
/// (asynchronously, in the kernel's cleanup_net work).
public final class NetworkNamespace {
    public private(set) var fd: Int32
    /// nsfs inode, as netns link info reports it while attached.
    public let inode: UInt64

    /// bpfs_netns_create: unshare(CLONE_NEWNET) on a helper thread that then exits.
    public init() throws {
        let fd = bpfs_netns_create()
        guard fd >= 0 else {
            throw BPFError(code: .syscall, operation: "unshare(CLONE_NEWNET)", errno: Errno(rawValue: -fd))
        }
        self.fd = fd
        inode = bpfs_netns_inode(fd)
    }

    /// bpfs_netns_loopback: brings lo up inside and makes `connects` TCP connections
    /// there, from a helper thread; returns how many completed.
    public func loopbackTraffic(connects: Int, timeoutMs: Int32 = 2000) throws -> Int {
        let r = bpfs_netns_loopback(fd, Int32(connects), timeoutMs)
        guard r >= 0 else {
            throw BPFError(code: .syscall, operation: "netns loopback traffic", errno: Errno(rawValue: -r))
        }
        return Int(r)
    }

    /// Drops this fd's reference (the namespace dies once nothing else holds it).
    public func close() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    deinit { close() }
}

/// A process placed directly into a cgroup (clone3 CLONE_INTO_CGROUP), used to give a
/// churned cgroup a member to move out before rmdir.
public final class CgroupMember {
    public let pid: pid_t
    private var reaped = false

    /// bpfs_spawn_cgroup_member: the child optionally connects once to loopback `port`
    /// (so programs on the cgroup's connect hooks see it), then sleeps up to `maxMs`.
    public init(cgroupFD: Int32, family: Int32 = AF_INET, connectPort: UInt16 = 0, maxMs: Int32 = 10_000) throws {
        let pid = bpfs_spawn_cgroup_member(cgroupFD, family, connectPort, maxMs)
        guard pid > 0 else {
            throw BPFError(code: .syscall, operation: "clone3(CLONE_INTO_CGROUP)", errno: Errno(rawValue: -pid))
        }
        self.pid = pid
    }

    /// SIGKILL and reap (bpfs_kill_and_reap), bounded. Idempotent.
    public func killAndReap(timeoutMs: Int32 = 2000) throws {
        guard !reaped else { return }
        let rc = bpfs_kill_and_reap(pid, timeoutMs)
        if rc == 0 || rc == -ECHILD { reaped = true; return }
        throw BPFError(code: .syscall, operation: "kill/waitpid", errno: Errno(rawValue: -rc), detail: "pid \(pid)")
    }

    deinit { try? killAndReap() }
}
