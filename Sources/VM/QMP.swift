// A minimal QMP client over qemu's unix socket: capabilities, inject-nmi, HMP commands.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One QMP connection. Every read is bounded by a timeout, since the guest may be wedged
/// (qemu's monitor still answers when the guest's CPUs do not).
public final class QMPClient {
    let fd: Int32
    var buffer = Data()

    /// Connects to `path` (socket(2) + connect(2)), reads the greeting, sends qmp_capabilities.
    /// Retries the connect until `timeout` seconds pass: qemu creates the socket shortly after start.
    public init(path: String, timeout: Double = 5) throws {
        let end = Date().addingTimeInterval(timeout)
        var lastErr: Int32 = 0
        var s: Int32 = -1
        while Date() < end {
            s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard s >= 0 else { throw VMError.io("socket: errno \(errno)") }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(s); throw VMError.io("QMP socket path too long: \(path)") }
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                for (i, b) in bytes.enumerated() { raw[i] = b }
                raw[bytes.count] = 0
            }
            let r = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if r == 0 { break }
            lastErr = errno
            close(s); s = -1
            usleep(50_000)
        }
        guard s >= 0 else { throw VMError.io("QMP connect \(path): errno \(lastErr)") }
        fd = s
        _ = try readMessage(timeout: timeout)  // {"QMP": {...}}
        _ = try execute("qmp_capabilities", timeout: timeout)
    }

    deinit { close(fd) }

    /// Sends `{"execute": name, "arguments": ...}` and returns the `return` value; a QMP error throws.
    @discardableResult
    public func execute(_ name: String, arguments: [String: Any]? = nil, timeout: Double = 5) throws -> Any? {
        var cmd: [String: Any] = ["execute": name]
        if let a = arguments { cmd["arguments"] = a }
        var data = try JSONSerialization.data(withJSONObject: cmd)
        data.append(0x0A)
        let ok = data.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                off += n
            }
            return true
        }
        guard ok else { throw VMError.io("QMP write: errno \(errno)") }
        let end = Date().addingTimeInterval(timeout)
        while true {
            let msg = try readMessage(timeout: end.timeIntervalSinceNow)
            if msg["event"] != nil { continue }  // asynchronous events interleave with replies
            if let e = msg["error"] as? [String: Any] { throw VMError.io("QMP \(name): \(e["desc"] ?? e)") }
            return msg["return"]
        }
    }

    /// An HMP command through QMP's human-monitor-command (e.g. `info registers -a`).
    public func hmp(_ line: String, timeout: Double = 10) throws -> String {
        (try execute("human-monitor-command", arguments: ["command-line": line], timeout: timeout) as? String) ?? ""
    }

    /// One JSON object per line.
    func readMessage(timeout: Double) throws -> [String: Any] {
        let end = Date().addingTimeInterval(max(0, timeout))
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<nl]
                buffer.removeSubrange(buffer.startIndex...nl)
                if line.isEmpty { continue }
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                    throw VMError.io("QMP: unreadable reply")
                }
                return obj
            }
            let left = end.timeIntervalSinceNow
            guard left > 0 else { throw VMError.io("QMP: no reply within the timeout") }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = Glibc.poll(&pfd, 1, Int32(min(left, 1) * 1000) + 1)
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { continue }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = read(fd, &buf, buf.count)
            if n <= 0 { throw VMError.io("QMP: connection closed") }
            buffer.append(contentsOf: buf[0..<n])
        }
    }
}
