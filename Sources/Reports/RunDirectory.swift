import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One run's output directory: `root/<UTC yyyyMMdd'T'HHmmss'Z'>-<seed>/`, plus `root/latest` pointing at it.
public final class RunDirectory {
    public let root: String
    public let path: String
    /// The last path component, which `latest` points to (relative, so the tree can be moved).
    public let name: String

    private init(root: String, name: String) {
        self.root = root; self.name = name; self.path = root + "/" + name
    }

    /// Creates the directory with mkdir(2) (and `root` with its parents). mkdir is the existence test, so two
    /// runs started in the same second with the same seed get `-2`, `-3`… instead of sharing a directory.
    public static func create(root: String, startedAt: Date, seed: UInt64) throws -> RunDirectory {
        try makeDirectories(root)
        let base = dirName(startedAt: startedAt, seed: seed)
        for n in 1...1000 {
            let name = n == 1 ? base : "\(base)-\(n)"
            if mkdir(root + "/" + name, 0o755) == 0 { return RunDirectory(root: root, name: name) }
            let e = errno
            if e != EEXIST { throw ReportIOError(call: "mkdir", path: root + "/" + name, errno: e) }
        }
        throw ReportIOError(call: "mkdir", path: root + "/" + base, errno: EEXIST)
    }

    /// `yyyyMMdd'T'HHmmss'Z'-<seed>` in UTC.
    public static func dirName(startedAt: Date, seed: UInt64) -> String {
        var t = time_t(startedAt.timeIntervalSince1970.rounded(.down))
        var tmv = tm()
        gmtime_r(&t, &tmv)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1,
                      Int(tmv.tm_mday), Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec)) + "-\(seed)"
    }

    /// Atomic write of `name` (may contain subdirectories, created as needed) inside the run directory.
    public func write(_ name: String, _ text: String) throws {
        let full = path + "/" + name
        try Self.makeDirectories(AtomicFile.split(full).dir)
        try AtomicFile.write(text, to: full)
    }

    /// Atomic write of binary or JSON data.
    public func write(_ name: String, data: Data) throws {
        let full = path + "/" + name
        try Self.makeDirectories(AtomicFile.split(full).dir)
        try AtomicFile.write(data, to: full)
    }

    /// Writes `findings/<signature>/dump-1.txt`…`dump-3.txt` and `finding.json` for every bucket.
    public func writeFindings(_ buckets: [FindingBucket]) throws {
        for b in buckets {
            let dir = "findings/" + Self.safeComponent(b.signature)
            for (i, dump) in b.dumps.prefix(BucketStore.maxDumps).enumerated() {
                try write("\(dir)/dump-\(i + 1).txt", dump)
            }
            try write("\(dir)/finding.json", data: try ReportJSON.encode(b))
        }
    }

    /// Points `root/latest` at this run: symlink(2) to a temp name, then rename(2) over `latest`, so a
    /// reader never finds `latest` missing.
    public func updateLatestLink() throws {
        let link = root + "/latest"
        let tmp = root + "/.latest.tmp." + String(getpid())
        unlink(tmp)
        if symlink(name, tmp) != 0 { throw ReportIOError(call: "symlink", path: tmp, errno: errno) }
        if rename(tmp, link) != 0 {
            let e = errno
            unlink(tmp)
            throw ReportIOError(call: "rename", path: link, errno: e)
        }
    }

    /// mkdir -p with mkdir(2); EEXIST on a directory is success.
    static func makeDirectories(_ dir: String) throws {
        var current = dir.hasPrefix("/") ? "" : "."
        for comp in dir.split(separator: "/") {
            current += "/" + comp
            if mkdir(current, 0o755) != 0 {
                let e = errno
                var st = stat()
                if e == EEXIST, stat(current, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { continue }
                throw ReportIOError(call: "mkdir", path: current, errno: e)
            }
        }
    }

    /// Signatures are hex, but a directory name must never escape `findings/`.
    static func safeComponent(_ s: String) -> String {
        let cleaned = String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        return cleaned.isEmpty ? "unsigned" : cleaned
    }
}

/// The run's text log. Lines go to `PATH.tmp` as they come (so a hung run still leaves a log to read);
/// `finish()` renames it to `PATH`.
public final class RunLog: @unchecked Sendable {
    public let path: String
    private let lock = NSLock()
    private var fd: Int32

    /// Opens (truncates) `PATH.tmp` with open(2).
    public init(path: String) throws {
        self.path = path
        let tmp = path + ".tmp"
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        if fd < 0 { throw ReportIOError(call: "open", path: tmp, errno: errno) }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Appends `<UTC ISO-8601 with ms> <s>\n` with one write(2). Thread-safe; ignored after `finish()`.
    public func line(_ s: String) {
        let text = Self.stamp(Date()) + " " + s + "\n"
        lock.lock(); defer { lock.unlock() }
        guard fd >= 0 else { return }
        _ = AtomicFile.writeAll(fd, Data(text.utf8), path: path)
    }

    /// fsync(2), close(2), rename(2) `PATH.tmp` to `PATH`.
    public func finish() throws {
        lock.lock(); defer { lock.unlock() }
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
        fd = -1
        if rename(path + ".tmp", path) != 0 { throw ReportIOError(call: "rename", path: path, errno: errno) }
    }

    static func stamp(_ d: Date) -> String {
        let secs = d.timeIntervalSince1970
        var t = time_t(secs.rounded(.down))
        var tmv = tm()
        gmtime_r(&t, &tmv)
        let ms = min(999, Int((secs - secs.rounded(.down)) * 1000))
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1,
                      Int(tmv.tm_mday), Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec), ms)
    }
}
