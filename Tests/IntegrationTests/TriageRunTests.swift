import Foundation
import XCTest

/// `bpfstress triage` on the run directories of two real hang campaigns, plus a kernel console
/// log and a gdb dump next to them; and the index.html each run now writes.
final class TriageRunTests: XCTestCase {
    let testEnv = ["BPFSTRESS_TEST_SCENARIOS": "1"]

    func testTwoRunsShareOneBucketCountedTwiceAndJSONHasFourKeys() throws {
        let dir = Harness.tempDir("triage")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = try Harness.campaign(Harness.hangCampaign(duration: "4s", name: "triage-hang"), in: dir)
        let reports = dir + "/reports"
        var starts: [String] = []
        for seed in ["21", "22"] {
            let r = try Harness.run(["run", c, "--seed", seed, "--report-dir", reports, "--quiet"], env: testEnv)
            XCTAssertEqual(r.status, 1, r.stderr)
            let summary = try Harness.json(reports + "/latest/summary.json")
            starts.append(summary["startedAt"] as! String)
            let html = try String(contentsOfFile: reports + "/latest/index.html", encoding: .utf8)
            XCTAssertTrue(html.contains("<svg id=\"ops-plot\""))
            XCTAssertTrue(html.contains("hang in fixture_block_in_pipe_read in test-hang"))
            XCTAssertFalse(html.contains("<script"))
            sleep(1) // distinct run directory names
        }
        let t = try Harness.run(["triage", reports])
        XCTAssertEqual(t.status, 0, t.stderr)
        let lines = t.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, t.stdout)
        XCTAssertTrue(lines[0].hasPrefix("BUCKET "), t.stdout)
        let cols = lines[1].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        // BUCKET TYPE RUNS COUNT FIRST LAST NEW TITLE... EXAMPLE
        XCTAssertEqual(cols[1], "hang")
        XCTAssertEqual(cols[2], "2", lines[1])
        XCTAssertEqual(cols[6], "-", "seen before the latest run, so not new: \(lines[1])")
        XCTAssertTrue(lines[1].contains("hang in fixture_block_in_pipe_read in test-hang"))
        XCTAssertTrue(lines[2].hasPrefix("1 buckets, 0 new, 2 reports in 2 runs"), lines[2])
        // first seen is in the first run, last seen in the second (finding times lie after each start).
        XCTAssertGreaterThanOrEqual(cols[4], String(starts[0].prefix(19)))
        XCTAssertLessThan(cols[4], String(starts[1].prefix(19)))
        XCTAssertGreaterThanOrEqual(cols[5], String(starts[1].prefix(19)))

        let fresh = try Harness.run(["triage", "--new", reports])
        XCTAssertTrue(fresh.stdout.hasPrefix("no new buckets"), fresh.stdout)

        // Foreign dumps next to the runs: a console log and a gdb dump from the golden files.
        let golden = Harness.repoRoot + "/Tests/TriageTests/Golden"
        try FileManager.default.copyItem(atPath: golden + "/kernel/lockdep-circular-htab-rq.txt", toPath: dir + "/console.log")
        try FileManager.default.copyItem(atPath: golden + "/userspace/gdb-abba-deadlock.txt", toPath: dir + "/gdb.txt")
        let j = try Harness.run(["triage", "--json", dir])
        XCTAssertEqual(j.status, 0, j.stderr)
        let objs = try j.stdout.split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String])
        }
        XCTAssertEqual(objs.count, 4, j.stdout)
        for o in objs { XCTAssertEqual(Set(o.keys), ["file", "type", "title", "frame"]) }
        XCTAssertEqual(objs.map { $0["title"]! }.sorted(), [
            "deadlock in pthread_mutex_lock from abba_take_a_then_b and abba_take_b_then_a",
            "hang in fixture_block_in_pipe_read in test-hang",
            "hang in fixture_block_in_pipe_read in test-hang", "possible deadlock in htab_lock_bucket"])
        // A deadlock names the primitive the threads wait in, then its callers (issue 14's rule).
        XCTAssertEqual(Set(objs.map { $0["frame"]! }), ["pthread_mutex_lock", "fixture_block_in_pipe_read", "htab_lock_bucket"])

        let missing = try Harness.run(["triage", dir + "/nope"])
        XCTAssertEqual(missing.status, 2)
    }
}
