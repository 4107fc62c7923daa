// index.html's latency section: one SVG percentile plot per op kind, drawn like the ops/s plot.
import Foundation

extension HTMLReport {
    /// The percentiles each plot shows, as (label, value of a LatencySummary).
    static let percentilePoints: [(String, (LatencySummary) -> Double)] = [
        ("p50", { $0.p50Us }), ("p90", { $0.p90Us }), ("p99", { $0.p99Us }), ("p99.9", { $0.p999Us }), ("max", { $0.maxUs }),
    ]

    /// "Latency per op kind": a table of the percentiles and one plot per kind (one line per scenario).
    public static func latencySection(_ s: RunSummary) -> String {
        var h = "<h2 id=\"latency\">Latency per op kind</h2>\n"
        var byKind: [String: [(scenario: String, l: LatencySummary)]] = [:]
        for sc in s.scenarios { for l in sc.latency ?? [] { byKind[l.kind, default: []].append((sc.name, l)) } }
        guard !byKind.isEmpty else { return h + "<p class=\"muted\">no latency recorded</p>\n" }
        h += "<p class=\"muted\">single-element map ops are timed on a sample (1 op in 16 on average); buckets are at most 1.6% wide</p>\n"
        h += "<table><tr><th>op kind</th><th>scenario</th><th>timed ops</th><th>p50 &micro;s</th><th>p90 &micro;s</th><th>p99 &micro;s</th><th>p99.9 &micro;s</th><th>max &micro;s</th></tr>\n"
        for k in byKind.keys.sorted() {
            for (sc, l) in byKind[k]! {
                h += "<tr><td>\(esc(k))</td><td>\(esc(sc))</td><td class=\"num\">\(l.count)\(l.sampled ? " (sampled)" : "")</td>"
                for (_, f) in percentilePoints { h += "<td class=\"num\">\(String(format: "%.1f", f(l)))</td>" }
                h += "</tr>\n"
            }
        }
        h += "</table>\n"
        for k in byKind.keys.sorted() {
            h += "<h3>\(esc(k))</h3>\n" + percentilePlot(kind: k, series: byKind[k]!) + "\n"
        }
        return h
    }

    /// Inline SVG: percentiles on x, latency on a log y axis, one polyline per scenario, with a legend.
    public static func percentilePlot(kind: String, series: [(scenario: String, l: LatencySummary)]) -> String {
        let w = 860.0, hgt = 260.0, left = 70.0, right = 180.0, top = 16.0, bottom = 36.0
        let pw = w - left - right, ph = hgt - top - bottom
        var svg = "<svg class=\"latency-plot\" id=\"latency-\(esc(kind))\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(hgt))\" viewBox=\"0 0 \(Int(w)) \(Int(hgt))\" role=\"img\" aria-label=\"latency percentiles of \(esc(kind))\">\n"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(Int(w))\" height=\"\(Int(hgt))\" fill=\"#ffffff\"/>\n"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"#fafafa\" stroke=\"#999\"/>\n"
        let values = series.flatMap { s in percentilePoints.map { $0.1(s.l) } }.filter { $0.isFinite && $0 > 0 }
        let lo = pow(10, floor(log10(max(values.min() ?? 0.1, 0.01))))
        let hi = pow(10, ceil(log10(max(values.max() ?? 1, lo * 10))))
        let decades = max(1, Int((log10(hi) - log10(lo)).rounded()))
        func x(_ i: Int) -> Double { left + Double(i) / Double(percentilePoints.count - 1) * pw }
        func y(_ v: Double) -> Double { top + ph - (log10(max(v, lo)) - log10(lo)) / Double(decades) * ph }
        for d in 0...decades {
            let v = lo * pow(10, Double(d))
            svg += "<line x1=\"\(left)\" y1=\(q(y(v))) x2=\"\(left + pw)\" y2=\(q(y(v))) stroke=\"#e0e0e0\"/>"
            svg += "<text x=\"\(left - 6)\" y=\(q(y(v) + 4)) text-anchor=\"end\" font-size=\"11\">\(esc(microseconds(v)))</text>\n"
        }
        for (i, p) in percentilePoints.enumerated() {
            svg += "<text x=\(q(x(i))) y=\"\(top + ph + 16)\" text-anchor=\"middle\" font-size=\"11\">\(p.0)</text>\n"
        }
        svg += "<text x=\"14\" y=\"\(top + ph / 2)\" font-size=\"11\" transform=\"rotate(-90 14 \(top + ph / 2))\" text-anchor=\"middle\">latency</text>\n"
        for (i, s) in series.enumerated() {
            let color = palette[i % palette.count]
            let pts = percentilePoints.enumerated().map { j, p in String(format: "%.1f,%.1f", x(j), y(p.1(s.l))) }
            svg += "<polyline class=\"latency-series\" data-scenario=\"\(esc(s.scenario))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(pts.joined(separator: " "))\"/>\n"
            let ly = top + 14 + Double(i) * 18
            svg += "<rect x=\"\(left + pw + 12)\" y=\(q(ly - 9)) width=\"14\" height=\"4\" fill=\"\(color)\"/>"
            svg += "<text x=\"\(left + pw + 32)\" y=\(q(ly - 4)) font-size=\"12\">\(esc(s.scenario))</text>\n"
        }
        return svg + "</svg>"
    }

    /// 0.5 us, 20 us, 3 ms, 1.2 s.
    public static func microseconds(_ us: Double) -> String {
        if us >= 1_000_000 { return String(format: "%g s", us / 1_000_000) }
        if us >= 1000 { return String(format: "%g ms", us / 1000) }
        return String(format: "%g \u{00B5}s", us)
    }
}
