// `bpfstress trend DIR`: one self-contained page of ops/s, p99 and finding buckets across runs.
import Foundation
import Reports

public enum Trend {
    /// One finished run under the trend directory.
    public struct Run: Sendable {
        public var name: String
        public var summary: RunSummary
    }

    /// The finished runs directly under `dir` (real directories with a summary.json; `latest` and
    /// other symlinks are skipped), oldest first. Unreadable summaries are returned as problems.
    public static func load(_ dir: String) throws -> (runs: [Run], problems: [String]) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw NightlyError("\(dir): not a directory")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        var runs: [Run] = [], problems: [String] = []
        for n in names where !n.hasPrefix(".") {
            let path = (dir as NSString).appendingPathComponent(n)
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR,
                  FileManager.default.fileExists(atPath: path + "/summary.json") else { continue }
            do { runs.append(Run(name: n, summary: try Regression.loadRun(path))) } catch { problems.append("\(error)") }
        }
        runs.sort { ($0.summary.startedAt, $0.name) < ($1.summary.startedAt, $1.name) }
        return (runs, problems)
    }

    /// New and gone bucket signatures of each run against the run before it (the first run's are all new).
    public static func bucketChanges(_ runs: [Run]) -> [(new: [FindingBucket], gone: [FindingBucket])] {
        var out: [([FindingBucket], [FindingBucket])] = []
        var previous: [FindingBucket] = []
        for r in runs {
            let now = Set(r.summary.buckets.map(\.signature)), before = Set(previous.map(\.signature))
            out.append((r.summary.buckets.filter { !before.contains($0.signature) },
                        previous.filter { !now.contains($0.signature) }))
            previous = r.summary.buckets
        }
        return out
    }

    public static func render(_ runs: [Run], title: String) -> String {
        let labels = runs.map { shortStamp($0.summary.startedAt) }
        let scenarios = orderedUnique(runs.flatMap { $0.summary.scenarios.filter { !$0.isSkipped }.map(\.name) })
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <title>bpfstress trend: \(esc(title))</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
        h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;border-bottom:1px solid #ccc;margin-top:28px}h3{font-size:15px}
        table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
        th{background:#f0f0f0}.num{text-align:right}.new{color:#d62728}.gone{color:#2ca02c}.muted{color:#777}
        </style></head><body>
        <h1>bpfstress trend: \(esc(title))</h1>
        <p>\(runs.count) run(s)\(runs.isEmpty ? "" : " from \(esc(stamp(runs.first!.summary.startedAt))) to \(esc(stamp(runs.last!.summary.startedAt)))") &middot; campaigns \(esc(orderedUnique(runs.map(\.summary.campaign)).joined(separator: ", ")))</p>

        """
        let changes = bucketChanges(runs)
        h += "<h2 id=\"runs\">Runs</h2>\n<table><tr><th>run</th><th>campaign</th><th>seed</th><th>kernel</th><th>exit</th><th>ops/s</th><th>buckets</th><th>new</th><th>gone</th></tr>\n"
        for (i, r) in runs.enumerated() {
            let s = r.summary
            let rate = s.scenarios.reduce(0.0) { $0 + ($1.opsPerSecond.isFinite ? $1.opsPerSecond : 0) }
            h += "<tr><td>\(esc(r.name))</td><td>\(esc(s.campaign))</td><td class=\"num\">\(s.seed)</td><td>\(esc(s.kernelRelease))</td><td class=\"num\">\(s.exitCode)</td>"
            h += "<td class=\"num\">\(String(format: "%.0f", rate))</td><td class=\"num\">\(s.buckets.count)</td><td class=\"num new\">\(changes[i].new.count)</td><td class=\"num gone\">\(changes[i].gone.count)</td></tr>\n"
        }
        h += "</table>\n"

        h += "<h2 id=\"ops\">Ops/s per scenario</h2>\n"
        let opsSeries = scenarios.map { name in
            (name, runs.map { r in r.summary.scenarios.first { $0.name == name && !$0.isSkipped }?.opsPerSecond })
        }
        h += SVGPlot.lines(id: "trend-ops", xLabels: labels, series: opsSeries, yLabel: "ops/s", logY: false, format: short) + "\n"

        h += "<h2 id=\"p99\">p99 latency per scenario and op kind</h2>\n"
        var anyLatency = false
        for name in scenarios {
            let kinds = orderedUnique(runs.flatMap { r in
                (r.summary.scenarios.first { $0.name == name }?.latency ?? []).map(\.kind) }).sorted()
            guard !kinds.isEmpty else { continue }
            anyLatency = true
            let series = kinds.map { k in
                (k, runs.map { r -> Double? in
                    r.summary.scenarios.first { $0.name == name }?.latency?.first { $0.kind == k }?.p99Us })
            }
            h += "<h3>\(esc(name))</h3>\n"
            h += SVGPlot.lines(id: "trend-p99-\(name)", xLabels: labels, series: series, yLabel: "p99", logY: true,
                               format: HTMLReport.microseconds) + "\n"
        }
        if !anyLatency { h += "<p class=\"muted\">no run recorded latency</p>\n" }

        h += "<h2 id=\"buckets\">Finding buckets over time</h2>\n"
        let types = FindingType.allCases.filter { t in runs.contains { $0.summary.buckets.contains { $0.type == t } } }
        let bucketSeries = [("all buckets", runs.map { Double($0.summary.buckets.count) as Double? })]
            + types.map { t in (t.rawValue, runs.map { r in Double(r.summary.buckets.filter { $0.type == t }.count) as Double? }) }
        h += SVGPlot.lines(id: "trend-buckets", xLabels: labels, series: bucketSeries, yLabel: "buckets", logY: false,
                           format: { String(format: "%.0f", $0) }) + "\n"
        h += bucketTable(runs, labels: labels)

        h += "<h2 id=\"changes\">New and gone buckets per run</h2>\n"
        var any = false
        for (i, r) in runs.enumerated() where !changes[i].new.isEmpty || !changes[i].gone.isEmpty {
            any = true
            h += "<h3>\(esc(r.name))</h3>\n<ul>\n"
            for b in changes[i].new { h += "<li class=\"new\">new: [\(b.type.rawValue)] \(esc(b.title)) <code>\(esc(b.signature))</code> &times;\(b.count)</li>\n" }
            for b in changes[i].gone { h += "<li class=\"gone\">gone: [\(b.type.rawValue)] \(esc(b.title)) <code>\(esc(b.signature))</code></li>\n" }
            h += "</ul>\n"
        }
        if !any { h += "<p class=\"muted\">no bucket came or went</p>\n" }
        return h + "</body></html>\n"
    }

    /// Occurrences of every bucket in every run (rows: buckets, columns: runs).
    static func bucketTable(_ runs: [Run], labels: [String]) -> String {
        var titles: [String: FindingBucket] = [:]
        var order: [String] = []
        for r in runs { for b in r.summary.buckets where titles[b.signature] == nil { titles[b.signature] = b; order.append(b.signature) } }
        guard !order.isEmpty else { return "<p class=\"muted\">no findings in any run</p>\n" }
        var h = "<table><tr><th>bucket</th><th>type</th><th>title</th>" + labels.map { "<th>\(esc($0))</th>" }.joined() + "</tr>\n"
        for sig in order {
            let b = titles[sig]!
            h += "<tr id=\"trend-bucket-\(esc(sig))\"><td><code>\(esc(sig))</code></td><td>\(b.type.rawValue)</td><td>\(esc(b.title))</td>"
            for r in runs { h += "<td class=\"num\">\(r.summary.buckets.first { $0.signature == sig }.map { String($0.count) } ?? "")</td>" }
            h += "</tr>\n"
        }
        return h + "</table>\n"
    }

    static func esc(_ s: String) -> String { HTMLReport.esc(s) }

    static func short(_ v: Double) -> String {
        if v >= 1_000_000 { return String(format: "%.1fM", v / 1_000_000) }
        if v >= 10000 { return String(format: "%.0fk", v / 1000) }
        if v >= 1000 { return String(format: "%.1fk", v / 1000) }
        return String(format: "%.0f", v)
    }

    static func stamp(_ d: Date) -> String { Regression.iso(d) }

    /// `11-20 22:14` in UTC (an axis label).
    static func shortStamp(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "MM-dd HH:mm:ss"
        return f.string(from: d)
    }

    static func orderedUnique(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }
}
