// The workload of `bpfstress bench triage`: golden reports cycled into files, triaged and only read.

import Foundation
import Reports

public enum TriageBench {
    /// Writes files cycling the golden raw texts (without their expectation headers) into `dir` until they
    /// hold `reports` reports; returns how many reports they hold.
    public static func writeCorpus(from corpus: String, to dir: String, reports: Int) throws -> Int {
        var texts: [(name: String, text: String, count: Int)] = []
        for sub in ["kernel", "userspace", "windbg"] {
            let d = corpus + "/" + sub
            for f in ((try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []).sorted() where f.hasSuffix(".txt") {
                let s = try String(contentsOfFile: d + "/" + f, encoding: .utf8)
                guard let r = s.range(of: "\n\n") else { continue }
                let raw = String(s[r.upperBound...])
                let n = try Triage.reports(inText: raw, file: f).count
                if n > 0 { texts.append((sub + "-" + f, raw, n)) }
            }
        }
        guard !texts.isEmpty else { throw TriageError.noSuchPath(corpus + "/{kernel,userspace,windbg}/*.txt") }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var total = 0, i = 0
        while total < reports {
            let t = texts[i % texts.count]
            try t.text.write(toFile: "\(dir)/\(i)-\(t.name)", atomically: false, encoding: .utf8)
            total += t.count
            i += 1
        }
        return total
    }

    /// One round: seconds for scan + buckets, seconds for reading and stripping every line, reports found.
    public static func round(_ dir: String) throws -> (triage: Double, baseline: Double, reports: Int) {
        let t0 = Date()
        let items = try Triage.scan([dir])
        _ = Triage.buckets(items)
        let t1 = Date()
        var lines = 0
        for f in try Triage.inputFiles([dir]) {
            guard let text = Triage.readText(f) else { continue }
            for l in text.consoleLines where !ConsoleLine.strip(String(l)).isEmpty { lines += 1 }
        }
        let t2 = Date()
        _ = lines
        return (t1.timeIntervalSince(t0), t2.timeIntervalSince(t1), items.count)
    }
}
