import Foundation
import Nightly
import Reports
import TestSupport
import XCTest

/// Real campaigns for issue 16: latency percentiles, baselines, shards and merges, trends.
final class NightlyRunTests: XCTestCase {
    func library(_ name: String) throws -> String {
        let p = URL(fileURLWithPath: Harness.binary).deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.fileExists(atPath: p) else { throw XCTSkip("\(p) not built: run `swift build` first") }
        return p
    }

    static func scenario(_ summary: [String: Any], _ name: String) -> [String: Any]? {
        (summary["scenarios"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    static func latency(_ scenario: [String: Any], _ kind: String) -> [String: Any]? {
        (scenario["latency"] as? [[String: Any]])?.first { $0["kind"] as? String == kind }
    }

    /// A plugin sleeps 2 ms before every BPF_MAP_LOOKUP_ELEM: map_lookup's percentiles are all at
    /// least 2 ms (a sleep never returns early, and a reported percentile is the top of its
    /// bucket), while updates, which do not sleep, stay below them. JUnit and the page carry them.
    func testInjectedLookupLatencyShowsInThePercentiles() throws {
        let plugin = try library("libbpfstress-sleep-plugin.so")
        let dir = Harness.tempDir("latency")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(["run", "--runtime", "plugin:\(plugin):1,2000", "--scenario", "map-parallel",
                                 "--duration", "4s", "--workers", "1", "--threads", "2", "--seed", "11",
                                 "--report-dir", dir, "--quiet"], timeout: 90)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let s = try Harness.json(dir + "/latest/summary.json")
        let sc = try XCTUnwrap(Self.scenario(s, "map-parallel"))
        let lookup = try XCTUnwrap(Self.latency(sc, "map_lookup"), "\(sc)")
        let update = try XCTUnwrap(Self.latency(sc, "map_update"), "\(sc)")
        XCTAssertEqual(lookup["sampled"] as? Bool, true)
        XCTAssertGreaterThan(lookup["count"] as? Int ?? 0, 0)
        for key in ["p50Us", "p90Us", "p99Us", "p999Us", "maxUs"] {
            XCTAssertGreaterThanOrEqual(lookup[key] as? Double ?? 0, 2000, key)
        }
        let p = ["p50Us", "p90Us", "p99Us", "p999Us", "maxUs"].map { lookup[$0] as? Double ?? 0 }
        XCTAssertEqual(p, p.sorted(), "percentiles are monotonic")
        XCTAssertLessThan(update["p50Us"] as? Double ?? .infinity, lookup["p50Us"] as? Double ?? 0)
        let junit = try String(contentsOfFile: dir + "/latest/junit.xml", encoding: .utf8)
        let prop = try XCTUnwrap(junit.range(of: "name=\"latency.map_lookup.p99_us\" value=\""))
        let value = Double(junit[prop.upperBound...].prefix { $0 != "\"" }) ?? 0
        XCTAssertGreaterThanOrEqual(value, 2000)
        let html = try String(contentsOfFile: dir + "/latest/index.html", encoding: .utf8)
        XCTAssertTrue(html.contains("<svg class=\"latency-plot\" id=\"latency-map_lookup\""))
        XCTAssertTrue(html.contains("<svg class=\"latency-plot\" id=\"latency-map_update\""))
        let kinds = (sc["latency"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        try assertRendersInChromium(dir + "/latest/index.html", ids: kinds.map { "latency-" + $0 }, polylines: kinds.count,
                                    seriesClass: "latency-series")
    }

    static func campaign(name: String, scenarios: [String], duration: String = "3s", workers: Int = 1) -> String {
        "name: \(name)\nduration: \(duration)\nworkers: \(workers)\nthreads: 2\nscenarios:\n"
            + scenarios.map { "  - name: \($0)\n" }.joined()
    }

    /// The run directory a finished `run`/`merge` printed (`report: PATH`).
    static func reportPath(_ r: Harness.Result) throws -> String {
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("report: ") }, r.stdout + r.stderr)
        return String(line.dropFirst("report: ".count))
    }

    /// A run against a faster baseline (the kernel, while this run's updates sleep 300 us) gets
    /// regression findings, with both distributions in the dump; a run compared with itself gets
    /// none. Then the three runs make a trend page that renders in Chromium with its plots and
    /// shows the regression buckets as new, then gone.
    func testBaselineRegressionsAndTrendOverRealRuns() throws {
        let plugin = try library("libbpfstress-sleep-plugin.so")
        let dir = Harness.tempDir("baseline")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Element ops are timed 1 in 16, so the slow run needs >= 16,000 updates for
        // Regression.minimumTimedOps: 6 threads x 6 s of 300 us sleeps can give ~120,000 even when
        // a loaded machine runs the rest of the scenario slowly (3 threads x 5 s gave ~500 timed).
        let c = try Harness.campaign(Self.campaign(name: "nightly-test", scenarios: ["map-parallel"], duration: "6s")
                                         .replacingOccurrences(of: "threads: 2", with: "threads: 6"), in: dir)
        let root = dir + "/nightly"
        let k1 = try Harness.run(["run", c, "--seed", "5", "--report-dir", root, "--quiet"], timeout: 90)
        XCTAssertEqual(k1.status, 0, k1.stdout + k1.stderr)
        let fast = try Self.reportPath(k1)

        let s1 = try Harness.run(["run", c, "--seed", "5", "--runtime", "plugin:\(plugin):2,300", "--baseline", fast,
                                  "--p99-regression-threshold", "200",
                                  "--report-dir", root, "--quiet"], timeout: 90)
        XCTAssertEqual(s1.status, 1, s1.stdout + s1.stderr)
        let slow = try Self.reportPath(s1)
        let summary = try Regression.loadRun(slow)
        XCTAssertEqual(summary.baseline, fast)
        let regressions = summary.buckets.filter { $0.type == .regression }
        // Other kinds may cross the threshold too on a loaded machine (the sleeps change the mix).
        XCTAssertTrue(regressions.map(\.title).contains("p99 regression of map_update in map-parallel"),
                      "\(summary.buckets.map(\.title))")
        XCTAssertEqual(summary.buckets.count, regressions.count, "no other findings: \(summary.buckets.map(\.title))")
        let p99 = try XCTUnwrap(regressions.first { $0.title == "p99 regression of map_update in map-parallel" })
        XCTAssertEqual(p99.check, "no-regression")
        XCTAssertTrue(p99.dumps[0].hasPrefix("baseline \(fast) (seed 5, started "), p99.dumps[0])
        XCTAssertTrue(p99.dumps[0].contains("                 baseline      this run\n"), p99.dumps[0])
        XCTAssertTrue(p99.dumps[0].contains("\nrange                 baseline              this run\n"), p99.dumps[0])
        let junit = try String(contentsOfFile: slow + "/junit.xml", encoding: .utf8)
        let caseName = regressions.count == 1 ? "no-regression" : "no-regression [p99 regression of map_update in map-parallel]"
        XCTAssertTrue(junit.contains("<testcase name=\"\(caseName)\" classname=\"bpfstress.map-parallel\""), junit)
        XCTAssertTrue(junit.contains("type=\"regression\""))
        XCTAssertTrue(FileManager.default.fileExists(atPath: slow + "/findings/\(p99.signature)/dump-1.txt"))
        // Compared with itself, the real run has no regression at any threshold.
        let real = try Regression.loadRun(fast)
        XCTAssertEqual(Regression.findings(current: real, baseline: real, baselinePath: fast, thresholds: .init(opsPercent: 0.001, p99Percent: 0.001)), [])
        XCTAssertFalse((real.scenarios.first?.latency ?? []).isEmpty)
        // A baseline of another campaign is refused before anything runs.
        let other = try Harness.run(["run", "--scenario", "map-parallel", "--baseline", fast, "--report-dir", root, "--quiet"])
        XCTAssertEqual(other.status, 2)
        XCTAssertEqual(other.stderr, "bpfstress: --baseline: baseline \(fast) is a run of campaign 'nightly-test', not 'adhoc'\n")

        let k2 = try Harness.run(["run", c, "--seed", "6", "--report-dir", root, "--quiet"], timeout: 90)
        XCTAssertEqual(k2.status, 0, k2.stdout + k2.stderr)
        let t = try Harness.run(["trend", root, "--output", dir + "/trend.html"])
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertEqual(t.stdout, "trend: \(dir)/trend.html (3 runs)\n")
        let page = try String(contentsOfFile: dir + "/trend.html", encoding: .utf8)
        XCTAssertFalse(page.contains("<script"))
        // The only URLs are the SVG namespaces (one per plot), never fetched.
        XCTAssertEqual(page.components(separatedBy: "http").count - 1, page.components(separatedBy: "<svg ").count - 1)
        for sig in regressions.map(\.signature) {
            XCTAssertTrue(page.contains("<tr id=\"trend-bucket-\(sig)\">"), sig)
            XCTAssertEqual(page.components(separatedBy: "<code>\(sig)</code> &times;1</li>").count - 1, 1, "new once")
        }
        XCTAssertEqual(page.components(separatedBy: "gone: [regression]").count - 1, regressions.count, "all gone in the third run")
        try assertRendersInChromium(dir + "/trend.html", ids: ["trend-ops", "trend-p99-map-parallel", "trend-buckets"],
                                    polylines: 3)
        // Bad input: one line, exit 2.
        let none = try Harness.run(["trend", dir + "/nothing-here"])
        XCTAssertEqual(none.status, 2)
        XCTAssertEqual(none.stderr, "bpfstress: trend: \(dir)/nothing-here: not a directory\n")
    }

    /// Two shards of one campaign, merged, have the scenarios and checks of one unsharded run, with
    /// disjoint worker seeds; the merged junit.xml has one testsuite per scenario per shard.
    func testTwoShardsMergedMatchOneUnshardedRun() throws {
        let dir = Harness.tempDir("shards")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try Harness.campaign(Self.campaign(name: "shard-test", scenarios: ["map-parallel", "percpu-batch-sizes"],
                                                   duration: "3s", workers: 2), in: dir)
        let whole = try Harness.run(["run", c, "--seed", "9", "--report-dir", dir + "/whole", "--quiet"], timeout: 90)
        XCTAssertEqual(whole.status, 0, whole.stdout + whole.stderr)
        var shardDirs: [String] = []
        for i in 1...2 {
            let r = try Harness.run(["run", c, "--seed", "9", "--shard", "\(i)/2", "--report-dir", dir + "/shards", "--quiet"], timeout: 90)
            XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
            shardDirs.append(try Self.reportPath(r))
        }
        let shards = try shardDirs.map(Regression.loadRun)
        XCTAssertEqual(shards.map { $0.shard?.index }, [1, 2])
        XCTAssertEqual(shards.map { $0.shard?.firstSlot }, [0, 65_536])
        let seeds = shards.map { Set($0.shard?.workerSeeds ?? []) }
        XCTAssertEqual(seeds.map(\.count), [2, 2])
        XCTAssertTrue(seeds[0].isDisjoint(with: seeds[1]), "\(seeds)")

        let m = try Harness.run(["merge"] + shardDirs + ["--report-dir", dir + "/merged"])
        XCTAssertEqual(m.status, 0, m.stdout + m.stderr)
        let merged = try Regression.loadRun(try Self.reportPath(m))
        let single = try Regression.loadRun(try Self.reportPath(whole))
        func shape(_ s: RunSummary) -> [String: Set<String>] {
            Dictionary(uniqueKeysWithValues: s.scenarios.map { ($0.name, Set($0.checks.map(\.name))) })
        }
        XCTAssertEqual(shape(merged), shape(single))
        XCTAssertEqual(merged.shards?.map(\.index), [1, 2])
        for sc in merged.scenarios {
            let parts = shards.compactMap { $0.scenarios.first { $0.name == sc.name } }
            XCTAssertEqual(sc.ops, parts.reduce(0) { $0 + $1.ops }, sc.name)
            for chk in sc.checks {
                XCTAssertEqual(chk.passed, parts.reduce(0) { $0 + ($1.checks.first { $0.name == chk.name }?.passed ?? 0) })
            }
            let timed = parts.reduce(UInt64(0)) { $0 + ($1.latency?.first { $0.kind == "map_update" }?.count ?? 0) }
            XCTAssertEqual(sc.latency?.first { $0.kind == "map_update" }?.count ?? 0, timed, sc.name)
        }
        let mergedDir = try Self.reportPath(m)
        let junit = try String(contentsOfFile: mergedDir + "/junit.xml", encoding: .utf8)
        for name in ["map-parallel", "percpu-batch-sizes"] {
            for i in 1...2 { XCTAssertTrue(junit.contains("<testsuite name=\"\(name) [shard \(i)/2]\""), name) }
        }
        // Two scenarios and the campaign's own checks (suite "bpfstress"), once per shard.
        for i in 1...2 { XCTAssertTrue(junit.contains("<testsuite name=\"bpfstress [shard \(i)/2]\""), junit) }
        XCTAssertEqual(junit.components(separatedBy: "<testsuite ").count - 1, 6)
        XCTAssertTrue(junit.contains("<property name=\"shard\" value=\"2/2\"/>"))
        for f in ["summary.json", "index.html", "run.log"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: mergedDir + "/" + f), f)
        }
        if FileManager.default.fileExists(atPath: Harness.repoRoot + "/../shared/junit") {
            Harness.validateJUnit(mergedDir + "/junit.xml")
        }
        // Bad input: one line, exit 2.
        let twice = try Harness.run(["merge", shardDirs[0], shardDirs[0], "--report-dir", dir + "/merged"])
        XCTAssertEqual(twice.status, 2)
        XCTAssertEqual(twice.stderr, "bpfstress: merge: shard 1/2 given twice\n")
        let mixed = try Harness.run(["merge", shardDirs[0], try Self.reportPath(whole), "--report-dir", dir + "/merged"])
        XCTAssertEqual(mixed.status, 2)
        XCTAssertEqual(mixed.stderr, "bpfstress: merge: some runs are shards and some are not\n")
        let bad = try Harness.run(["run", c, "--shard", "0/2", "--report-dir", dir, "--quiet"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.stderr, "bpfstress: --shard: I must be 1...2 (got 0)\n")
    }

    /// Headless Chromium loads the page (DOM has the plots) and paints something that is not blank.
    func assertRendersInChromium(_ page: String, ids: [String], polylines: Int, seriesClass: String = "trend-series",
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        guard let chrome = Chromium.path else {
            XCTFail("chromium not installed: run scripts/bootstrap (Debian package chromium)", file: file, line: line)
            return
        }
        let r = try Chromium.render(page, browser: chrome)
        XCTAssertEqual(r.domStatus, 0, file: file, line: line)
        for id in ids { XCTAssertTrue(r.dom.contains("id=\"\(id)\""), id, file: file, line: line) }
        XCTAssertGreaterThanOrEqual(r.dom.components(separatedBy: "<polyline class=\"\(seriesClass)\"").count - 1, polylines,
                                    file: file, line: line)
        XCTAssertEqual(r.shotStatus, 0, file: file, line: line)
        let data = r.screenshot
        XCTAssertEqual(Array(data.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "a PNG", file: file, line: line)
        // A blank 1000x1400 page compresses to a few KB; plots, tables and text do not.
        XCTAssertGreaterThan(data.count, 20_000, "screenshot looks blank", file: file, line: line)
    }
}
