// A minimal QMP client over qemu's unix socket: capabilities, inject-nmi, HMP commands.
import CBPFStress
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One QMP connection. Every read is bounded by a timeout, since the guest may be wedged
/// (qemu's monitor still answers when the guest's CPUs do not).
public final class QMPClient {
    let fd: Int32
    var buffer = Data()

    /// Connects to `path` (bpfs_unix_connect: socket(2) + connect(2)), reads the greeting, sends qmp_capabilities.
    /// Retries the connect until `timeout` seconds pass: qemu creates the socket shortly after start.
    public init(path: String, timeout: Double = 5) throws {
        let end = Date().addingTimeInterval(timeout)
        var lastErr: Int32 = 0
        var s: Int32 = -1
        while Date() < end {
            s = bpfs_unix_connect(path)
            if s >= 0 { break }
            lastErr = -s
            if lastErr == ENAMETOOLONG { throw VMError.io("QMP socket path too long: \(path)") }
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
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: cmd))
        bytes.append(0x0A)
        var off = 0, ok = true
        while off < bytes.count {
            let chunk = Array(bytes[off...])
            let n = write(fd, chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { ok = false; break }
            off += n
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
