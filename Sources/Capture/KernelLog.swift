import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One kernel splat: WARNING, BUG, hung task, RCU stall, lockup, lockdep report, GPF.
public struct KernelLogReport: Codable, Sendable, Equatable {
    /// "warning", "bug", "hung-task", "rcu-stall", "soft-lockup", "hard-lockup", "lockdep", "gpf", "panic".
    public var type: String
    /// syzkaller style: "WARNING in FUNC", "INFO: task hung in FUNC", ...
    public var title: String
    /// Header line plus the trace lines that followed it.
    public var text: String
}

/// Groups kernel log lines into reports. Pure: fed lines, so it is testable without /dev/kmsg.
public struct KernelLogParser {
    /// Most lines kept per report.
    public static let maxLines = 150
    var current: (type: String, lines: [String])?
    var lastLine = Date.distantPast

    public init() {}

    static let headers: [(type: String, match: (String) -> Bool)] = [
        ("lockdep", { $0.contains("possible circular locking dependency detected") }),
        ("hung-task", { $0.contains("INFO: task ") && $0.contains(" blocked for more than") }),
        ("rcu-stall", { $0.contains("detected stalls on CPUs") || $0.contains("self-detected stall on CPU")
                        || ($0.contains("rcu: INFO:") && $0.contains("detected stall")) }),
        ("soft-lockup", { $0.contains("BUG: soft lockup") }),
        ("hard-lockup", { $0.contains("hard LOCKUP") }),
        ("gpf", { $0.contains("general protection fault") }),
        ("warning", { $0.hasPrefix("WARNING:") }),
        ("bug", { $0.hasPrefix("BUG:") || $0.contains("] BUG:") }),
        ("panic", { $0.hasPrefix("Kernel panic - not syncing") }),
    ]

    static func headerType(_ line: String) -> String? {
        let l = line.trimmingCharacters(in: .whitespaces)
        // A WARNING line inside a lockdep report is the report's own header.
        return headers.first { $0.match(l) }?.type
    }

    /// Feeds lines; returns the reports they completed.
    public mutating func feed(_ lines: [String], now: Date = Date()) -> [KernelLogReport] {
        var done: [KernelLogReport] = []
        for raw in lines {
            let line = raw.trimmingCharacters(in: CharacterSet(charactersIn: "\r\n"))
            if let t = KernelLogParser.headerType(line) {
                // lockdep prints "WARNING: possible circular locking..." once: not a second report.
                if let c = current, !(c.type == "lockdep" && t == "lockdep") { done.append(KernelLogParser.finish(c)) ; current = nil }
                if current == nil { current = (t, [line]) }
            } else if current != nil {
                if line.contains("---[ end trace") || line.contains("---[ end Kernel panic") {
                    current!.lines.append(line)
                    done.append(KernelLogParser.finish(current!))
                    current = nil
                } else {
                    current!.lines.append(line)
                    if current!.lines.count >= KernelLogParser.maxLines {
                        done.append(KernelLogParser.finish(current!)); current = nil
                    }
                }
            }
            lastLine = now
        }
        return done
    }

    /// Ends the open report if nothing came for `quiet` seconds (or always, with quiet 0).
    public mutating func flush(quiet: Double = 0, now: Date = Date()) -> [KernelLogReport] {
        guard let c = current, now.timeIntervalSince(lastLine) >= quiet else { return [] }
        current = nil
        return [KernelLogParser.finish(c)]
    }

    /// Frames of a trace, innermost first, without "? " (unreliable) entries: "func+0x1/0x2".
    static func traceFunctions(_ lines: [String]) -> [String] {
        lines.compactMap { l -> String? in
            let t = l.trimmingCharacters(in: .whitespaces)
            guard !t.hasPrefix("?"), !t.hasPrefix("RIP:"), let f = functionToken(t), t.hasPrefix(f) else { return nil }
            return f
        }
    }

    /// "name" from the first "name+0x12/0x40" token of s.
    static func functionToken(_ s: String) -> String? {
        guard let r = s.range(of: #"[A-Za-z_][A-Za-z0-9_.]*\+0x[0-9a-f]+/0x[0-9a-f]+"#, options: .regularExpression) else { return nil }
        let tok = s[r]
        return String(tok[..<tok.firstIndex(of: "+")!])
    }

    static func ripFunction(_ lines: [String]) -> String? {
        for l in lines where l.contains("RIP: ") {
            if let r = l.range(of: "RIP: "), let f = functionToken(String(l[r.upperBound...])) { return f }
        }
        return nil
    }

    /// Kernel frames that only say "this task waits" or "this is the report machinery".
    static let kernelPlumbing = ["__schedule", "schedule", "schedule_timeout", "schedule_preempt_disabled",
                                 "io_schedule", "__mutex_lock", "mutex_lock", "__mutex_lock_slowpath", "rwsem_down",
                                 "down_", "__down", "wait_for_completion", "__wait_for_common", "do_wait_for_common",
                                 "__wait_rcu_gp", "synchronize_rcu", "__synchronize_srcu", "_raw_spin_lock",
                                 "queued_spin_lock_slowpath", "native_queued_spin_lock_slowpath", "do_raw_spin_lock",
                                 "lock_acquire", "__lock_acquire", "dump_stack", "__warn", "warn_", "report_bug",
                                 "handle_bug", "exc_", "asm_exc_", "show_stack", "panic", "watchdog", "kasan_",
                                 "__kasan", "print_report", "__x64_sys_", "do_syscall_64", "x64_sys_call",
                                 "entry_SYSCALL", "ret_from_fork", "kthread", "worker_thread", "process_one_work",
                                 "rcu_", "lockdep_", "print_", "check_", "validate_chain", "__bfs"]

    static func firstMeaningful(_ lines: [String]) -> String? {
        traceFunctions(lines).first { f in !kernelPlumbing.contains { f == $0 || f.hasPrefix($0) } }
    }

    static func title(type: String, lines: [String]) -> String {
        let head = lines.first?.trimmingCharacters(in: .whitespaces) ?? ""
        let rest = Array(lines.dropFirst())
        let rip = ripFunction(rest)
        func inFunc(_ prefix: String, _ f: String?) -> String { f.map { "\(prefix) in \($0)" } ?? prefix }
        switch type {
        case "warning":
            // "WARNING: CPU: 0 PID: 1 at file:line func+0x/0x" (older) or "WARNING: file:line at func+0x/0x, CPU#.." (6.18).
            if let at = head.range(of: " at ") {
                let after = String(head[at.upperBound...])
                if let f = functionToken(after) ?? rip { return "WARNING in \(f)" }
            }
            let what = String(head.dropFirst("WARNING: ".count)).trimmingCharacters(in: .whitespaces)
            return inFunc("WARNING: \(what)", firstMeaningful(rest))
        case "lockdep":
            let acquire = rest.first { $0.contains("at: ") }.flatMap { l in
                l.range(of: "at: ").flatMap { functionToken(String(l[$0.upperBound...])) }
            }
            return inFunc("possible deadlock", acquire ?? firstMeaningful(rest))
        case "hung-task":
            return inFunc("INFO: task hung", firstMeaningful(rest))
        case "rcu-stall":
            return inFunc("INFO: rcu detected stall", rip ?? firstMeaningful(rest))
        case "soft-lockup":
            return inFunc("BUG: soft lockup", rip ?? firstMeaningful(rest))
        case "hard-lockup":
            return inFunc("BUG: hard lockup", rip ?? firstMeaningful(rest))
        case "gpf":
            return inFunc("general protection fault", rip ?? firstMeaningful(rest))
        case "panic":
            return "kernel panic"
        default: // BUG: ...
            var what = String(head[(head.range(of: "BUG: ")?.upperBound ?? head.startIndex)...])
            if what.hasPrefix("KASAN: ") || what.hasPrefix("KFENCE: ") || what.hasPrefix("KMSAN: ") {
                // "KASAN: slab-out-of-bounds in func+0x/0x": syzkaller keeps the kind and function.
                if let r = what.range(of: " in "), let f = functionToken(String(what[r.upperBound...])) {
                    return "\(what[..<r.lowerBound]) in \(f)"
                }
                return what
            }
            for sep in [",", " at ", " - ", ":"] { if let r = what.range(of: sep) { what = String(what[..<r.lowerBound]) } }
            // No addresses or counts in titles.
            what = what.replacingOccurrences(of: #"\s*(0x)?[0-9a-f]{8,}"#, with: "", options: .regularExpression)
            return inFunc("BUG: \(what)", rip ?? firstMeaningful(rest))
        }
    }

    static func finish(_ c: (type: String, lines: [String])) -> KernelLogReport {
        KernelLogReport(type: c.type, title: title(type: c.type, lines: c.lines), text: c.lines.joined(separator: "\n"))
    }
}

/// Reads /dev/kmsg from the moment it was created (earlier messages are skipped) and turns
/// kernel splats into reports. Non-blocking; call `poll()` periodically.
public final class KernelLogWatcher {
    private var fd: Int32
    private var parser = KernelLogParser()
    /// A report still collecting lines is returned once no line came for this long.
    public var quietSeconds: Double = 1
    /// Also parse messages written from user space (facility != kernel). Tests use it.
    public var includeUserMessages = false
    /// Records lost because the ring buffer wrapped between polls.
    public private(set) var lostRecords = 0

    /// Opens /dev/kmsg (O_RDONLY|O_NONBLOCK) and seeks to its end (SEEK_END).
    public init() throws {
        fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { throw CaptureError.system("open /dev/kmsg", errno) }
        if lseek(fd, 0, SEEK_END) < 0 {
            let e = errno
            close(fd)
            throw CaptureError.system("lseek /dev/kmsg", e)
        }
    }

    deinit { close(fd) }

    /// Reads every new record (bounded) and returns the reports completed so far.
    public func poll() -> [KernelLogReport] {
        var lines: [String] = []
        var buf = [UInt8](repeating: 0, count: 8192)
        for _ in 0..<20000 {
            let n = read(fd, &buf, buf.count)
            if n < 0 {
                if errno == EPIPE { lostRecords += 1; continue } // overwritten; next read resyncs
                if errno == EINTR { continue }
                break // EAGAIN: caught up
            }
            if n == 0 { break }
            let rec = String(decoding: buf[0..<n], as: UTF8.self)
            guard let semi = rec.firstIndex(of: ";") else { continue }
            let prefix = rec[..<semi].split(separator: ",")
            let pri = Int(prefix.first ?? "") ?? 0
            if pri >> 3 != 0 && !includeUserMessages { continue }
            // Message is up to the first newline; " KEY=value" continuation lines follow.
            let msg = rec[rec.index(after: semi)...].split(separator: "\n", omittingEmptySubsequences: false).first ?? ""
            lines.append(KernelLogWatcher.unescape(String(msg)))
        }
        var reports = parser.feed(lines)
        reports += parser.flush(quiet: quietSeconds)
        return reports
    }

    /// Ends the report in progress (end of run).
    public func finish() -> [KernelLogReport] {
        poll() + parser.flush(quiet: 0)
    }

    /// /dev/kmsg escapes non-printable bytes as \xNN.
    static func unescape(_ s: String) -> String {
        guard s.contains("\\x") else { return s }
        return s.replacingOccurrences(of: #"\\x0a"#, with: " ", options: .regularExpression)
    }
}

/// Errors thrown by the Capture module's throwing API.
public enum CaptureError: Error, CustomStringConvertible {
    case system(String, Int32)
    public var description: String {
        switch self { case .system(let what, let e): return "\(what): \(String(cString: strerror(e)))" }
    }
}
