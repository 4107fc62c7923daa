import Foundation

/// index.html of a run directory: one self-contained page (inline CSS and SVG, no scripts, no
/// network fetches) with the campaign parameters, an ops/s plot per scenario, findings by bucket
/// with their dumps in collapsible blocks, leaks, skip reasons, worker deaths and the run log.
public enum HTMLReport {
    /// Most run-log lines shown (the tail); run.log next to the page has them all.
    public static let maxLogLines = 2000
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    public static func render(summary s: RunSummary, log: String) -> String {
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <title>bpfstress \(esc(s.campaign)) seed \(s.seed)</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
        h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;border-bottom:1px solid #ccc;margin-top:28px}
        table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
        th{background:#f0f0f0}.num{text-align:right}.bucket{border:1px solid #ccc;border-left:6px solid #d62728;
        padding:6px 12px;margin:10px 0}.bucket.leak{border-left-color:#ff7f0e}.bucket h3{margin:4px 0;font-size:16px}
        pre{background:#f7f7f7;padding:8px;overflow-x:auto;font:12px/1.3 monospace;white-space:pre}
        .ok{color:#2ca02c}.bad{color:#d62728}.muted{color:#777}
        </style></head><body>
        <h1>bpfstress: \(esc(s.campaign))</h1>
        <p>seed <b>\(s.seed)</b> &middot; runtime \(esc(s.runtime)) &middot; kernel \(esc(s.kernelRelease)) &middot;
        host \(esc(s.hostname)) &middot; started \(esc(stamp(s.startedAt))) &middot; \(String(format: "%.1f", s.durationSeconds)) s &middot;
        \(s.workers) workers &times; \(s.threads) threads &middot; exit code <b class="\(s.exitCode == 0 ? "ok" : "bad")">\(s.exitCode)</b>
        &middot; \(s.buckets.count) finding bucket(s)</p>

        """
        h += "<h2 id=\"parameters\">Campaign parameters</h2>\n"
        if s.parameters.isEmpty {
            h += "<p class=\"muted\">none recorded</p>\n"
        } else {
            h += "<table><tr><th>parameter</th><th>value</th></tr>\n"
            for (k, v) in s.parameters.sorted(by: { $0.key < $1.key }) { h += "<tr><td>\(esc(k))</td><td>\(esc(v))</td></tr>\n" }
            h += "</table>\n"
        }
        h += "<h2 id=\"timeline\">Ops/s per scenario</h2>\n" + plot(s.timeline) + "\n"
        h += latencySection(s)
        h += scenarios(s)
        h += findings(s)
        h += leaksAndSkips(s)
        if !s.workerDeaths.isEmpty {
            h += "<h2 id=\"deaths\">Worker deaths</h2>\n<table><tr><th>slot</th><th>pid</th><th>scenario</th><th>reason</th><th>at</th></tr>\n"
            for d in s.workerDeaths {
                h += "<tr><td class=\"num\">\(d.slot)</td><td class=\"num\">\(d.pid)</td><td>\(esc(d.scenario))</td><td>\(esc(d.reason))</td><td>\(esc(stamp(d.at)))</td></tr>\n"
            }
            h += "</table>\n"
        }
        let lines = log.split(separator: "\n", omittingEmptySubsequences: false)
        let tail = lines.suffix(maxLogLines).joined(separator: "\n")
        h += "<h2 id=\"log\">Run log</h2>\n<details><summary>run.log (\(lines.count) lines\(lines.count > maxLogLines ? ", last \(maxLogLines) shown" : ""))</summary><pre>\(esc(tail))</pre></details>\n"
        h += "</body></html>\n"
        return h
    }

    /// Inline SVG: one polyline per scenario, seconds on x, ops/s on y, with axes and a legend.
    public static func plot(_ samples: [TimelineSample]) -> String {
        let w = 860.0, hgt = 300.0, left = 70.0, right = 180.0, top = 16.0, bottom = 36.0
        let names = Array(Set(samples.flatMap { $0.opsPerSecond.keys })).sorted()
        var svg = "<svg id=\"ops-plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(hgt))\" viewBox=\"0 0 \(Int(w)) \(Int(hgt))\" role=\"img\" aria-label=\"ops per second per scenario over time\">\n"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(Int(w))\" height=\"\(Int(hgt))\" fill=\"#ffffff\"/>\n"
        let pw = w - left - right, ph = hgt - top - bottom
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"#fafafa\" stroke=\"#999\"/>\n"
        guard !samples.isEmpty, !names.isEmpty else {
            return svg + "<text x=\"\(left + 10)\" y=\"\(top + 24)\" fill=\"#777\">no timeline samples</text>\n</svg>"
        }
        let tMax = max(samples.map(\.t).max() ?? 1, 1)
        let yMax = niceCeil(max(samples.flatMap { $0.opsPerSecond.values }.filter { $0.isFinite }.max() ?? 1, 1))
        func x(_ t: Double) -> Double { left + t / tMax * pw }
        func y(_ v: Double) -> Double { top + ph - min(max(v, 0), yMax) / yMax * ph }
        for i in 0...4 {
            let v = yMax * Double(i) / 4
            svg += "<line x1=\"\(left)\" y1=\(q(y(v))) x2=\"\(left + pw)\" y2=\(q(y(v))) stroke=\"#e0e0e0\"/>"
            svg += "<text x=\"\(left - 6)\" y=\(q(y(v) + 4)) text-anchor=\"end\" font-size=\"11\">\(esc(short(v)))</text>\n"
            let t = tMax * Double(i) / 4
            svg += "<text x=\(q(x(t))) y=\"\(top + ph + 16)\" text-anchor=\"middle\" font-size=\"11\">\(String(format: "%.0f", t)) s</text>\n"
        }
        svg += "<text x=\"14\" y=\"\(top + ph / 2)\" font-size=\"11\" transform=\"rotate(-90 14 \(top + ph / 2))\" text-anchor=\"middle\">ops/s</text>\n"
        for (i, name) in names.enumerated() {
            let color = palette[i % palette.count]
            let pts = samples.compactMap { smp in smp.opsPerSecond[name].flatMap { $0.isFinite ? $0 : nil }.map { String(format: "%.1f,%.1f", x(smp.t), y($0)) } }
            svg += "<polyline class=\"series\" data-scenario=\"\(esc(name))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(pts.joined(separator: " "))\"/>\n"
            let ly = top + 14 + Double(i) * 18
            svg += "<rect x=\"\(left + pw + 12)\" y=\(q(ly - 9)) width=\"14\" height=\"4\" fill=\"\(color)\"/>"
            svg += "<text x=\"\(left + pw + 32)\" y=\(q(ly - 4)) font-size=\"12\">\(esc(name))</text>\n"
        }
        return svg + "</svg>"
    }

    static func scenarios(_ s: RunSummary) -> String {
        var h = "<h2 id=\"scenarios\">Scenarios</h2>\n<table><tr><th>scenario</th><th>status</th><th>ops</th><th>ops/s</th><th>checks passed</th><th>checks failed</th><th>tolerated errnos</th></tr>\n"
        for sc in s.scenarios {
            let passed = sc.checks.reduce(UInt64(0)) { $0 + $1.passed }, failed = sc.checks.reduce(UInt64(0)) { $0 + $1.failed }
            let errnos = sc.toleratedErrnos.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            h += "<tr><td>\(esc(sc.name))</td><td>\(esc(sc.status))</td><td class=\"num\">\(sc.ops)</td><td class=\"num\">\(String(format: "%.0f", sc.opsPerSecond.isFinite ? sc.opsPerSecond : 0))</td>"
            h += "<td class=\"num ok\">\(passed)</td><td class=\"num\(failed > 0 ? " bad" : "")\">\(failed)</td><td>\(esc(errnos))</td></tr>\n"
        }
        return h + "</table>\n"
    }

    static func findings(_ s: RunSummary) -> String {
        var h = "<h2 id=\"findings\">Findings by bucket</h2>\n"
        if s.buckets.isEmpty { return h + "<p class=\"ok\">no findings</p>\n" }
        for b in s.buckets {
            h += "<div class=\"bucket \(b.type.rawValue)\" id=\"bucket-\(esc(b.signature))\">\n"
            h += "<h3>[\(b.type.rawValue)] \(esc(b.title)) &times;\(b.count)</h3>\n"
            h += "<p>signature <code>\(esc(b.signature))</code> &middot; scenario \(esc(b.scenario)) &middot; check \(esc(b.check)) &middot; first seen \(esc(stamp(b.firstSeen))) &middot; last seen \(esc(stamp(b.lastSeen)))"
            if let ops = b.ops, !ops.isEmpty { h += " &middot; ops \(esc(ops.joined(separator: ", ")))" }
            h += "</p>\n"
            for (i, d) in b.dumps.enumerated() {
                h += "<details\(i == 0 ? "" : "")><summary>dump \(i + 1) (\(d.split(separator: "\n").count) lines)</summary><pre>\(esc(d))</pre></details>\n"
            }
            h += "</div>\n"
        }
        return h
    }

    static func leaksAndSkips(_ s: RunSummary) -> String {
        var h = "<h2 id=\"leaks-skips\">Leaks and skips</h2>\n"
        let leaks = s.buckets.filter { $0.type == .leak }
        h += leaks.isEmpty ? "<p class=\"ok\">no leaks</p>\n" : "<ul>\n" + leaks.map { "<li class=\"bad\">leak: \(esc($0.title)) &times;\($0.count)</li>\n" }.joined() + "</ul>\n"
        var skips: [String] = []
        for sc in s.scenarios {
            if sc.isSkipped { skips.append("<li>scenario \(esc(sc.name)) skipped: \(esc(sc.skipReason ?? "no reason given"))</li>") }
            for c in sc.checks { if let r = c.skipReason { skips.append("<li>check \(esc(sc.name))/\(esc(c.name)) skipped: \(esc(r))</li>") } }
        }
        h += skips.isEmpty ? "<p class=\"muted\">nothing skipped</p>\n" : "<ul>\n" + skips.joined(separator: "\n") + "\n</ul>\n"
        return h
    }

    /// HTML-escapes text; C0 controls (except tab/newline) become visible `\xNN`.
    public static func esc(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n", "\t": out.unicodeScalars.append(u)
            default:
                if u.value < 0x20 || u.value == 0x7f { out += String(format: "\\x%02x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out
    }

    static func q(_ v: Double) -> String { "\"" + String(format: "%.1f", v) + "\"" }

    static func niceCeil(_ v: Double) -> Double {
        let p = pow(10, floor(log10(v)))
        for m in [1.0, 2, 2.5, 5, 10] where m * p >= v { return m * p }
        return 10 * p
    }

    static func short(_ v: Double) -> String {
        if v >= 1_000_000 { return String(format: "%.1fM", v / 1_000_000) }
        if v >= 10000 { return String(format: "%.0fk", v / 1000) }
        if v >= 1000 { return String(format: "%.1fk", v / 1000) }
        return String(format: "%.0f", v)
    }

    static func stamp(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }
}
