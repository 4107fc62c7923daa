import Basics
import CBPFStress
import Foundation

/// Address family of loopback traffic; the raw values are AF_INET / AF_INET6.
public enum IPFamily: Int32, Sendable, CustomStringConvertible {
    case v4 = 2
    case v6 = 10
    public var description: String { self == .v4 ? "v4" : "v6" }
}

/// A TCP listener on 127.0.0.1 or ::1 used by exactly one worker thread, so that the
/// connects it receives (and the per-port counters) belong to that thread alone.
public final class LoopbackListener {
    public let family: IPFamily
    public let port: UInt16
    public let fd: Int32

    /// bpfs_tcp_listen: socket + bind(loopback:0) + listen.
    public init(family: IPFamily) throws {
        var port: UInt16 = 0
        let fd = bpfs_tcp_listen(family.rawValue, &port)
        guard fd >= 0 else { throw StressError.system("listen on \(family) loopback", -fd) }
        self.family = family
        self.port = port
        self.fd = fd
    }

    deinit { close(fd) }

    /// One full TCP connect to this listener and its accept, both sides closed after.
    /// Throws with the connect or accept errno (ETIMEDOUT after `timeoutMs`).
    public func connectOnce(timeoutMs: Int32 = 2000) throws {
        let c = bpfs_tcp_connect(family.rawValue, port, timeoutMs)
        guard c >= 0 else { throw StressError(.system, "connect", errno: -c) }
        defer { close(c) }
        let a = bpfs_tcp_accept(fd, timeoutMs)
        guard a >= 0 else { throw StressError(.system, "accept", errno: -a) }
        close(a)
    }
}
