import Foundation
import XCTest

/// Real campaigns against the live kernel, through the CLI.
final class CampaignRunTests: XCTestCase {
    func testFiveSecondLoadAttachCampaignCountsEveryConnect() throws {
        let dir = Harness.tempDir("v4v6")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(["run", "--scenario", "load-attach-v4v6", "--workers", "2", "--threads", "2",
                                 "--duration", "5s", "--seed", "1234", "--report-dir", dir, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        let run = dir + "/latest"
        let summary = try Harness.json(run + "/summary.json")
        XCTAssertEqual(summary["seed"] as? UInt64, 1234)
        let scenarios = summary["scenarios"] as! [[String: Any]]
        let v4v6 = try XCTUnwrap(scenarios.first { $0["name"] as? String == "load-attach-v4v6" })
        XCTAssertEqual(v4v6["status"] as? String, "ran")
        XCTAssertEqual(v4v6["workers"] as? Int, 2)
        XCTAssertGreaterThan(v4v6["ops"] as? Int ?? 0, 0)
        let byKind = v4v6["opsByKind"] as! [String: Int]
        XCTAssertGreaterThan(byKind["connect"] ?? 0, 0)
        XCTAssertGreaterThan((byKind["prog_attach"] ?? 0), 0, "prog-attach mode never ran: \(byKind)")
        XCTAssertGreaterThan((byKind["link_create"] ?? 0), 0, "link mode never ran: \(byKind)")
        let checks = Dictionary(uniqueKeysWithValues: (v4v6["checks"] as! [[String: Any]]).map {
            ($0["name"] as! String, ($0["passed"] as! Int, $0["failed"] as! Int))
        })
        XCTAssertGreaterThan(checks["counter-exact"]?.0 ?? 0, 0)
        XCTAssertEqual(checks["counter-exact"]?.1, 0)
        XCTAssertGreaterThan(checks["detach-clears"]?.0 ?? 0, 0)
        XCTAssertEqual(checks["expected-errnos"]?.1, 0)
        XCTAssertEqual((summary["buckets"] as! [Any]).count, 0)
        Harness.validateJUnit(run + "/junit.xml")
        let junit = try String(contentsOfFile: run + "/junit.xml", encoding: .utf8)
        XCTAssertTrue(junit.contains("<property name=\"seed\" value=\"1234\""), junit)
        XCTAssertTrue(junit.contains("name=\"counter-exact\""))
        XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/run.log"))
        XCTAssertEqual(Harness.leftoverCgroups(), [])
    }

    func testKilledWorkerIsRestartedAndReported() throws {
        let dir = Harness.tempDir("kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var victim: Int32 = 0
        var victimComm = ""
        let r = try Harness.run(["run", "--scenario", "load-attach-v4v6", "--workers", "2", "--threads", "2",
                                 "--duration", "8s", "--seed", "77", "--report-dir", dir, "--quiet"]) { pid in
            let until = Date().addingTimeInterval(6)
            while Date() < until {
                usleep(200_000)
                let kids = Harness.children(of: pid).filter { Harness.comm($0).hasPrefix("bpfs.") }
                if kids.count == 2 {
                    usleep(1_500_000)
                    victim = kids[0]
                    victimComm = Harness.comm(victim)
                    kill(victim, SIGKILL)
                    return
                }
            }
        }
        XCTAssertNotEqual(victim, 0, "never saw two workers")
        XCTAssertTrue(victimComm.hasPrefix("bpfs.") && victimComm.contains("v4v6"), victimComm)
        XCTAssertEqual(r.status, 1, "a killed worker is a finding: " + r.stderr)
        let summary = try Harness.json(dir + "/latest/summary.json")
        let deaths = summary["workerDeaths"] as! [[String: Any]]
        XCTAssertEqual(deaths.count, 1)
        XCTAssertEqual(deaths.first?["pid"] as? Int32, victim)
        XCTAssertEqual(deaths.first?["reason"] as? String, "killed by SIGKILL")
        let buckets = summary["buckets"] as! [[String: Any]]
        XCTAssertEqual(buckets.map { $0["title"] as? String }, ["worker killed by SIGKILL in load-attach-v4v6"])
        XCTAssertEqual(buckets.first?["type"] as? String, "crash")
        let log = try String(contentsOfFile: dir + "/latest/run.log", encoding: .utf8)
        XCTAssertTrue(log.contains("(restart 1)"), log)
        let v4v6 = (summary["scenarios"] as! [[String: Any]]).first!
        XCTAssertGreaterThan(v4v6["ops"] as? Int ?? 0, 0)
        Harness.validateJUnit(dir + "/latest/junit.xml")
        XCTAssertEqual(Harness.leftoverCgroups(), [])
    }

    func testUnknownScenarioIsAUsageError() throws {
        let r = try Harness.run(["run", "--scenario", "no-such-thing", "--duration", "1s"])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("unknown scenario 'no-such-thing'"), r.stderr)
    }

    func testMalformedCampaignIsAUsageErrorNamingTheKey() throws {
        let dir = Harness.tempDir("badcampaign")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.yaml"
        try "duration: 5s\nwokers: 3\nscenarios: [load-attach-v4v6]\n".write(toFile: path, atomically: true, encoding: .utf8)
        let r = try Harness.run(["run", path])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("bad.yaml:2"), r.stderr)
        XCTAssertTrue(r.stderr.contains("wokers"), r.stderr)
    }

    func testListShowsTheSeedScenario() throws {
        let r = try Harness.run(["list"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.stdout.contains("load-attach-v4v6"))
        XCTAssertTrue(r.stdout.contains("[supported]"), r.stdout)
    }

    /// Without privileges, `run` says so in one line and exits 3 (environment).
    func testUnprivilegedRunExitsThreeWithOneLine() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", Harness.binary,
                       "run", "--scenario", "load-attach-v4v6", "--duration", "1s", "--report-dir", "/tmp"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 3, text)
        XCTAssertEqual(text, "bpfstress: needs root (CAP_BPF and CAP_SYS_ADMIN) to load and attach BPF programs\n")
    }
}
