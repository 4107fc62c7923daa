// Inline SVG line plots over a sequence of runs (trend page), in the style of the run page's plot.
import Foundation
import Reports

enum SVGPlot {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// One polyline per series over `xLabels` (one point per run; nil = no value in that run),
    /// with axes, grid and a legend. `logY` draws decades (latencies span several).
    static func lines(id: String, xLabels: [String], series: [(name: String, values: [Double?])],
                      yLabel: String, logY: Bool, format: (Double) -> String) -> String {
        let w = 860.0, hgt = 280.0, left = 70.0, right = 220.0, top = 16.0, bottom = 40.0
        let pw = w - left - right, ph = hgt - top - bottom
        var svg = "<svg class=\"trend-plot\" id=\"\(esc(id))\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(hgt))\" viewBox=\"0 0 \(Int(w)) \(Int(hgt))\" role=\"img\" aria-label=\"\(esc(yLabel)) across runs\">\n"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(Int(w))\" height=\"\(Int(hgt))\" fill=\"#ffffff\"/>\n"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"#fafafa\" stroke=\"#999\"/>\n"
        let all = series.flatMap { $0.values.compactMap { $0 } }.filter { $0.isFinite && (!logY || $0 > 0) }
        guard !all.isEmpty, !xLabels.isEmpty else {
            return svg + "<text x=\"\(left + 10)\" y=\"\(top + 24)\" fill=\"#777\">no data</text>\n</svg>"
        }
        var lo = 0.0, hi = niceCeil(max(all.max()!, 1))
        if logY {
            lo = pow(10, floor(log10(all.min()!)))
            hi = max(pow(10, ceil(log10(all.max()!))), lo * 10)
        }
        let decades = logY ? max(1, Int((log10(hi) - log10(lo)).rounded())) : 4
        func x(_ i: Int) -> Double { xLabels.count == 1 ? left + pw / 2 : left + Double(i) / Double(xLabels.count - 1) * pw }
        func y(_ v: Double) -> Double {
            logY ? top + ph - (log10(max(v, lo)) - log10(lo)) / Double(decades) * ph
                 : top + ph - min(max(v, 0), hi) / hi * ph
        }
        for d in 0...decades {
            let v = logY ? lo * pow(10, Double(d)) : hi * Double(d) / 4
            svg += "<line x1=\"\(left)\" y1=\(q(y(v))) x2=\"\(left + pw)\" y2=\(q(y(v))) stroke=\"#e0e0e0\"/>"
            svg += "<text x=\"\(left - 6)\" y=\(q(y(v) + 4)) text-anchor=\"end\" font-size=\"11\">\(esc(format(v)))</text>\n"
        }
        let step = max(1, xLabels.count / 8)
        for (i, l) in xLabels.enumerated() where i % step == 0 || i == xLabels.count - 1 {
            svg += "<text x=\(q(x(i))) y=\"\(top + ph + 16)\" text-anchor=\"middle\" font-size=\"10\">\(esc(l))</text>\n"
        }
        svg += "<text x=\"14\" y=\"\(top + ph / 2)\" font-size=\"11\" transform=\"rotate(-90 14 \(top + ph / 2))\" text-anchor=\"middle\">\(esc(yLabel))</text>\n"
        for (i, s) in series.enumerated() {
            let color = palette[i % palette.count]
            let pts = s.values.enumerated().compactMap { j, v -> String? in
                guard let v, v.isFinite, !logY || v > 0 else { return nil }
                return String(format: "%.1f,%.1f", x(j), y(v))
            }
            svg += "<polyline class=\"trend-series\" data-series=\"\(esc(s.name))\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(pts.joined(separator: " "))\"/>\n"
            for p in pts {
                let xy = p.split(separator: ",")
                svg += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3\" fill=\"\(color)\"/>"
            }
            let ly = top + 14 + Double(i) * 18
            svg += "\n<rect x=\"\(left + pw + 12)\" y=\(q(ly - 9)) width=\"14\" height=\"4\" fill=\"\(color)\"/>"
            svg += "<text x=\"\(left + pw + 32)\" y=\(q(ly - 4)) font-size=\"12\">\(esc(s.name))</text>\n"
        }
        return svg + "</svg>"
    }

    static func esc(_ s: String) -> String { HTMLReport.esc(s) }
    static func q(_ v: Double) -> String { "\"" + String(format: "%.1f", v) + "\"" }

    static func niceCeil(_ v: Double) -> Double {
        let p = pow(10, floor(log10(v)))
        for m in [1.0, 2, 2.5, 5, 10] where m * p >= v { return m * p }
        return 10 * p
    }
}
