import Basics
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
            s += "\(ErrnoName.name(e.rawValue)) (\(ErrnoName.text(e.rawValue)))"
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

extension Errno {
    /// The kernel-internal ENOTSUPP (524), which bpf(2) leaks for commands a map type lacks.
    public static let kernelNotSupported = Errno(rawValue: ENOTSUPP)
}
