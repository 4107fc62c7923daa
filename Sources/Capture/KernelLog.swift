import Foundation
import Reports
#if canImport(Glibc)
import Glibc
#endif

/// One kernel splat: WARNING, BUG, hung task, RCU stall, lockup, lockdep report, GPF.
public struct KernelLogReport: Codable, Sendable, Equatable {
    /// The format table's type: hang, lockdep, warning, bug, gpf, kasan.
    public var type: String
    /// syzkaller style: "WARNING in FUNC", "INFO: task hung in FUNC", ...
    public var title: String
    /// Header line plus the trace lines that followed it.
    public var text: String
}

/// Groups a live stream of kernel log lines into reports. Which lines start and end a report,
/// and each report's type and title, come from the same format table `bpfstress triage` uses
/// (Reports.KernelFormats), so a live finding and an offline triage of the same log agree.
/// Pure: fed lines, so it is testable without /dev/kmsg.
public struct KernelLogParser {
    /// Most lines kept per report.
    public static let maxLines = 150
    var current: (format: KernelFormat, lines: [String])?
    var lastLine = Date.distantPast
    /// When the last report ended: a panic line right after it is its tail, not a new report.
    var lastEnded: Date?
    /// How long after a report a trailer (`Kernel panic - not syncing: Fatal exception`) belongs to it.
    public static let trailerWindow: Double = 10

    public init() {}

    /// Feeds lines; returns the reports they completed.
    public mutating func feed(_ lines: [String], now: Date = Date()) -> [KernelLogReport] {
        var done: [KernelLogReport] = []
        for raw in lines {
            let line = ConsoleLine.strip(raw.trimmingCharacters(in: CharacterSet(charactersIn: "\r\n")))
            let head = line.trimmingCharacters(in: .whitespaces)
            if current == nil, let t = lastEnded, now.timeIntervalSince(t) < Self.trailerWindow,
               KernelConsoleParser.isTrailer(head) {
                lastLine = now
                continue
            }
            if let (f, _) = KernelConsoleParser.headerFormat(head) {
                // A header a report absorbs (lockdep's own WARNING line) is not a second report.
                if let c = current, c.format.absorbs.contains(f.type) {
                    current!.lines.append(line)
                } else {
                    if let c = current { done.append(Self.finish(c.lines)) }
                    current = (f, [head])
                }
            } else if current != nil {
                current!.lines.append(line)
                if current!.lines.count >= 2 && KernelConsoleParser.isEndMarker(line) || current!.lines.count >= Self.maxLines {
                    done.append(Self.finish(current!.lines))
                    current = nil
                    lastEnded = now
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
        return [Self.finish(c.lines)]
    }

    static func finish(_ lines: [String]) -> KernelLogReport {
        let text = lines.joined(separator: "\n")
        guard let r = KernelConsoleParser.parse(text).first else {
            return KernelLogReport(type: "kernel", title: lines.first ?? "kernel report", text: text)
        }
        return KernelLogReport(type: r.type, title: r.title, text: text)
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
