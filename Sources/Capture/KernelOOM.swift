// Names an OOM kill from the kernel log: "Out of memory: Killed process PID (comm)".
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A worker that died by SIGKILL that nobody here sent was most likely chosen by the OOM
/// killer; the kernel says so in its log, and the death reason should too.
public enum KernelOOM {
    /// The OOM killer's line for `pid` in one /dev/kmsg message ("Out of memory: Killed process
    /// 123 (bpfs.0.mp) total-vm:...", or the "Memory cgroup out of memory: " form), cut after
    /// the command name; nil when the message is about another process or something else.
    public static func match(_ message: String, pid: Int32) -> String? {
        guard let r = message.range(of: "Killed process \(pid) (") else { return nil }
        let head = message[..<r.lowerBound]
        guard head.hasSuffix("out of memory: ") || head.hasSuffix("Out of memory: ") else { return nil }
        let tail = message[r.upperBound...]
        guard let close = tail.firstIndex(of: ")") else { return nil }
        return String(message[..<tail.index(after: close)])
    }

    /// Reads the kernel's ring buffer (/dev/kmsg from its first record, O_NONBLOCK, at most
    /// `maxRecords`) and returns the OOM killer's line for `pid`, if any. Messages written from
    /// user space count only when `includeUser` (tests prove the path that way).
    public static func killLine(pid: Int32, includeUser: Bool = false, maxRecords: Int = 200_000) -> String? {
        guard let reader = try? KmsgReader(fromEnd: false) else { return nil }
        // The latest matching line wins.
        return reader.messages(limit: maxRecords, includeUser: includeUser).compactMap { match($0, pid: pid) }.last
    }
}
