// Reads what a guest's own bpfstress run left in the job share and folds it into the host's summary.
import Foundation
import Reports

/// A guest run directory's contents, as far as they survived the guest.
public struct GuestReport: Sendable {
    public var summary: RunSummary?
    /// From summary.json, or, when the guest died before writing it, from findings/*/finding.json.
    public var buckets: [FindingBucket]
    public var runDir: String?
}

public enum GuestMerge {
    /// The newest run directory under `reports` (the guest's `--report-dir`): summary.json when it is
    /// complete and valid; each finding.json that is (they are renamed into place, so a torn one is absent).
    public static func read(reportsDir: String) -> GuestReport {
        let fm = FileManager.default
        let dirs = ((try? fm.contentsOfDirectory(atPath: reportsDir)) ?? [])
            .filter { !$0.hasPrefix(".") && $0 != "latest" }.sorted()
        guard let last = dirs.last else { return GuestReport(summary: nil, buckets: [], runDir: nil) }
        let dir = reportsDir + "/" + last
        let dec = ReportJSON.decoder()
        if let d = fm.contents(atPath: dir + "/summary.json"), let s = try? dec.decode(RunSummary.self, from: d) {
            return GuestReport(summary: s, buckets: s.buckets, runDir: dir)
        }
        var buckets: [FindingBucket] = []
        for f in ((try? fm.contentsOfDirectory(atPath: dir + "/findings")) ?? []).sorted() {
            if let d = fm.contents(atPath: dir + "/findings/\(f)/finding.json"), let b = try? dec.decode(FindingBucket.self, from: d) {
                buckets.append(b)
            }
        }
        return GuestReport(summary: nil, buckets: buckets, runDir: dir)
    }

    /// Adds `more` into `into` by signature: counts add up, first/last seen widen, dumps fill up to
    /// the bucket limit. Each dump is prefixed with the guest it came from.
    public static func mergeBuckets(_ into: inout [FindingBucket], _ more: [FindingBucket], guest: String) {
        for var b in more {
            b.dumps = b.dumps.map { "guest: \(guest)\n" + $0 }
            if let i = into.firstIndex(where: { $0.signature == b.signature }) {
                into[i].count += b.count
                into[i].firstSeen = min(into[i].firstSeen, b.firstSeen)
                into[i].lastSeen = max(into[i].lastSeen, b.lastSeen)
                for d in b.dumps where into[i].dumps.count < BucketStore.maxDumps { into[i].dumps.append(d) }
                if let ops = b.ops {
                    var all = into[i].ops ?? []
                    for o in ops where !all.contains(o) && all.count < BucketStore.maxOps { all.append(o) }
                    into[i].ops = all
                }
            } else {
                into.append(b)
            }
        }
    }

    /// Scenario summaries of several guest runs, by name: ops, per-kind counts, tolerated errnos and
    /// check counts add up; a scenario is skipped only if it was skipped everywhere.
    public static func mergeScenarios(_ into: inout [ScenarioSummary], _ more: [ScenarioSummary]) {
        for s in more {
            guard let i = into.firstIndex(where: { $0.name == s.name }) else { into.append(s); continue }
            var m = into[i]
            if m.isSkipped && !s.isSkipped { m.status = s.status; m.skipReason = nil }
            m.ops += s.ops
            m.opsPerSecond += s.opsPerSecond
            for (k, v) in s.opsByKind { m.opsByKind[k, default: 0] += v }
            for (k, v) in s.toleratedErrnos { m.toleratedErrnos[k, default: 0] += v }
            for c in s.checks {
                if let j = m.checks.firstIndex(where: { $0.name == c.name }) {
                    m.checks[j].passed += c.passed
                    m.checks[j].failed += c.failed
                    if c.skipReason == nil { m.checks[j].skipReason = nil }
                } else {
                    m.checks.append(c)
                }
            }
            into[i] = m
        }
    }
}
