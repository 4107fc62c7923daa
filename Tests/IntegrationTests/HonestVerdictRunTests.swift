import Foundation
import XCTest

/// Verdicts that must not be greener than the truth: findings never lost, leaks found by
/// ownership, reports that survive the coordinator, interrupted runs that say so.
final class HonestVerdictRunTests: XCTestCase {
    let testEnv = ["BPFSTRESS_TEST_SCENARIOS": "1"]

    func summary(_ dir: String) throws -> [String: Any] { try Harness.json(dir + "/latest/summary.json") }

    func campaignCheck(_ s: [String: Any], _ name: String) -> [String: Any]? {
        (s["campaignChecks"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    func testAThousandFindingsPerThreadAreEveryOneCounted() throws {
        let dir = Harness.tempDir("flood")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(["run", "--scenario", "test-findings", "--workers", "1", "--threads", "2",
                                 "--duration", "3s", "--report-dir", dir, "--quiet"], env: testEnv)
        XCTAssertEqual(r.status, 1, r.stderr)
        let s = try summary(dir)
        let buckets = s["buckets"] as! [[String: Any]]
        XCTAssertEqual(buckets.count, 1)
        XCTAssertEqual(buckets.first?["count"] as? Int, 2000, "a slot's mailbox holds 8; the rest must be spilled, not dropped")
        let sc = (s["scenarios"] as! [[String: Any]])[0]
        let flood = (sc["checks"] as! [[String: Any]]).first { $0["name"] as? String == "flood" }
        XCTAssertEqual(flood?["failed"] as? Int, 2000)
        XCTAssertFalse(r.stderr.contains("lost"), r.stderr)
    }

    /// Each kind of leak a real bug makes is found by the ledger, and the clean control is clean.
    func testPlantedLeaksOfEveryKindAreFound() throws {
        let dir = Harness.tempDir("leaks")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plant = Harness.tempDir("bpfstress-plant")
        defer { try? FileManager.default.removeItem(atPath: plant) }
        FileManager.default.createFile(atPath: plant + "/netns", contents: nil)
        func campaign(_ leak: String) throws -> String {
            try Harness.campaign("""
            name: leak-\(leak)
            duration: 2s
            workers: 1
            threads: 1
            scenarios:
              - name: test-leak
                params:
                  leak: \(leak)
                  dir: \(plant)
                  holder_pidfile: \(plant)/holder.pid
            """, in: dir, name: "\(leak).yaml")
        }
        func leakDump(_ leak: String) throws -> (Int32, String) {
            let r = try Harness.run(["run", try campaign(leak), "--report-dir", dir, "--quiet"], env: testEnv)
            let s = try summary(dir)
            let dumps = (s["buckets"] as! [[String: Any]]).filter { $0["type"] as? String == "leak" }
                .flatMap { $0["dumps"] as? [String] ?? [] }.joined(separator: "\n")
            return (r.status, dumps)
        }

        let (st1, holder) = try leakDump("map-holder")
        if let pid = Int32((try? String(contentsOfFile: plant + "/holder.pid", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") { kill(pid, SIGKILL) }
        XCTAssertEqual(st1, 1)
        XCTAssertTrue(holder.contains("map id ") && holder.contains("\"bpfs_tleak\""), holder)

        let (st2, pin) = try leakDump("pin")
        unlink(plant + "/leaked_map")
        unlink(plant + "/leaked_prog")
        umount(plant)
        XCTAssertEqual(st2, 1)
        XCTAssertTrue(pin.contains("pin \(plant)/leaked_map"), pin)
        XCTAssertTrue(pin.contains("\"bpfs_tleak\""), "the pinned map itself is alive: \(pin)")
        XCTAssertTrue(pin.contains("pin \(plant)/leaked_prog") && pin.contains("\"bpfs_tleak_prog\""),
                      "a pinned program and the program itself: \(pin)")

        let (st3, ns) = try leakDump("netns-bind")
        umount(plant + "/netns")
        XCTAssertEqual(st3, 1)
        XCTAssertTrue(ns.contains("network namespace net:[") && ns.contains("kept by bind mount at \(plant)/netns"), ns)

        let (st4, none) = try leakDump("none")
        XCTAssertEqual(st4, 0, none)
        XCTAssertEqual(none, "")
        XCTAssertEqual(campaignCheck(try summary(dir), "no-leaks")?["verdict"] as? String, "passed")
    }

    func testSIGHUPEndsTheRunWithACompleteReportThatSaysItWasInterrupted() throws {
        let dir = Harness.tempDir("hup")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(["run", "--scenario", "map-parallel", "--workers", "1", "--duration", "60s",
                                 "--report-dir", dir, "--quiet"], timeout: 60) { pid in
            sleep(4)
            kill(pid, SIGHUP)
        }
        XCTAssertEqual(r.status, 5, r.stderr + r.stdout)
        XCTAssertTrue(r.stdout.contains("INTERRUPTED by SIGHUP"), r.stdout)
        let s = try summary(dir)
        XCTAssertEqual(s["interrupted"] as? String, "SIGHUP")
        XCTAssertEqual(s["complete"] as? Bool, true)
        XCTAssertEqual(campaignCheck(s, "campaign-complete")?["verdict"] as? String, "failed")
        let junit = try String(contentsOfFile: dir + "/latest/junit.xml", encoding: .utf8)
        XCTAssertTrue(junit.contains("interrupted by SIGHUP after"), junit)
        XCTAssertEqual(r.leakedWorkers, [])
    }

    /// SIGKILL leaves a snapshot that says it is incomplete; the next run removes the dead
    /// coordinator's cgroup and state directory and says so.
    func testAKilledCoordinatorLeavesAValidIncompleteReportAndTheNextRunCleansUp() throws {
        let dir = Harness.tempDir("sigkill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var victim: Int32 = 0
        let r = try Harness.run(["run", "--scenario", "load-attach-v4v6", "--workers", "1", "--duration", "60s",
                                 "--report-dir", dir, "--quiet"], timeout: 60) { pid in
            victim = pid
            sleep(7)
            kill(pid, SIGKILL)
        }
        XCTAssertEqual(r.status, SIGKILL, "Foundation reports a signal death as the signal's number")
        let s = try summary(dir)
        XCTAssertEqual(s["complete"] as? Bool, false)
        let cc = campaignCheck(s, "campaign-complete")
        XCTAssertEqual(cc?["verdict"] as? String, "failed")
        XCTAssertTrue((cc?["detail"] as? String ?? "").hasPrefix("report incomplete"), "\(String(describing: cc))")
        let junit = try String(contentsOfFile: dir + "/latest/junit.xml", encoding: .utf8)
        XCTAssertTrue(junit.contains("report incomplete"), junit)
        Harness.validateJUnit(dir + "/latest/junit.xml")
        let mine = Harness.leftoverCgroups().filter { $0.hasPrefix("bpfstress.\(victim).") }
        XCTAssertEqual(mine.count, 1, "the killed coordinator could not remove its cgroup")
        // Its workers die by PDEATHSIG; give them a moment, then a new run cleans up after it.
        sleep(1)
        // Any bpfstress starting meanwhile (another campaign on this machine) may have cleaned up first.
        let stateDirs = (try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())) ?? []
        let cleanedByAnother = Harness.leftoverCgroups().filter { $0.hasPrefix("bpfstress.\(victim).") }.isEmpty
            || !stateDirs.contains { $0.hasPrefix("bpfstress-state-\(victim)-") }
        let next = try Harness.run(["run", "--scenario", "map-parallel", "--workers", "1", "--duration", "1s",
                                    "--report-dir", dir, "--quiet"], timeout: 60)
        XCTAssertEqual(next.status, 0, next.stderr)
        XCTAssertEqual(Harness.leftoverCgroups().filter { $0.hasPrefix("bpfstress.\(victim).") }, [])
        if cleanedByAnother { throw XCTSkip("another bpfstress on this machine removed the leftovers before this run could") }
        let stale = try summary(dir)["staleCleaned"] as? [String] ?? []
        XCTAssertTrue(stale.contains { $0.contains("bpfstress.\(victim).") && $0.hasPrefix("removed stale campaign cgroup") }, "\(stale)")
        XCTAssertTrue(stale.contains { $0.contains("bpfstress-state-\(victim)-") }, "\(stale)")
    }

    func testAChecklessRunShowsChecksThatNeverRanAsSkippedNotPassed() throws {
        let dir = Harness.tempDir("notrun")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // test-findings with count 0 evaluates its only check zero times.
        let c = try Harness.campaign("""
        name: notrun
        duration: 1s
        workers: 1
        threads: 1
        scenarios:
          - name: test-findings
            params:
              count: 0
        """, in: dir)
        let r = try Harness.run(["run", c, "--report-dir", dir, "--quiet"], env: testEnv)
        XCTAssertEqual(r.status, 0, r.stderr)
        let junit = try String(contentsOfFile: dir + "/latest/junit.xml", encoding: .utf8)
        XCTAssertTrue(junit.contains("<testcase name=\"flood\""), junit)
        let flood = junit.components(separatedBy: "<testcase name=\"flood\"")[1].components(separatedBy: "</testcase>")[0]
        XCTAssertTrue(flood.contains("<skipped") && flood.contains("evaluated 0 times"), flood)
    }

    func testARunWhoseEveryScenarioIsUnsupportedExits3AtOnce() throws {
        let dir = Harness.tempDir("allskip")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The example plugin without any capability: load-attach-v4v6 needs cgroup hooks.
        var src = try String(contentsOfFile: Harness.repoRoot + "/Sources/ExamplePlugin/example.c", encoding: .utf8)
        src = src.replacingOccurrences(of: "BPFSTRESS_CAP_CGROUP_HOOKS | BPFSTRESS_CAP_TRACEPOINTS | BPFSTRESS_CAP_NETNS", with: "0")
        try src.write(toFile: dir + "/nocaps.c", atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        cc.arguments = ["-shared", "-fPIC", "-I", Harness.repoRoot + "/Sources/CBPFStress/include", "-I",
                        Harness.repoRoot + "/Sources/ExamplePlugin/include", dir + "/nocaps.c", "-o", dir + "/libnocaps.so"]
        try cc.run(); cc.waitUntilExit()
        XCTAssertEqual(cc.terminationStatus, 0)
        // The harness gives up (and fails the test) at 50 s, before the 60 s campaign could end.
        let r = try Harness.run(["run", "--runtime", "plugin:\(dir)/libnocaps.so", "--scenario", "load-attach-v4v6",
                                 "--duration", "60s", "--report-dir", dir + "/reports", "--quiet"], timeout: 50)
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("every scenario is unsupported here (load-attach-v4v6:"), r.stderr)
    }
}

extension HonestVerdictRunTests {
    /// Files a scenario leaves for the report (map-fuzz's reproducers and stats) reach the run
    /// directory under `bpfstress run` too, not only under `bpfstress fuzz`.
    func testMapFuzzUnderRunLeavesItsFilesInTheRunDirectory() throws {
        let dir = Harness.tempDir("fuzzfiles")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(["run", "--scenario", "map-fuzz", "--workers", "1", "--duration", "3s",
                                 "--report-dir", dir, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/latest")
        let stats = files.filter { $0.hasPrefix("fuzz-stats-") && $0.hasSuffix(".json") }
        XCTAssertEqual(stats.count, 1, "\(files)")
        let j = try Harness.json(dir + "/latest/" + stats[0])
        XCTAssertGreaterThan(j["executions"] as? Int ?? 0, 0)
    }
}
