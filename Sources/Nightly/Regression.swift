// Compares a finished run with a baseline run of the same campaign: ops/s and p99 regressions.
import Foundation
import Reports

/// A bad baseline: printed as one line, exit 2.
public struct NightlyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

public enum Regression {
    /// Percent by which a scenario's ops/s may drop before it is a regression. Run-to-run noise
    /// measured on the project machine (scripts/measure-noise, docs/PERFORMANCE.md): worst drop
    /// 24% over 5 runs, 51% with another campaign running alongside.
    public static let defaultOpsThresholdPercent = 60.0
    /// Percent by which an op kind's p99 may grow. p99s are tails, and on a shared 2-core VM the
    /// tail is preemption: among kinds with at least `minimumTimedOps` timed ops, the worst growth
    /// measured between two runs was 720% (11x catches order-of-magnitude regressions only; a
    /// quiet dedicated runner can set `p99_regression_threshold` much lower).
    public static let defaultP99ThresholdPercent = 1000.0
    /// A p99 from fewer timed ops than this (in either run) is not compared: below it the measured
    /// noise reached several hundred times.
    public static let minimumTimedOps: UInt64 = 1000

    /// Both thresholds, in percent.
    public struct Thresholds: Sendable, Equatable {
        public var opsPercent: Double
        public var p99Percent: Double
        public init(opsPercent: Double = Regression.defaultOpsThresholdPercent,
                    p99Percent: Double = Regression.defaultP99ThresholdPercent) {
            self.opsPercent = opsPercent; self.p99Percent = p99Percent
        }
    }

    /// Reads `dir/summary.json` of a finished run.
    public static func loadRun(_ dir: String) throws -> RunSummary {
        let path = (dir as NSString).appendingPathComponent("summary.json")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NightlyError("\(dir): no summary.json (not a finished bpfstress run directory)")
        }
        do {
            let s = try ReportJSON.decoder().decode(RunSummary.self, from: data)
            guard s.tool == "bpfstress" else { throw NightlyError("\(path): not a bpfstress summary") }
            return s
        } catch let e as NightlyError { throw e } catch {
            throw NightlyError("\(path): unreadable summary (\(Self.reason(error)))")
        }
    }

    /// A baseline for a run of `campaign`: the run must be finished and of the same campaign.
    public static func loadBaseline(_ dir: String, campaign: String) throws -> RunSummary {
        let s = try loadRun(dir)
        guard s.campaign == campaign else {
            throw NightlyError("baseline \(dir) is a run of campaign '\(s.campaign)', not '\(campaign)'")
        }
        // A snapshot of a run that never finished (killed, still running) is no baseline.
        guard s.isComplete else { throw NightlyError("baseline \(dir) is an incomplete run (its coordinator did not finish)") }
        return s
    }

    /// Regression findings of `current` against `baseline`.
    public static func findings(current: RunSummary, baseline: RunSummary, baselinePath: String,
                                thresholds: Thresholds = Thresholds(), at time: Date = Date()) -> [Finding] {
        let t = thresholds.opsPercent / 100, tp = thresholds.p99Percent / 100
        var out: [Finding] = []
        for sc in current.scenarios where !sc.isSkipped {
            guard let b = baseline.scenarios.first(where: { $0.name == sc.name && !$0.isSkipped }) else { continue }
            let header = "baseline \(baselinePath) (seed \(baseline.seed), started \(iso(baseline.startedAt)))\n"
                + "this run (seed \(current.seed), started \(iso(current.startedAt)))\n"
            if b.opsPerSecond > 0, sc.opsPerSecond < b.opsPerSecond * (1 - t) {
                let title = "ops/s regression in \(sc.name)"
                var dump = header + String(format: "ops/s: baseline %.0f, this run %.0f (%+.1f%%, threshold -%@%%)\n",
                                           b.opsPerSecond, sc.opsPerSecond, (sc.opsPerSecond / b.opsPerSecond - 1) * 100,
                                           fmt(thresholds.opsPercent))
                dump += opsByKindTable(baseline: b, current: sc, baselineSeconds: baseline.durationSeconds,
                                       currentSeconds: current.durationSeconds)
                out.append(Finding(type: .regression, title: title, signature: Signature.compute(title: title, frames: []),
                                   scenario: sc.name, check: "no-regression", time: time, dump: dump))
            }
            for l in sc.latency ?? [] {
                guard let bl = b.latency?.first(where: { $0.kind == l.kind }),
                      l.count >= minimumTimedOps, bl.count >= minimumTimedOps, bl.p99Us > 0,
                      l.p99Us > bl.p99Us * (1 + tp) else { continue }
                let title = "p99 regression of \(l.kind) in \(sc.name)"
                var dump = header + l.kind + String(format: " p99: baseline %.1f us, this run %.1f us (%+.1f%%, threshold +%@%%)\n\n",
                                           bl.p99Us, l.p99Us, (l.p99Us / bl.p99Us - 1) * 100, fmt(thresholds.p99Percent))
                dump += sideBySide(baseline: bl, current: l)
                out.append(Finding(type: .regression, title: title, signature: Signature.compute(title: title, frames: []),
                                   scenario: sc.name, check: "no-regression", op: l.kind, time: time, dump: dump))
            }
        }
        return out
    }

    /// The two latency distributions as columns: percentiles, then counts per power-of-two range.
    public static func sideBySide(baseline b: LatencySummary, current c: LatencySummary) -> String {
        var s = "                 baseline      this run\n"
        s += String(format: "timed ops    %12llu  %12llu\n", b.count, c.count)
        for (name, f) in [("mean", \LatencySummary.meanUs), ("p50", \.p50Us), ("p90", \.p90Us), ("p99", \.p99Us),
                          ("p99.9", \.p999Us), ("max", \.maxUs)] as [(String, KeyPath<LatencySummary, Double>)] {
            s += pad(name, 8) + String(format: " %13.1f us %10.1f us\n", b[keyPath: f], c[keyPath: f])
        }
        guard let hb = Histogram(b), let hc = Histogram(c) else { return s + "(bucket data unreadable)\n" }
        s += "\nrange                 baseline              this run\n"
        let rows = octaves(hb), rowsC = octaves(hc)
        let keys = Set(rows.keys).union(rowsC.keys).sorted()
        for k in keys {
            let nb = rows[k] ?? 0, nc = rowsC[k] ?? 0
            let pb = hb.count > 0 ? Double(nb) / Double(hb.count) : 0, pc = hc.count > 0 ? Double(nc) / Double(hc.count) : 0
            s += pad(rangeLabel(k), 14) + String(format: " %6.2f%% ", pb * 100) + pad(bar(pb), 12)
                + String(format: " %6.2f%% ", pc * 100) + bar(pc) + "\n"
        }
        return s
    }

    /// Counts per eighth of a power of two (8 buckets each, rows about 9-12% wide), keyed by the
    /// row's lower bound in ns; below 128 ns one row.
    static func octaves(_ h: Histogram) -> [UInt64: UInt64] {
        var out: [UInt64: UInt64] = [:]
        for i in 0..<Histogram.bucketCount where h.counts[i] != 0 {
            let key = i < Histogram.linear ? 0 : Histogram.lowerBound(Histogram.linear + (i - Histogram.linear) / 8 * 8)
            out[key, default: 0] += h.counts[i]
        }
        return out
    }

    static func rangeLabel(_ lo: UInt64) -> String {
        lo == 0 ? "< 128 ns" : ">= " + nanos(lo)
    }

    static func nanos(_ ns: UInt64) -> String {
        if ns >= 1_000_000_000 { return String(format: "%.3g s", Double(ns) / 1e9) }
        if ns >= 1_000_000 { return String(format: "%.3g ms", Double(ns) / 1e6) }
        if ns >= 1000 { return String(format: "%.3g us", Double(ns) / 1e3) }
        return "\(ns) ns"
    }

    static func bar(_ fraction: Double) -> String { String(repeating: "#", count: Int((fraction * 12).rounded())) }

    static func opsByKindTable(baseline b: ScenarioSummary, current c: ScenarioSummary,
                               baselineSeconds: Double, currentSeconds: Double) -> String {
        var s = "\nop kind                          baseline ops/s   this run ops/s\n"
        for k in Set(b.opsByKind.keys).union(c.opsByKind.keys).sorted() {
            let rb = Double(b.opsByKind[k] ?? 0) / max(baselineSeconds, 0.001)
            let rc = Double(c.opsByKind[k] ?? 0) / max(currentSeconds, 0.001)
            s += pad(k, 32) + String(format: " %14.0f %16.0f\n", rb, rc)
        }
        for (lb, lc) in zip(b.latency ?? [], c.latency ?? []) where lb.kind == lc.kind {
            s += "\n\(lb.kind):\n" + sideBySide(baseline: lb, current: lc)
        }
        return s
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }

    static func fmt(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }

    static func reason(_ e: Error) -> String {
        if case let DecodingError.keyNotFound(k, _) = e { return "missing key '\(k.stringValue)'" }
        if case let DecodingError.typeMismatch(_, c) = e { return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))" }
        if case DecodingError.dataCorrupted = e { return "not JSON" }
        return "\(e)"
    }
}
