import Foundation
import XCTest

/// Short real runs of lock-contention-abba and extension-restart through the CLI.
final class ChurnScenarioRunTests: XCTestCase {
    /// Runs one scenario and returns its summary entry, checks as name -> (passed, failed).
    func run(_ scenario: String, seconds: Int, file: StaticString = #filePath, line: UInt = #line) throws
        -> (entry: [String: Any], checks: [String: (Int, Int)], summary: [String: Any], dir: String) {
        let dir = Harness.tempDir(scenario)
        let r = try Harness.run(["run", "--scenario", scenario, "--workers", "2", "--threads", "2",
                                 "--duration", "\(seconds)s", "--seed", "4242", "--report-dir", dir, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout, file: file, line: line)
        let summary = try Harness.json(dir + "/latest/summary.json")
        let entry = try XCTUnwrap((summary["scenarios"] as? [[String: Any]])?.first { $0["name"] as? String == scenario })
        let checks = Dictionary(uniqueKeysWithValues: (entry["checks"] as! [[String: Any]]).map {
            ($0["name"] as! String, ($0["passed"] as! Int, $0["failed"] as! Int))
        })
        return (entry, checks, summary, dir)
    }

    func testLockContentionABBARunsFiresAndStaysClean() throws {
        let (entry, checks, summary, dir) = try run("lock-contention-abba", seconds: 3)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(entry["status"] as? String, "ran")
        XCTAssertGreaterThan(entry["ops"] as? Int ?? 0, 0)
        let byKind = entry["opsByKind"] as! [String: Int]
        XCTAssertGreaterThan(byKind["map_update"] ?? 0, 0)
        XCTAssertGreaterThan(byKind["map_delete"] ?? 0, 0)
        XCTAssertEqual((summary["buckets"] as! [Any]).count, 0, "\(summary["buckets"]!)")
        for c in ["map-errnos", "prog-errnos", "prog-fired", "run-count-exact"] {
            XCTAssertGreaterThan(checks[c]?.0 ?? 0, 0, c)
            XCTAssertEqual(checks[c]?.1, 0, c)
        }
        // Two workers, each judging both programs.
        XCTAssertEqual(checks["prog-fired"]?.0, 4)
        Harness.validateJUnit(dir + "/latest/junit.xml")
        let junit = try String(contentsOfFile: dir + "/latest/junit.xml", encoding: .utf8)
        XCTAssertTrue(junit.contains("name=\"run-count-exact\""))
        XCTAssertTrue(junit.contains("<property name=\"ops.map_update\""), junit)
    }

    func testExtensionRestartChurnsEveryKindWithoutLeaks() throws {
        let (entry, checks, summary, dir) = try run("extension-restart", seconds: 5)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(entry["status"] as? String, "ran")
        XCTAssertGreaterThan(entry["ops"] as? Int ?? 0, 0)
        let byKind = entry["opsByKind"] as! [String: Int]
        for k in ["cgroup_create", "cgroup_remove", "netns_create", "netns_destroy", "extension_restart", "object_load", "link_create", "prog_attach"] {
            XCTAssertGreaterThan(byKind[k] ?? 0, 0, "\(k): \(byKind)")
        }
        XCTAssertEqual((summary["buckets"] as! [Any]).count, 0, "\(summary["buckets"]!)")
        for c in ["cgroup-churn", "dead-cgroup-link", "netns-churn", "dead-netns-link", "structops-churn",
                  "prog-freed", "creator-ops"] {
            XCTAssertGreaterThan(checks[c]?.0 ?? 0, 0, c)
            XCTAssertEqual(checks[c]?.1, 0, c)
        }
        let noLeaks = (summary["campaignChecks"] as? [[String: Any]])?.first { $0["name"] as? String == "no-leaks" }
        XCTAssertEqual(noLeaks?["verdict"] as? String, "passed", "the campaign's ownership-ledger leak check ran clean")
        Harness.validateJUnit(dir + "/latest/junit.xml")
        XCTAssertEqual(Harness.leftoverCgroups(), [])
    }

    /// Seed bug 2 through extension-restart: bugbench's shared-txn fault (one engine handle for
    /// every attach transaction) makes concurrent attaches fail with EINVAL. Creators attach to
    /// the campaign cgroup, never churned: that EINVAL must be a finding, not tolerated.
    func testSharedTransactionEINVALIsFoundThroughExtensionRestart() throws {
        let plugin = URL(fileURLWithPath: Harness.binary).deletingLastPathComponent()
            .appendingPathComponent("libbpfstress-bugbench.so").path
        guard FileManager.default.fileExists(atPath: plugin) else { throw XCTSkip("\(plugin) not built: run `swift build` first") }
        let dir = Harness.tempDir("xrst-txn")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(["run", "--runtime", "plugin:\(plugin):shared-txn", "--scenario", "extension-restart",
                                 "--workers", "2", "--threads", "3", "--duration", "6s", "--report-dir", dir, "--quiet"],
                                timeout: 90)
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        let s = try Harness.json(dir + "/latest/summary.json")
        let creator = (s["buckets"] as! [[String: Any]]).filter { $0["check"] as? String == "creator-ops" }
        XCTAssertTrue(creator.contains { ($0["title"] as? String ?? "").hasSuffix("failed: EINVAL on the campaign cgroup in extension-restart") },
                      "\(creator.map { $0["title"] ?? "" })")
        // The control, the same plugin without a fault, is clean.
        let c = try Harness.run(["run", "--runtime", "plugin:\(plugin):none", "--scenario", "extension-restart",
                                 "--workers", "2", "--threads", "3", "--duration", "4s", "--report-dir", dir, "--quiet"],
                                timeout: 90)
        XCTAssertEqual(c.status, 0, c.stdout + c.stderr)
    }
}
