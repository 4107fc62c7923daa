import Glibc
import SystemPackage

/// The one error type of BPFKit: which operation failed, with which errno, and why.
public struct BPFError: Error, CustomStringConvertible, Equatable {
    /// Stable category of a failure (reports group on it; do not rename).
    public enum Code: String, Sendable {
        case syscall, loader, elf, probe, cgroup, io, unsupported
    }

    public let code: Code
    /// e.g. "BPF_PROG_ATTACH", "open object", "cgroup rmdir".
    public let operation: String
    public let errno: Errno?
    /// e.g. the verifier log tail, or a path. May span lines; `description` flattens it.
    public let detail: String

    public init(code: Code, operation: String, errno: Errno? = nil, detail: String = "") {
        self.code = code
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    /// A failed bpf(2) command (`rc` is the wrapper's -errno result).
    static func syscall(_ operation: String, _ rc: Int32, detail: String = "") -> BPFError {
        BPFError(code: .syscall, operation: operation, errno: Errno(rawValue: -rc), detail: detail)
    }

    /// One line: "BPF_PROG_ATTACH failed: EINVAL (Invalid argument)" plus a flattened
    /// detail in brackets, or "open object failed: <detail>" when there is no errno.
    public var description: String {
        var s = "\(operation) failed: "
        let flat = BPFError.oneLine(detail)
        if let e = errno {
            s += "\(errnoName(e.rawValue)) (\(errnoText(e.rawValue)))"
            if !flat.isEmpty { s += " [\(flat)]" }
        } else {
            s += flat.isEmpty ? "unknown error" : flat
        }
        return s
    }

    /// Joins non-empty lines with " | " and caps the length, so reports stay one line.
    static func oneLine(_ text: String, limit: Int = 400) -> String {
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.trimmingSpaces() }
            .filter { !$0.isEmpty }
        var joined = lines.joined(separator: " | ")
        if joined.count > limit { joined = "…" + String(joined.suffix(limit)) }
        return joined
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// Symbolic errno name ("EINVAL"); includes the kernel-internal ENOTSUPP (524)
/// that bpf(2) leaks for unimplemented batch operations.
public func errnoName(_ code: Int32) -> String {
    switch code {
    case EPERM: return "EPERM"
    case ENOENT: return "ENOENT"
    case ESRCH: return "ESRCH"
    case EINTR: return "EINTR"
    case EIO: return "EIO"
    case ENXIO: return "ENXIO"
    case E2BIG: return "E2BIG"
    case ENOEXEC: return "ENOEXEC"
    case EBADF: return "EBADF"
    case ECHILD: return "ECHILD"
    case EAGAIN: return "EAGAIN"
    case ENOMEM: return "ENOMEM"
    case EACCES: return "EACCES"
    case EFAULT: return "EFAULT"
    case EBUSY: return "EBUSY"
    case EEXIST: return "EEXIST"
    case EXDEV: return "EXDEV"
    case ENODEV: return "ENODEV"
    case ENOTDIR: return "ENOTDIR"
    case EISDIR: return "EISDIR"
    case EINVAL: return "EINVAL"
    case ENFILE: return "ENFILE"
    case EMFILE: return "EMFILE"
    case ENOTTY: return "ENOTTY"
    case EFBIG: return "EFBIG"
    case ENOSPC: return "ENOSPC"
    case ESPIPE: return "ESPIPE"
    case EROFS: return "EROFS"
    case EPIPE: return "EPIPE"
    case ERANGE: return "ERANGE"
    case EDEADLK: return "EDEADLK"
    case ENAMETOOLONG: return "ENAMETOOLONG"
    case ENOSYS: return "ENOSYS"
    case ENOTEMPTY: return "ENOTEMPTY"
    case ELOOP: return "ELOOP"
    case ENODATA: return "ENODATA"
    case EOVERFLOW: return "EOVERFLOW"
    case EBADFD: return "EBADFD"
    case EOPNOTSUPP: return "EOPNOTSUPP"
    case EADDRINUSE: return "EADDRINUSE"
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL"
    case ECONNREFUSED: return "ECONNREFUSED"
    case ETIMEDOUT: return "ETIMEDOUT"
    case EALREADY: return "EALREADY"
    case EINPROGRESS: return "EINPROGRESS"
    case ECANCELED: return "ECANCELED"
    case EPROTO: return "EPROTO"
    case EAFNOSUPPORT: return "EAFNOSUPPORT"
    case 524: return "ENOTSUPP"
    default: return "E\(code)"
    }
}

/// strerror text; ENOTSUPP (524) has none in libc.
public func errnoText(_ code: Int32) -> String {
    if code == 524 { return "Operation not supported (kernel ENOTSUPP)" }
    return String(cString: strerror(code))
}
