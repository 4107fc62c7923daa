import Foundation
import XCTest

/// Short real runs of percpu-batch-sizes and map-parallel through the CLI.
final class MapScenarioRunTests: XCTestCase {
    /// Runs one scenario and returns its summary entry after the common assertions.
    func runScenario(_ name: String, workers: Int, threads: Int, seconds: Int = 4,
                     file: StaticString = #filePath, line: UInt = #line) throws -> (scenario: [String: Any], checks: [String: (Int, Int)], junit: String) {
        let dir = Harness.tempDir(name)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(["run", "--scenario", name, "--workers", "\(workers)", "--threads", "\(threads)",
                                 "--duration", "\(seconds)s", "--seed", "4242", "--report-dir", dir, "--quiet"])
        let summary = try Harness.json(dir + "/latest/summary.json")
        let buckets = summary["buckets"] as? [[String: Any]] ?? []
        XCTAssertEqual(r.status, 0, "findings: \(buckets.map { $0["title"] ?? "" })\n" + r.stderr, file: file, line: line)
        XCTAssertEqual(buckets.count, 0, "\(buckets.map { $0["title"] ?? "" })", file: file, line: line)
        let s = try XCTUnwrap((summary["scenarios"] as? [[String: Any]])?.first { $0["name"] as? String == name }, file: file, line: line)
        XCTAssertEqual(s["status"] as? String, "ran", file: file, line: line)
        XCTAssertGreaterThan(s["ops"] as? Int ?? 0, 0, file: file, line: line)
        let checks = Dictionary(uniqueKeysWithValues: (s["checks"] as! [[String: Any]]).map {
            ($0["name"] as! String, ($0["passed"] as! Int, $0["failed"] as! Int))
        })
        for (c, pf) in checks { XCTAssertEqual(pf.1, 0, "check \(c) failed", file: file, line: line) }
        Harness.validateJUnit(dir + "/latest/junit.xml", file: file, line: line)
        let junit = try String(contentsOfFile: dir + "/latest/junit.xml", encoding: .utf8)
        XCTAssertEqual(Harness.leftoverCgroups(), [], file: file, line: line)
        return (s, checks, junit)
    }

    func testPercpuBatchSizesRunsEveryOpAndPassesEveryCheck() throws {
        let (s, checks, junit) = try runScenario("percpu-batch-sizes", workers: 2, threads: 3)
        let byKind = s["opsByKind"] as! [String: Int]
        for kind in ["map_lookup_batch", "map_lookup_and_delete_batch", "map_update_batch", "map_delete_batch", "map_update"] {
            XCTAssertGreaterThan(byKind[kind] ?? 0, 0, "\(kind) never ran: \(byKind)")
        }
        for c in ["expected-errnos", "too-small-efault", "canary-intact", "entries-exact", "slots-decode",
                  "failed-call-no-change", "updater-ok"] {
            XCTAssertGreaterThan(checks[c]?.0 ?? 0, 0, "check \(c) never passed: \(checks)")
        }
        // The wrong sizes really produced EFAULT, and the flag cases EINVAL.
        let tolerated = s["toleratedErrnos"] as? [String: Int] ?? [:]
        XCTAssertGreaterThan(tolerated["EFAULT"] ?? 0, 0, "\(tolerated)")
        XCTAssertGreaterThan(tolerated["EINVAL"] ?? 0, 0, "\(tolerated)")
        XCTAssertTrue(junit.contains("name=\"too-small-efault\""))
    }

    func testMapParallelRunsRoundsAndPassesEveryCheck() throws {
        let (s, checks, _) = try runScenario("map-parallel", workers: 4, threads: 2)
        let byKind = s["opsByKind"] as! [String: Int]
        for kind in ["map_update", "map_delete", "map_lookup", "map_get_next_key", "map_lookup_batch"] {
            XCTAssertGreaterThan(byKind[kind] ?? 0, 0, "\(kind) never ran: \(byKind)")
        }
        for c in ["expected-errnos", "own-range-exact", "overlap-values", "final-content-exact", "counts-agree",
                  "one-winner", "delete-to-empty"] {
            XCTAssertGreaterThan(checks[c]?.0 ?? 0, 0, "check \(c) never passed: \(checks)")
        }
        let tolerated = s["toleratedErrnos"] as? [String: Int] ?? [:]
        XCTAssertGreaterThan(tolerated["EEXIST"] ?? 0, 0, "NOEXIST races never lost: \(tolerated)")
    }
}
