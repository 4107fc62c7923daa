import Foundation
import Reports

/// Writes a finished run to `<root>/<UTC timestamp>-<seed>/` (junit.xml, summary.json,
/// run.log, findings/) and points `<root>/latest` at it. Every file is written to a
/// temporary name and renamed, so a reader never sees half a report.
public enum ReportEmitter {
    @discardableResult
    public static func write(_ outcome: RunOutcome, root: String) throws -> String {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let summary = outcome.summary
        let dir = try RunDirectory.create(root: root, startedAt: summary.startedAt, seed: summary.seed)
        try dir.writeFindings(summary.buckets)
        try dir.write("summary.json", encodeSummary(summary))
        let log = outcome.log.joined(separator: "\n") + "\n"
        let suites = RunReportBuilder.junitSuites(summary: summary, systemOut: log)
        try dir.write("junit.xml", JUnitWriter.render(suites))
        try dir.write("run.log", log)
        try dir.write("index.html", HTMLReport.render(summary: summary, log: log))
        try dir.updateLatestLink()
        return dir.path
    }

    public static func encodeSummary(_ s: RunSummary) throws -> String {
        String(decoding: try ReportJSON.encoder().encode(s), as: UTF8.self) + "\n"
    }
}
