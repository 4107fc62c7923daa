// Findings that did not fit a slot's shared-memory mailbox, kept in a per-slot file.
import Foundation
import Glibc

/// One finding as the worker wrote it: the fields of `bpfs_finding_tm`, untruncated.
public struct SpilledFinding: Codable, Sendable, Equatable {
    public var tid: Int32
    public var check: UInt32
    public var errno: Int32
    public var kind: UInt32
    public var title: String
    public var text: String
}

/// `<state dir>/findings-s<slot>.jsonl`: one JSON object a line, appended with one write(2)
/// on an O_APPEND descriptor, so that lines of racing threads never interleave. The
/// coordinator reads what is new on every tick and keeps a partial last line for later.
public enum FindingSpill {
    static let lock = NSLock()
    nonisolated(unsafe) static var fds: [String: Int32] = [:]

    public static func path(directory: String, slot: Int) -> String { directory + "/findings-s\(slot).jsonl" }

    /// Worker side. False when there is no state directory or the write failed (the caller
    /// counts the finding as lost, so the report can say so).
    @discardableResult
    public static func append(directory: String?, slot: Int, _ f: SpilledFinding) -> Bool {
        guard let dir = directory, var line = try? JSONEncoder().encode(f) else { return false }
        line.append(0x0A)
        let p = path(directory: dir, slot: slot)
        lock.lock()
        var fd = fds[p] ?? -1
        if fd < 0 {
            fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            if fd >= 0 { fds[p] = fd }
        }
        lock.unlock()
        guard fd >= 0 else { return false }
        return line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == line.count
    }

    /// Coordinator side: the complete lines past `offset`, and the offset after the last one.
    public static func read(directory: String, slot: Int, from offset: Int) -> (findings: [SpilledFinding], offset: Int) {
        guard let h = FileHandle(forReadingAtPath: path(directory: directory, slot: slot)) else { return ([], offset) }
        defer { try? h.close() }
        guard (try? h.seek(toOffset: UInt64(offset))) != nil, let data = try? h.readToEnd(), !data.isEmpty else {
            return ([], offset)
        }
        guard let lastNewline = data.lastIndex(of: 0x0A) else { return ([], offset) }
        let complete = data[data.startIndex...lastNewline]
        var out: [SpilledFinding] = []
        let decoder = JSONDecoder()
        for line in complete.split(separator: 0x0A) {
            if let f = try? decoder.decode(SpilledFinding.self, from: Data(line)) { out.append(f) }
        }
        return (out, offset + complete.count)
    }
}

/// The names of the files a worker leaves through `WorkerContext.leaveState`.
public enum WorkerState {
    /// The state directory's subdirectory whose files go into the run directory.
    public static let reportFiles = "report"
    public static func fileName(slot: Int, pid: pid_t, name: String) -> String { "state-s\(slot)-\(pid)-\(name)" }
    public static func prefix(slot: Int, pid: pid_t? = nil) -> String { "state-s\(slot)-" + (pid.map { "\($0)-" } ?? "") }
}
