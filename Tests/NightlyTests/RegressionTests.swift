import XCTest
@testable import Nightly
import Reports

final class RegressionTests: XCTestCase {
    static func summary(opsPerSecond: Double, lookupNs: UInt64, timed: Int = 1000, campaign: String = "c") -> RunSummary {
        var h = Histogram()
        for i in 0..<timed { h.record(lookupNs + UInt64(i % 10)) }
        h.sampled = true
        var sc = ScenarioSummary(name: "map-parallel", workers: 1, threads: 1, ops: UInt64(opsPerSecond * 10),
                                 opsPerSecond: opsPerSecond, opsByKind: ["map_lookup": UInt64(opsPerSecond * 10)])
        sc.latency = [h.summary(kind: "map_lookup")]
        return RunSummary(version: "t", campaign: campaign, seed: 1, runtime: "kernel", kernelRelease: "k", hostname: "h",
                          startedAt: Date(timeIntervalSince1970: 0), endedAt: Date(timeIntervalSince1970: 10),
                          durationSeconds: 10, workers: 1, threads: 1, exitCode: 0, scenarios: [sc])
    }

    func testARunAgainstItselfHasNoRegression() {
        let s = Self.summary(opsPerSecond: 1000, lookupNs: 5000)
        XCTAssertEqual(Regression.findings(current: s, baseline: s, baselinePath: "b", thresholds: .init(opsPercent: 0.001, p99Percent: 0.001)), [])
    }

    /// Just inside the threshold is noise; just past it is a regression, for ops/s and for p99.
    func testThresholdSeparatesNoiseFromRegression() {
        let base = Self.summary(opsPerSecond: 1000, lookupNs: 10_000)
        let inside = Self.summary(opsPerSecond: 610, lookupNs: 13_500)
        XCTAssertEqual(Regression.findings(current: inside, baseline: base, baselinePath: "b", thresholds: .init(opsPercent: 40, p99Percent: 40)), [])
        let slower = Self.summary(opsPerSecond: 590, lookupNs: 10_000)
        let f = Regression.findings(current: slower, baseline: base, baselinePath: "b", thresholds: .init(opsPercent: 40, p99Percent: 40))
        XCTAssertEqual(f.map(\.title), ["ops/s regression in map-parallel"])
        XCTAssertEqual(f.first?.type, .regression)
        XCTAssertEqual(f.first?.check, "no-regression")
        let tail = Self.summary(opsPerSecond: 1000, lookupNs: 15_000)
        let g = Regression.findings(current: tail, baseline: base, baselinePath: "b", thresholds: .init(opsPercent: 40, p99Percent: 40))
        XCTAssertEqual(g.map(\.title), ["p99 regression of map_lookup in map-parallel"])
        XCTAssertEqual(g.first?.op, "map_lookup")
        // The dump shows both distributions side by side.
        let dump = g.first?.dump ?? ""
        XCTAssertTrue(dump.contains("                 baseline      this run\n"), dump)
        XCTAssertTrue(dump.contains(">= 9.22 us     100.00% ############   0.00% \n"), dump)
        XCTAssertTrue(dump.contains(">= 14.3 us       0.00%              100.00% ############\n"), dump)
        XCTAssertTrue(dump.contains("p99      "), dump)
        // Faster is never a regression; too few timed ops are not compared.
        XCTAssertEqual(Regression.findings(current: base, baseline: tail, baselinePath: "b", thresholds: .init(opsPercent: 40, p99Percent: 40)), [])
        let few = Self.summary(opsPerSecond: 1000, lookupNs: 50_000, timed: 50)
        XCTAssertEqual(Regression.findings(current: few, baseline: base, baselinePath: "b", thresholds: .init(opsPercent: 40, p99Percent: 40)), [])
    }

    func testBadBaselinesAreOneLineErrors() throws {
        let dir = NSTemporaryDirectory() + "nightly-bad-baseline-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try Regression.loadRun(dir)) {
            XCTAssertEqual("\($0)", "\(dir): no summary.json (not a finished bpfstress run directory)")
        }
        try "{\"tool\": 3}".write(toFile: dir + "/summary.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Regression.loadRun(dir)) {
            XCTAssertTrue("\($0)".hasPrefix("\(dir)/summary.json: unreadable summary ("), "\($0)")
        }
        let s = Self.summary(opsPerSecond: 1, lookupNs: 1, campaign: "smoke")
        try ReportJSON.encode(s).write(to: URL(fileURLWithPath: dir + "/summary.json"))
        XCTAssertThrowsError(try Regression.loadBaseline(dir, campaign: "nightly")) {
            XCTAssertEqual("\($0)", "baseline \(dir) is a run of campaign 'smoke', not 'nightly'")
        }
        XCTAssertEqual(try Regression.loadBaseline(dir, campaign: "smoke").campaign, "smoke")
    }
}
