import Foundation
import Reports
#if canImport(Glibc)
import Glibc
#endif

/// Which parser a file goes to.
public enum InputFormat: String, Sendable {
    case findingJSON = "finding.json", bpfstressDump = "bpfstress-dump", gdb, euStack = "eu-stack", windbg, console
}

/// The run a report belongs to: a bpfstress run directory (has summary.json), else the file itself.
public struct TriageRun: Sendable, Hashable {
    public var id: String
    public var time: Date
}

/// One bucket over every input: reports with one signature.
public struct TriageBucket: Sendable, Equatable {
    public var signature: String
    public var type: String
    public var title: String
    public var frame: String
    /// Occurrences (sum of the reports' counts).
    public var count: Int
    /// Distinct runs it appeared in.
    public var runs: Int
    public var firstSeen: Date
    public var lastSeen: Date
    /// True when its first run is the latest run of all inputs.
    public var isNew: Bool
    /// The dump to read first: an uncorrupted one from the latest run when there is one.
    public var exampleFile: String
    public var corrupted: Bool
    /// The example's culprit file:line (with --vmlinux).
    public var location: String? = nil
}

public enum Triage {
    /// Report types of kernel console reports (the ones --vmlinux can place).
    public static let kernelTypes: Set<String> = ["hang", "lockdep", "warning", "bug", "gpf", "panic", "trap", "kasan", "kmsan",
                                                  "kfence", "kcsan", "ubsan", "netdev", "other"]
    /// Files a bpfstress run writes that are not findings (the findings are in findings/).
    static let ignoredNames: Set<String> = ["summary.json", "junit.xml", "run.log", "run.log.tmp", "index.html"]
    /// Inputs larger than this are read only up to it.
    public static let maxFileBytes = 32 << 20

    public static func detect(name: String, text: String) -> InputFormat {
        if name == "finding.json" { return .findingJSON }
        if UserStackParser.looksLikeBPFStressDump(text) { return .bpfstressDump }
        if UserStackParser.looksLikeGDB(text) { return .gdb }
        if UserStackParser.looksLikeEUStack(text) { return .euStack }
        if WinDbgParser.looksLikeWinDbg(text) { return .windbg }
        return .console
    }

    /// Reports in one file's text. A finding.json that does not decode is `TriageError.malformed`.
    public static func reports(inText text: String, file: String) throws -> [TriageReport] {
        let name = (file as NSString).lastPathComponent
        switch detect(name: name, text: text) {
        case .findingJSON:
            let b: FindingBucket
            do { b = try ReportJSON.decoder().decode(FindingBucket.self, from: Data(text.utf8)) } catch {
                throw TriageError.malformed(file, Self.why(error))
            }
            return [TriageReport(file: file, type: b.type.rawValue, title: b.title,
                                 frame: UserStackParser.culpritOf(title: b.title), text: b.dumps.first ?? "",
                                 signature: b.signature, count: b.count, firstSeen: b.firstSeen, lastSeen: b.lastSeen)]
        case .bpfstressDump: return [UserStackParser.parseBPFStressDump(text, file: file)]
        case .gdb: return [UserStackParser.parseGDB(text, file: file)]
        case .euStack: return [UserStackParser.parseEUStack(text, file: file)]
        case .windbg: return [WinDbgParser.parse(text, file: file)]
        case .console: return KernelConsoleParser.parse(text, file: file)
        }
    }

    /// One short reason for a decoding error (truncated input, wrong type of a key).
    static func why(_ error: Error) -> String {
        switch error as? DecodingError {
        case .dataCorrupted?: return "not valid JSON (truncated?)"
        case .keyNotFound(let k, _)?: return "missing key '\(k.stringValue)'"
        case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?:
            return "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        default: return "\(error)"
        }
    }

    /// What a path is, from stat(2) (`follow`) or lstat(2).
    enum Kind: Equatable { case regular, directory, symlink, fifo, socket, device, missing, other }

    /// stat(2)/lstat(2) of `path` reduced to its file type.
    static func kind(_ path: String, follow: Bool) -> Kind {
        var st = stat()
        guard (follow ? stat(path, &st) : lstat(path, &st)) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        case S_IFIFO: return .fifo
        case S_IFSOCK: return .socket
        case S_IFCHR, S_IFBLK: return .device
        default: return .other
        }
    }

    /// Kernel pseudo file systems, which triage never walks (their files are endless or block).
    static let pseudoTypes: Set<String> = ["proc", "sysfs", "debugfs", "tracefs", "cgroup", "cgroup2", "securityfs",
                                            "bpf", "configfs", "devpts", "pstore", "efivarfs", "fusectl", "mqueue", "binfmt_misc"]

    /// Mount points and their file system types, from /proc/self/mountinfo (field 5, and the type after " - ").
    static let mounts: [(point: String, type: String)] = {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else {
            return [("/proc", "proc"), ("/sys", "sysfs")]
        }
        return text.split(separator: "\n").compactMap { line in
            let parts = line.components(separatedBy: " - ")
            let f = parts[0].split(separator: " ")
            guard parts.count == 2, f.count >= 5, let type = parts[1].split(separator: " ").first else { return nil }
            return (f[4].replacingOccurrences(of: "\\040", with: " "), String(type))
        }
    }()

    /// True for a directory on a kernel pseudo file system (/proc, /sys and the like): the longest mount
    /// point that contains its real path is one.
    static func isPseudoFileSystem(_ path: String) -> Bool {
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var best: (point: String, type: String)?
        for m in mounts where real == m.point || real.hasPrefix(m.point == "/" ? "/" : m.point + "/") {
            if best == nil || m.point.count >= best!.point.count { best = m }
        }
        return best.map { pseudoTypes.contains($0.type) } ?? false
    }

    /// Regular files under each path (a file is itself), sorted, not following symlinked directories
    /// (`latest` would count a run twice). dump-N.txt next to a finding.json is the same finding: skipped.
    /// FIFOs, sockets and devices (reading them could block) and pseudo file systems are skipped with a note.
    public static func inputFiles(_ paths: [String], notes: inout [String]) throws -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        func note(_ path: String, _ k: Kind) {
            let what: String
            switch k {
            case .fifo: what = "a FIFO"
            case .socket: what = "a socket"
            case .device: what = "a device"
            default: what = "not a regular file"
            }
            notes.append("skipped \(path): \(what)")
        }
        for p in paths {
            let k = kind(p, follow: true)
            if k == .missing { throw TriageError.noSuchPath(p) }
            if k != .directory {
                if k == .regular { out.append(p) } else { note(p, k) }
                continue
            }
            var stack = [p]
            while let dir = stack.popLast() {
                if isPseudoFileSystem(dir) { notes.append("skipped \(dir): kernel pseudo file system"); continue }
                let entries = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted()
                let hasFinding = entries.contains("finding.json")
                for e in entries where !e.hasPrefix(".") {
                    let full = dir.hasSuffix("/") ? dir + e : dir + "/" + e
                    let ek = kind(full, follow: false)
                    switch ek {
                    case .directory: stack.append(full)
                    case .regular:
                        guard !ignoredNames.contains(e) else { continue }
                        if hasFinding && e.hasPrefix("dump-") && e.hasSuffix(".txt") { continue }
                        out.append(full)
                    case .fifo, .socket, .device: note(full, ek)
                    default: continue
                    }
                }
            }
        }
        return Array(Set(out)).sorted()
    }

    public static func inputFiles(_ paths: [String]) throws -> [String] {
        var notes: [String] = []
        return try inputFiles(paths, notes: &notes)
    }

    public static func readText(_ path: String) -> String? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        let data = (try? h.read(upToCount: maxFileBytes)) ?? Data()
        if data.prefix(4096).contains(0) { return nil } // binary
        return String(decoding: data, as: UTF8.self)
    }

    /// The run of `file`: the nearest enclosing directory with a summary.json (its startedAt),
    /// else the file itself (its modification time).
    static func run(of file: String, cache: inout [String: TriageRun?]) -> TriageRun {
        var dir = (file as NSString).deletingLastPathComponent
        while !dir.isEmpty && dir != "/" && dir != "." {
            if let cached = cache[dir] { if let r = cached { return r } } else {
                let summary = dir + "/summary.json"
                var found: TriageRun?
                if let data = FileManager.default.contents(atPath: summary),
                   let s = try? ReportJSON.decoder().decode(RunStart.self, from: data) {
                    found = TriageRun(id: dir, time: s.startedAt)
                }
                cache[dir] = .some(found)
                if let r = found { return r }
            }
            dir = (dir as NSString).deletingLastPathComponent
        }
        let mtime = (try? FileManager.default.attributesOfItem(atPath: file)[.modificationDate] as? Date) ?? nil
        return TriageRun(id: file, time: mtime ?? Date(timeIntervalSince1970: 0))
    }

    struct RunStart: Decodable { var startedAt: Date }

    /// What a scan skipped (`skipped`) and what it could not read (`malformed`, each one line naming the file).
    public struct Notes: Sendable {
        public var skipped: [String] = []
        public var malformed: [String] = []
        public init() {}
    }

    public static func scan(_ paths: [String]) throws -> [(report: TriageReport, run: TriageRun)] {
        var notes = Notes()
        return try scan(paths, notes: &notes)
    }

    /// Every report in every input, each with its run.
    public static func scan(_ paths: [String], notes: inout Notes) throws -> [(report: TriageReport, run: TriageRun)] {
        var cache: [String: TriageRun?] = [:]
        var out: [(TriageReport, TriageRun)] = []
        for f in try inputFiles(paths, notes: &notes.skipped) {
            guard let text = readText(f) else { continue }
            let reports: [TriageReport]
            do { reports = try Self.reports(inText: text, file: f) } catch {
                notes.malformed.append("\(error)")
                continue
            }
            if reports.isEmpty { continue }
            let r = run(of: f, cache: &cache)
            for rep in reports { out.append((rep, r)) }
        }
        return out
    }

    /// Groups reports by signature and follows them across runs. Sorted: new buckets first,
    /// then by runs, then by last seen (latest first).
    public static func buckets(_ items: [(report: TriageReport, run: TriageRun)]) -> [TriageBucket] {
        guard let latest = items.map(\.run.time).max() else { return [] }
        var order: [String] = []
        var groups: [String: [(report: TriageReport, run: TriageRun)]] = [:]
        for it in items {
            if groups[it.report.signature] == nil { order.append(it.report.signature) }
            groups[it.report.signature, default: []].append(it)
        }
        let out = order.map { sig -> TriageBucket in
            let g = groups[sig]!
            let first = g.map { $0.report.firstSeen ?? $0.run.time }.min()!
            let last = g.map { $0.report.lastSeen ?? $0.run.time }.max()!
            let firstRun = g.map(\.run.time).min()!
            let runs = Set(g.map(\.run.id)).count
            // Read first: an intact report, from the latest run, shortest path.
            let example = g.sorted { a, b in
                if a.report.corrupted != b.report.corrupted { return !a.report.corrupted }
                if a.run.time != b.run.time { return a.run.time > b.run.time }
                return a.report.file < b.report.file
            }[0].report
            return TriageBucket(signature: sig, type: example.type, title: example.title, frame: example.frame,
                                count: g.reduce(0) { $0 + $1.report.count }, runs: runs, firstSeen: first, lastSeen: last,
                                isNew: firstRun == latest, exampleFile: example.file,
                                corrupted: g.allSatisfy { $0.report.corrupted }, location: example.location)
        }
        return out.sorted { a, b in
            if a.isNew != b.isNew { return a.isNew }
            if a.runs != b.runs { return a.runs > b.runs }
            if a.lastSeen != b.lastSeen { return a.lastSeen > b.lastSeen }
            return a.signature < b.signature
        }
    }

    // MARK: output

    /// One JSON object per report per line, keys file, type, title, frame (sorted), and location with --vmlinux.
    public static func jsonLines(_ reports: [TriageReport]) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return reports.map { r in
            var obj = ["file": r.file, "type": r.type, "title": r.title, "frame": r.frame]
            if let l = r.location { obj["location"] = l }
            return String(decoding: (try? enc.encode(obj)) ?? Data("{}".utf8), as: UTF8.self)
        }.joined(separator: "\n") + (reports.isEmpty ? "" : "\n")
    }

    static func stamp(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }

    /// The table: BUCKET TYPE RUNS COUNT FIRST-SEEN LAST-SEEN NEW TITLE EXAMPLE. `relativeTo` shortens paths.
    public static func table(_ buckets: [TriageBucket], relativeTo base: String? = nil) -> String {
        let located = buckets.contains { $0.location != nil }
        var rows: [[String]] = [["BUCKET", "TYPE", "RUNS", "COUNT", "FIRST SEEN", "LAST SEEN", "NEW", "TITLE"]
            + (located ? ["LOCATION"] : []) + ["EXAMPLE"]]
        for b in buckets {
            var file = b.exampleFile
            if let base = base, file.hasPrefix(base + "/") { file = String(file.dropFirst(base.count + 1)) }
            rows.append([b.signature, b.type, String(b.runs), String(b.count), stamp(b.firstSeen), stamp(b.lastSeen),
                         b.isNew ? "new" : "-", b.title + (b.corrupted ? " (corrupted)" : "")]
                        + (located ? [b.location ?? "-"] : []) + [file])
        }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return rows.map { r in
            r.enumerated().map { i, c in
                i == r.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

public enum TriageError: Error, CustomStringConvertible {
    case noSuchPath(String)
    case malformed(String, String)
    public var description: String {
        switch self {
        case .noSuchPath(let p): return "no such file or directory: \(p)"
        case .malformed(let f, let why): return "\(f): malformed finding.json: \(why)"
        }
    }
}
