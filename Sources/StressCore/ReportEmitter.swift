// Writes a run's report files: at start, as snapshots while it runs, and at the end.
import Foundation
import Reports

/// Writes a run to `<root>/<UTC timestamp>-<seed>/` (junit.xml, summary.json, run.log,
/// index.html, findings/) and points `<root>/latest` at it. Every file is written to a
/// temporary name and renamed, so a reader never sees half a report; a snapshot is a
/// complete, valid report that says it is incomplete.
public enum ReportEmitter {
    /// Creates the run directory (checked before any worker starts) and points latest at it.
    public static func begin(root: String, startedAt: Date, seed: UInt64) throws -> RunDirectory {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let dir = try RunDirectory.create(root: root, startedAt: startedAt, seed: seed)
        try dir.updateLatestLink()
        return dir
    }

    /// Writes every file of `outcome` into `dir`.
    public static func write(_ outcome: RunOutcome, into dir: RunDirectory) throws {
        let summary = outcome.summary
        try dir.writeFindings(summary.buckets)
        try dir.write("summary.json", encodeSummary(summary))
        let log = outcome.log.joined(separator: "\n") + "\n"
        let suites = RunReportBuilder.junitSuites(summary: summary, systemOut: log)
        try dir.write("junit.xml", JUnitWriter.render(suites))
        try dir.write("run.log", log)
        try dir.write("index.html", HTMLReport.render(summary: summary, log: log))
        for (name, data) in outcome.files { try dir.write(name, data: data) }
    }

    /// One call for a finished run: begin + write.
    @discardableResult
    public static func write(_ outcome: RunOutcome, root: String) throws -> String {
        let dir = try begin(root: root, startedAt: outcome.summary.startedAt, seed: outcome.summary.seed)
        try write(outcome, into: dir)
        return dir.path
    }

    public static func encodeSummary(_ s: RunSummary) throws -> String {
        String(decoding: try ReportJSON.encoder().encode(s), as: UTF8.self) + "\n"
    }
}
