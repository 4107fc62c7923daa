import Glibc
import SystemPackage
import XCTest
@testable import BPFKit

/// Runs `args` with posix_spawn and waits at most `timeout` seconds (kills by pid after).
func runProcess(_ args: [String], timeout: Double = 10) throws -> Int32 {
    var pid: pid_t = 0
    var cargs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { cargs.forEach { free($0) } }
    let rc = posix_spawn(&pid, args[0], nil, nil, &cargs, environ)
    guard rc == 0 else { throw BPFError(code: .io, operation: "posix_spawn", errno: Errno(rawValue: rc), detail: args[0]) }
    let deadline = FileUtil.monotonicNs() + UInt64(timeout * 1e9)
    var status: Int32 = 0
    while waitpid(pid, &status, WNOHANG) == 0 {
        if FileUtil.monotonicNs() > deadline {
            kill(pid, SIGKILL)
            _ = waitpid(pid, &status, 0)
            XCTFail("\(args) timed out")
            return -1
        }
        usleep(2_000)
    }
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// A TCP listener on loopback (port chosen by the kernel); connects complete in the backlog.
final class LoopbackListener {
    let fd: Int32
    let port: UInt16

    init(ipv6: Bool) throws {
        let family = ipv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BPFError(code: .io, operation: "socket", errno: Errno(rawValue: errno)) }
        var rc: Int32
        if ipv6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_addr = in6addr_loopback
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_addr.s_addr = inet_addr("127.0.0.1")
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard rc == 0, listen(fd, 128) == 0 else { close(fd); throw BPFError(code: .io, operation: "bind/listen", errno: Errno(rawValue: errno)) }
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let portBE: UInt16 = withUnsafeBytes(of: &ss) { raw in raw.load(fromByteOffset: 2, as: UInt16.self) }
        self.fd = fd
        port = UInt16(bigEndian: portBE)
    }

    deinit { close(fd) }
}

private var cgroupCounter = 0

/// A unique campaign cgroup name for this test process.
func uniqueCgroupName(_ tag: String) -> String {
    cgroupCounter += 1
    return "bpfstress-test-\(tag)-\(getpid())-\(cgroupCounter)"
}

/// Errno of a thrown BPFError (fails the test for other errors).
func bpfErrno(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> Errno? {
    do {
        try body()
        XCTFail("expected an error", file: file, line: line)
        return nil
    } catch let e as BPFError {
        return e.errno
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
        return nil
    }
}

/// The BPFError thrown by `body` (fails the test otherwise).
func bpfError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> BPFError? {
    do {
        try body()
        XCTFail("expected an error", file: file, line: line)
        return nil
    } catch let e as BPFError {
        return e
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
        return nil
    }
}
