import Foundation
import Glibc
import XCTest

/// `bpfstress fuzz` through the CLI: a short multi-process run, replay and minimize.
final class FuzzRunTests: XCTestCase {
    func testShortFuzzRunHasNoFindingsReportsRatesAndGrowsCorpus() throws {
        try XCTSkipUnless(getuid() == 0, "needs root")
        let dir = Harness.tempDir("fuzz")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A fresh working corpus starts as a copy of the tracked seeds, which stay untouched.
        let corpus = dir + "/corpus"
        let seeds = try FileManager.default.contentsOfDirectory(atPath: Harness.repoRoot + "/corpora/maps").filter { $0.hasSuffix(".prog") }
        let before = seeds.count
        XCTAssertGreaterThanOrEqual(before, 9)
        // 2 workers x 2 threads: private maps under the single-process oracle, shared maps under
        // the concurrent invariants, four fuzzers at once.
        let r = try Harness.run(["fuzz", "--duration", "10s", "--workers", "2", "--threads", "2", "--seed", "77",
                                 "--corpus", corpus, "--report-dir", dir, "--quiet"], timeout: 90)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertFalse(r.stdout.contains("FINDING"), r.stdout)
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("fuzz: seed 77") }, r.stdout)
        // It ran programs (how many per second is `bpfstress bench fuzz`'s business).
        let execs = try XCTUnwrap(line.range(of: #", ([0-9]+) execs \("#, options: .regularExpression).map { line[$0] })
        XCTAssertGreaterThan(Int(execs.dropFirst(2).split(separator: " ")[0]) ?? 0, 0, String(line))
        let sigs = try XCTUnwrap(line.range(of: #"([0-9]+) distinct signatures"#, options: .regularExpression).map { line[$0] })
        XCTAssertGreaterThan(Int(sigs.split(separator: " ")[0]) ?? 0, 100, String(line))
        let after = try FileManager.default.contentsOfDirectory(atPath: corpus).filter { $0.hasSuffix(".prog") }.count
        XCTAssertGreaterThan(after, before, "corpus did not grow")
        XCTAssertTrue(Set(try FileManager.default.contentsOfDirectory(atPath: corpus)).isSuperset(of: seeds))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: Harness.repoRoot + "/corpora/maps")
                        .filter { $0.hasSuffix(".prog") }.count, before, "the tracked seeds were written to")
        let summary = try Harness.json(dir + "/latest/summary.json")
        XCTAssertEqual((summary["buckets"] as? [[String: Any]])?.count, 0)
        let s = try XCTUnwrap((summary["scenarios"] as? [[String: Any]])?.first { $0["name"] as? String == "map-fuzz" })
        let checks = Dictionary(uniqueKeysWithValues: (s["checks"] as! [[String: Any]]).map {
            ($0["name"] as! String, ($0["passed"] as! Int, $0["failed"] as! Int))
        })
        for c in ["oracle-agrees", "shared-values-intact", "shared-batch-unique", "shared-census"] {
            XCTAssertGreaterThan(checks[c]?.0 ?? 0, 0, "\(c) never passed: \(checks)")
            XCTAssertEqual(checks[c]?.1, 0, "\(c) failed")
        }
        // Kernel differences are data: every fact probed and printed; per-type signatures; the
        // fault-injection check skipped with its reason where the kernel cannot inject (this
        // host), never passed there.
        let facts = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("kernel facts (probed): ") }, r.stdout)
        for f in ["fact.freeze_frozen_map=", "fact.freeze_readonly_fd=", "fact.attr_size="] { XCTAssertTrue(facts.contains(f), String(facts)) }
        XCTAssertFalse(facts.contains("not probed"), String(facts))
        XCTAssertTrue(r.stdout.contains("signatures per map type: "), r.stdout)
        let junit = try String(contentsOfFile: dir + "/latest/junit.xml", encoding: .utf8)
        if access("/proc/thread-self/fail-nth", F_OK) != 0 {
            XCTAssertEqual(checks["fault-injection"]?.0, 0, "fault-injection cannot pass: it never runs")
            XCTAssertTrue(junit.contains(#"<testcase name="fault-injection" classname="bpfstress.map-fuzz" time="0.000">"#), junit)
            XCTAssertTrue(r.stdout.contains("fault injection: skipped: this kernel has no fault injection: no /proc/thread-self/fail-nth"), r.stdout)
        }
        // Armed timers and local kptrs: one pass per worker, passed where the kernel allows the
        // programs (6.18 here), else skipped with the reason; never failed, never silently absent.
        for c in ["armed-timers", "kptr-fields"] {
            XCTAssertEqual(checks[c]?.1, 0, "\(c) failed")
            if (checks[c]?.0 ?? 0) == 0 {
                XCTAssertNotNil(junit.range(of: #"<testcase name="\#(c)"[^>]*>\s*<skipped message="[^"]+"#, options: .regularExpression),
                                "\(c) neither passed nor skipped with a reason")
            }
        }
        // The probed facts are properties of the map-fuzz testsuite, as the command prints them.
        for f in facts.dropFirst("kernel facts (probed): ".count).split(separator: " ") {
            let kv = f.split(separator: "=", maxSplits: 1)
            XCTAssertTrue(junit.contains("<property name=\"\(kv[0])\" value=\"\(kv[1])\"/>"), "\(f) not in the JUnit\n\(junit)")
        }
        Harness.validateJUnit(dir + "/latest/junit.xml")
    }

    /// A fuzz call that hangs (a test-only pipe read inside call 300 of the first thread) is
    /// a hang finding whose dump carries the program in flight, written by the worker's main
    /// thread on TERM, with the call that hung named.
    func testHungFuzzCallCarriesTheProgramInFlight() throws {
        let kinds = ["map_update", "map_lookup", "map_delete", "map_create", "map_get_next_key", "map_lookup_batch",
                     "map_update_batch", "map_delete_batch", "map_lookup_and_delete", "map_lookup_and_delete_batch", "map_freeze"]
        try assertFindingCarriesProgram(hook: "BPFSTRESS_TEST_FUZZ_HANG_AT",
                                        deadlines: "deadlines:\n" + kinds.map { "  \($0): 2s\n" }.joined(),
                                        title: "hang in fixture_block_in_pipe_read in map-fuzz",
                                        death: "killed by SIGKILL (watchdog: hang in fixture_block_in_pipe_read)")
    }

    /// The same for a fuzz call that dies by SIGSEGV (a test-only memcpy past a guard page):
    /// the crashing thread waits in its handler while the main thread writes the program.
    func testCrashedFuzzCallCarriesTheProgramInFlight() throws {
        try assertFindingCarriesProgram(hook: "BPFSTRESS_TEST_FUZZ_CRASH_AT", deadlines: "",
                                        title: "SIGSEGV in memcpy from fixture_overrun_guard_page in map-fuzz",
                                        death: "killed by SIGSEGV (crash captured: SIGSEGV in memcpy from fixture_overrun_guard_page)")
    }

    func assertFindingCarriesProgram(hook: String, deadlines: String, title: String, death: String,
                                     file: StaticString = #filePath, line: UInt = #line) throws {
        try XCTSkipUnless(getuid() == 0, "needs root")
        let dir = Harness.tempDir("fuzz-inflight")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let yaml = "name: fuzz-inflight\nduration: 6s\nworkers: 1\nthreads: 2\n" + deadlines + "scenarios:\n  - name: map-fuzz\n"
        let c = try Harness.campaign(yaml, in: dir)
        let r = try Harness.run(["run", c, "--seed", "4", "--report-dir", dir, "--quiet"],
                                env: ["BPFSTRESS_TEST_SCENARIOS": "1", hook: "300"])
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        let summary = try Harness.json(dir + "/latest/summary.json")
        let buckets = summary["buckets"] as! [[String: Any]]
        XCTAssertEqual(buckets.map { $0["title"] as? String }, [title], file: file, line: line)
        let dump = try XCTUnwrap((buckets.first?["dumps"] as? [String])?.first, file: file, line: line)
        let lines = dump.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("--- state worker slot 0 left on stop (state-s0-") }, dump,
                                  file: file, line: line)
        XCTAssertTrue(lines[start + 1].contains("thread 0: program running for"), lines[start + 1], file: file, line: line)
        // The call in flight is named, and it is a line of the program that follows.
        let inFlight = lines[start + 2]
        XCTAssertTrue(inFlight.hasPrefix("# in flight: call "), inFlight, file: file, line: line)
        let call = try XCTUnwrap(inFlight.split(separator: "`").dropFirst().first.map(String.init), inFlight, file: file, line: line)
        XCTAssertEqual(lines[start + 3], "# replay: bpfstress fuzz --replay FILE", file: file, line: line)
        XCTAssertTrue(lines[(start + 4)...].contains(call), "\(call) not in the program", file: file, line: line)
        XCTAssertTrue(lines[start + 4].hasPrefix("create map="), lines[start + 4], file: file, line: line)
        let deaths = summary["workerDeaths"] as! [[String: Any]]
        XCTAssertEqual(deaths.first?["reason"] as? String, death, file: file, line: line)
        XCTAssertEqual(r.leakedWorkers, [], file: file, line: line)
    }

    func testReplayAndMinimizeThroughTheCLI() throws {
        try XCTSkipUnless(getuid() == 0, "needs root")
        let dir = Harness.tempDir("fuzz-replay")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(["fuzz", "--replay", Harness.repoRoot + "/corpora/maps/hash-basic.prog"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("update map=0 key=#1 value=@v2 flags=NOEXIST  -> EEXIST"), r.stdout)
        XCTAssertTrue(r.stdout.contains("update map=0 key=#5 value=@v8  -> E2BIG"), r.stdout)
        // The walk lists the keys it saw (their order depends on the map's hash seed).
        let walk = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.contains("walk map=0  -> ENOENT (2 keys) keys=") }, r.stdout)
        XCTAssertEqual(Set(walk.split(separator: "=").last!.split(separator: ",")), ["01000000", "02000000"])
        let bad = dir + "/bad.prog"
        try "create map=0 type=hash\nupdate map=0 kye=#1\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let e = try Harness.run(["fuzz", "--replay", bad])
        XCTAssertEqual(e.status, 2)
        XCTAssertEqual(e.stderr, "bpfstress: \(bad):2: update has no argument 'kye'\n")
        let clean = try Harness.run(["fuzz", "--minimize", Harness.repoRoot + "/corpora/maps/array-basic.prog"])
        XCTAssertEqual(clean.status, 0)
        XCTAssertTrue(clean.stdout.hasPrefix("no finding"), clean.stdout)
    }
}
