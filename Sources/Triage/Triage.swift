import Foundation
import Reports

/// Which parser a file goes to.
public enum InputFormat: String, Sendable {
    case findingJSON = "finding.json", bpfstressDump = "bpfstress-dump", gdb, euStack = "eu-stack", console
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
}

public enum Triage {
    /// Files a bpfstress run writes that are not findings (the findings are in findings/).
    static let ignoredNames: Set<String> = ["summary.json", "junit.xml", "run.log", "run.log.tmp", "index.html"]
    /// Inputs larger than this are read only up to it.
    public static let maxFileBytes = 32 << 20

    public static func detect(name: String, text: String) -> InputFormat {
        if name == "finding.json" { return .findingJSON }
        if UserStackParser.looksLikeBPFStressDump(text) { return .bpfstressDump }
        if UserStackParser.looksLikeGDB(text) { return .gdb }
        if UserStackParser.looksLikeEUStack(text) { return .euStack }
        return .console
    }

    /// Reports in one file's text.
    public static func reports(inText text: String, file: String) -> [TriageReport] {
        let name = (file as NSString).lastPathComponent
        switch detect(name: name, text: text) {
        case .findingJSON:
            guard let b = try? ReportJSON.decoder().decode(FindingBucket.self, from: Data(text.utf8)) else { return [] }
            return [TriageReport(file: file, type: b.type.rawValue, title: b.title,
                                 frame: UserStackParser.culpritOf(title: b.title), text: b.dumps.first ?? "",
                                 signature: b.signature, count: b.count, firstSeen: b.firstSeen, lastSeen: b.lastSeen)]
        case .bpfstressDump: return [UserStackParser.parseBPFStressDump(text, file: file)]
        case .gdb: return [UserStackParser.parseGDB(text, file: file)]
        case .euStack: return [UserStackParser.parseEUStack(text, file: file)]
        case .console: return KernelConsoleParser.parse(text, file: file)
        }
    }

    /// Regular files under each path (a file is itself), sorted, not following symlinked directories
    /// (`latest` would count a run twice). dump-N.txt next to a finding.json is the same finding: skipped.
    public static func inputFiles(_ paths: [String]) throws -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        for p in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: p, isDirectory: &isDir) else { throw TriageError.noSuchPath(p) }
            if !isDir.boolValue { out.append(p); continue }
            var stack = [p]
            while let dir = stack.popLast() {
                let entries = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted()
                let hasFinding = entries.contains("finding.json")
                for e in entries where !e.hasPrefix(".") {
                    let full = dir.hasSuffix("/") ? dir + e : dir + "/" + e
                    guard let attrs = try? fm.attributesOfItem(atPath: full), let kind = attrs[.type] as? FileAttributeType
                    else { continue }
                    if kind == .typeDirectory { stack.append(full); continue }
                    guard kind == .typeRegular, !ignoredNames.contains(e) else { continue }
                    if hasFinding && e.hasPrefix("dump-") && e.hasSuffix(".txt") { continue }
                    out.append(full)
                }
            }
        }
        return Array(Set(out)).sorted()
    }

    static func readText(_ path: String) -> String? {
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

    /// Every report in every input, each with its run.
    public static func scan(_ paths: [String]) throws -> [(report: TriageReport, run: TriageRun)] {
        var cache: [String: TriageRun?] = [:]
        var out: [(TriageReport, TriageRun)] = []
        for f in try inputFiles(paths) {
            guard let text = readText(f) else { continue }
            let reports = Self.reports(inText: text, file: f)
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
                                corrupted: g.allSatisfy { $0.report.corrupted })
        }
        return out.sorted { a, b in
            if a.isNew != b.isNew { return a.isNew }
            if a.runs != b.runs { return a.runs > b.runs }
            if a.lastSeen != b.lastSeen { return a.lastSeen > b.lastSeen }
            return a.signature < b.signature
        }
    }

    // MARK: output

    /// One JSON object per report per line, keys file, type, title, frame (sorted).
    public static func jsonLines(_ reports: [TriageReport]) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return reports.map { r in
            let obj = ["file": r.file, "type": r.type, "title": r.title, "frame": r.frame]
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
        var rows: [[String]] = [["BUCKET", "TYPE", "RUNS", "COUNT", "FIRST SEEN", "LAST SEEN", "NEW", "TITLE", "EXAMPLE"]]
        for b in buckets {
            var file = b.exampleFile
            if let base = base, file.hasPrefix(base + "/") { file = String(file.dropFirst(base.count + 1)) }
            rows.append([b.signature, b.type, String(b.runs), String(b.count), stamp(b.firstSeen), stamp(b.lastSeen),
                         b.isNew ? "new" : "-", b.title + (b.corrupted ? " (corrupted)" : ""), file])
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
    public var description: String {
        switch self { case .noSuchPath(let p): return "no such file or directory: \(p)" }
    }
}
