import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A failed file-system call while writing reports: which call, on which path, and errno.
public struct ReportIOError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let path: String
    public let errno: Int32

    public init(call: String, path: String, errno: Int32) {
        self.call = call; self.path = path; self.errno = errno
    }

    public var description: String { "\(call)(\(path)): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Whole-file writes that readers never see half done: a report is either the old one or the new one,
/// even if bpfstress is killed mid-write (a hung kernel is the normal case here).
public enum AtomicFile {
    /// Writes `data` to a temp file `.NAME.tmp.PID` in the same directory (so rename(2) stays within one
    /// file system), fsync(2)s it, rename(2)s it over `path`, then fsyncs the directory.
    public static func write(_ data: Data, to path: String) throws {
        switch writeResult(data, to: path) {
        case .success: return
        case .failure(let e): throw e
        }
    }

    /// UTF-8 text variant of `write(_:to:)`.
    public static func write(_ text: String, to path: String) throws {
        try write(Data(text.utf8), to: path)
    }

    /// The temp name used for `path`: same directory, hidden, tagged with our pid.
    public static func tempPath(for path: String) -> String {
        let (dir, base) = split(path)
        return dir + "/." + base + ".tmp." + String(getpid())
    }

    static func writeResult(_ data: Data, to path: String) -> Result<Void, ReportIOError> {
        let tmp = tempPath(for: path)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { return .failure(ReportIOError(call: "open", path: tmp, errno: errno)) }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        if case .failure(let e) = writeAll(fd, data, path: tmp) { close(fd); return .failure(e) }
        if fsync(fd) != 0 { let e = errno; close(fd); return .failure(ReportIOError(call: "fsync", path: tmp, errno: e)) }
        if close(fd) != 0 { return .failure(ReportIOError(call: "close", path: tmp, errno: errno)) }
        if rename(tmp, path) != 0 { return .failure(ReportIOError(call: "rename", path: path, errno: errno)) }
        ok = true
        syncDirectory(split(path).dir)
        return .success(())
    }

    /// write(2) until done; retries EINTR and short writes.
    static func writeAll(_ fd: Int32, _ data: Data, path: String) -> Result<Void, ReportIOError> {
        data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) -> Result<Void, ReportIOError> in
            guard let base = buf.baseAddress else { return .success(()) }
            var off = 0
            while off < buf.count {
                let n = Glibc.write(fd, base + off, buf.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    return .failure(ReportIOError(call: "write", path: path, errno: errno))
                }
                off += n
            }
            return .success(())
        }
    }

    /// fsync(2) on the directory makes the rename itself durable; best effort.
    static func syncDirectory(_ dir: String) {
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    static func split(_ path: String) -> (dir: String, base: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }
}
