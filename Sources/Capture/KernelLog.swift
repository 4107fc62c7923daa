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

/// The one reader of /dev/kmsg records (O_RDONLY|O_NONBLOCK): the live watcher reads from the
/// end, the OOM lookup from the first record. Each read(2) returns one record,
/// "PRI,SEQ,TS,FLAGS;message\n KEY=value...".
public final class KmsgReader {
    private let fd: Int32
    /// Records lost because the ring buffer wrapped under the reader (read gave EPIPE).
    public private(set) var lostRecords = 0

    /// Opens /dev/kmsg; `fromEnd` seeks to its end (SEEK_END), so only later records are read.
    public init(fromEnd: Bool) throws {
        fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { throw CaptureError.system("open /dev/kmsg", errno) }
        if fromEnd && lseek(fd, 0, SEEK_END) < 0 {
            let e = errno
            close(fd)
            throw CaptureError.system("lseek /dev/kmsg", e)
        }
    }

    deinit { close(fd) }

    /// The messages of up to `limit` new records, each cut at its first newline (the " KEY=value"
    /// continuation lines dropped); records from user space (facility != 0) only with `includeUser`.
    public func messages(limit: Int, includeUser: Bool) -> [String] {
        var out: [String] = []
        var buf = [UInt8](repeating: 0, count: 8192)
        for _ in 0..<limit {
            let n = read(fd, &buf, buf.count)
            if n < 0 {
                if errno == EPIPE { lostRecords += 1; continue } // overwritten; the next read resyncs
                if errno == EINTR { continue }
                break // EAGAIN: caught up
            }
            if n == 0 { break }
            let rec = String(decoding: buf[0..<n], as: UTF8.self)
            guard let semi = rec.firstIndex(of: ";") else { continue }
            let pri = Int(rec[..<semi].split(separator: ",").first ?? "") ?? 0
            if pri >> 3 != 0 && !includeUser { continue }
            out.append(String(rec[rec.index(after: semi)...].split(separator: "\n", omittingEmptySubsequences: false).first ?? ""))
        }
        return out
    }
}

/// Reads /dev/kmsg from the moment it was created (earlier messages are skipped) and turns
/// kernel splats into reports. Non-blocking; call `poll()` periodically.
public final class KernelLogWatcher {
    private let reader: KmsgReader
    private var parser = KernelLogParser()
    /// A report still collecting lines is returned once no line came for this long.
    public var quietSeconds: Double = 1
    /// Also parse messages written from user space (facility != kernel). Tests use it.
    public var includeUserMessages = false
    /// Records lost because the ring buffer wrapped between polls.
    public var lostRecords: Int { reader.lostRecords }

    /// Opens /dev/kmsg and seeks to its end.
    public init() throws { reader = try KmsgReader(fromEnd: true) }

    /// Reads every new record (bounded) and returns the reports completed so far.
    public func poll() -> [KernelLogReport] {
        let lines = reader.messages(limit: 20000, includeUser: includeUserMessages).map(KernelLogWatcher.unescape)
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
