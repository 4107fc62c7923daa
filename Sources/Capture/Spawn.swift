import CBPFCapture
import Foundation
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Process spawning used by the supervisor, the bench and the capture tests.
public enum Spawn {
    /// Starts argv in its own process group with default signal dispositions. Child fd i is
    /// fds[i] (-1: /dev/null); all other fds are closed. env nil: inherit.
    /// gateFD: the child waits for one byte on it before execve (see bpfs_spawn).
    /// Wraps bpfs_spawn (fork + execve).
    public static func start(_ argv: [String], env: [String: String]? = nil, fds: [Int32] = [-1, -1, -1],
                             gateFD: Int32 = -1) throws -> Int32 {
        let argBlob = blob(argv)
        let envList = env.map { $0.map { "\($0.key)=\($0.value)" }.sorted() }
        let envBlob = blob(envList ?? [])
        let pid = bpfs_spawn(argBlob, Int32(argv.count), envBlob, Int32(envList?.count ?? -1), fds, Int32(fds.count), gateFD)
        if pid < 0 { throw Errno(rawValue: -pid) }
        return pid
    }

    static func blob(_ strings: [String]) -> [CChar] {
        var out: [CChar] = []
        for s in strings { out += s.utf8CString }
        out.append(0)
        return out
    }

    /// A pipe whose both ends are close-on-exec (Glibc has no pipe2). Wraps pipe2(2).
    public static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        let r = bpfs_pipe_cloexec(&fds)
        if r < 0 { throw Errno(rawValue: -r) }
        return (fds[0], fds[1])
    }

    /// A close-on-exec AF_UNIX stream socketpair (crash notify + release channel). Wraps socketpair(2).
    public static func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        let r = bpfs_socketpair_cloexec(&fds)
        if r < 0 { throw Errno(rawValue: -r) }
        return (fds[0], fds[1])
    }

    /// waitpid(pid, &status, __WALL [|WNOHANG]): (pid or 0, raw status). Throws the errno.
    public static func wait(_ pid: Int32, noHang: Bool = false) throws -> (pid: Int32, status: Int32) {
        var st: Int32 = 0
        let r = bpfs_waitpid(pid, &st, noHang ? 1 : 0)
        if r < 0 { throw Errno(rawValue: -r) }
        return (r, st)
    }

    /// Waits at most `timeout` seconds for pid to end; nil if it did not.
    public static func wait(_ pid: Int32, timeout: Double) -> Int32? {
        let end = Date().addingTimeInterval(timeout)
        repeat {
            if let r = try? wait(pid, noHang: true), r.pid == pid, !WaitStatus(r.status).stopped { return r.status }
            usleep(2000)
        } while Date() < end
        return nil
    }
}

/// Decoded waitpid status (the W* macros are not importable into Swift).
public struct WaitStatus: Equatable, Sendable {
    public var raw: Int32
    public init(_ raw: Int32) { self.raw = raw }
    public var exited: Bool { raw & 0x7f == 0 }
    public var exitCode: Int32 { (raw >> 8) & 0xff }
    public var signaled: Bool { ((raw & 0x7f) + 1) >> 1 > 0 && raw & 0x7f != 0x7f && raw & 0x7f != 0 }
    public var termSignal: Int32 { raw & 0x7f }
    public var stopped: Bool { raw & 0xff == 0x7f }
    public var stopSignal: Int32 { (raw >> 8) & 0xff }
    /// PTRACE_EVENT_* in the high bits of a ptrace stop.
    public var event: Int32 { (raw >> 16) & 0xffff }
}
