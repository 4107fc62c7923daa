import Foundation
@testable import Reports
@testable import Triage
import XCTest

/// Bucketing across run directories, the JSON lines and the table, on run directories written
/// with the same RunDirectory code bpfstress uses.
final class AcrossRunsTests: XCTestCase {
    var root = ""
    override func setUp() {
        root = NSTemporaryDirectory() + "bpfstress-triage-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    func bucket(_ title: String, _ sig: String, at t: Date, count: Int = 1, type: FindingType = .hang) -> FindingBucket {
        FindingBucket(signature: sig, type: type, title: title, scenario: "test-hang", check: "no-hang", count: count,
                      firstSeen: t, lastSeen: t.addingTimeInterval(Double(count - 1)), dumps: ["HANG: worker slot 0 pid 1 scenario test-hang\n"])
    }

    @discardableResult
    func writeRun(started: Date, seed: UInt64, buckets: [FindingBucket]) throws -> String {
        let dir = try RunDirectory.create(root: root, startedAt: started, seed: seed)
        try dir.writeFindings(buckets)
        var s = RunSummary(version: "test", campaign: "nightly", seed: seed, runtime: "kernel", kernelRelease: "6.18",
                           hostname: "vm", startedAt: started, endedAt: started.addingTimeInterval(60), durationSeconds: 60,
                           workers: 1, threads: 1, exitCode: 1, buckets: buckets)
        s.parameters = ["seed": String(seed)]
        try dir.write("summary.json", data: try ReportJSON.encode(s))
        try dir.write("run.log", "WARNING: CPU: 0 PID: 1 at x.c:1 must_not_be_read+0x1/0x2\n")
        try dir.updateLatestLink()
        return dir.path
    }

    func testTwoRunsSharingABucketCountTwiceWithFirstAndLastSeen() throws {
        let t1 = Date(timeIntervalSince1970: 1_762_000_000), t2 = t1.addingTimeInterval(86_400)
        let shared1 = bucket("hang in fixture_block_in_pipe_read in test-hang", "9ac03a52d21b5798", at: t1.addingTimeInterval(5))
        let shared2 = bucket("hang in fixture_block_in_pipe_read in test-hang", "9ac03a52d21b5798", at: t2.addingTimeInterval(7), count: 3)
        let old = bucket("SIGSEGV in memcpy from fixture_overrun_guard_page in test-crash", "1111222233334444", at: t1.addingTimeInterval(9), type: .crash)
        let fresh = bucket("deadlock in abba_take_a_then_b in test-hang", "aaaabbbbccccdddd", at: t2.addingTimeInterval(11))
        let run1 = try writeRun(started: t1, seed: 1, buckets: [shared1, old])
        let run2 = try writeRun(started: t2, seed: 2, buckets: [shared2, fresh])

        let items = try Triage.scan([root])
        // finding.json only: dump-N.txt beside it, run.log, summary.json and the `latest` symlink are skipped.
        XCTAssertEqual(items.count, 4, items.map(\.report.file).joined(separator: "\n"))
        XCTAssertEqual(Set(items.map(\.run.id)), [run1, run2])
        let buckets = Triage.buckets(items)
        XCTAssertEqual(buckets.map(\.signature), ["aaaabbbbccccdddd", "9ac03a52d21b5798", "1111222233334444"])
        let shared = buckets[1]
        XCTAssertEqual(shared.runs, 2)
        XCTAssertEqual(shared.count, 4)
        XCTAssertEqual(shared.firstSeen, t1.addingTimeInterval(5))
        XCTAssertEqual(shared.lastSeen, t2.addingTimeInterval(9))
        XCTAssertFalse(shared.isNew)
        XCTAssertEqual(shared.exampleFile, run2 + "/findings/9ac03a52d21b5798/finding.json")
        XCTAssertEqual(shared.frame, "fixture_block_in_pipe_read")
        XCTAssertTrue(buckets[0].isNew)
        XCTAssertEqual(buckets[0].runs, 1)
        XCTAssertFalse(buckets[2].isNew)
        XCTAssertEqual(buckets[2].lastSeen, t1.addingTimeInterval(9))
        XCTAssertEqual(buckets[2].frame, "fixture_overrun_guard_page")

        let table = Triage.table(buckets, relativeTo: root)
        let lines = table.split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        XCTAssertTrue(lines[0].hasPrefix("BUCKET            TYPE   RUNS  COUNT  FIRST SEEN"), String(lines[0]))
        XCTAssertTrue(lines[2].contains("9ac03a52d21b5798  hang   2     4      2025-11-01T12:26:45Z  2025-11-02T12:26:49Z  -"), String(lines[2]))
        XCTAssertTrue(lines[1].contains("  new  deadlock in abba_take_a_then_b in test-hang"), String(lines[1]))
    }

    func testJSONLinesHaveExactlyFourKeys() throws {
        let t = Date(timeIntervalSince1970: 1_762_000_000)
        try writeRun(started: t, seed: 5, buckets: [bucket("hang in \"quoted\" in x", "0123456789abcdef", at: t)])
        let log = root + "/console.log"
        try (try GoldenTests.load(GoldenTests.goldenDir + "/kernel/multi-warning-two-hangs-cut-lockup.txt").raw)
            .write(toFile: log, atomically: true, encoding: .utf8)
        let out = Triage.jsonLines(try Triage.scan([root]).map(\.report))
        let lines = out.split(separator: "\n")
        XCTAssertEqual(lines.count, 5)
        for l in lines {
            let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: String])
            XCTAssertEqual(Set(obj.keys), ["file", "type", "title", "frame"])
        }
        let objs = lines.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: String] }
        // Files in path order; a title with quotes survives the round trip.
        XCTAssertEqual(objs[0]["title"], "hang in \"quoted\" in x")
        XCTAssertEqual(objs[0]["frame"], "\"quoted\"")
        XCTAssertEqual(objs[1]["title"], "WARNING in bpf_map_put")
        XCTAssertEqual(objs[1]["type"], "warning")
        XCTAssertEqual(objs[1]["file"], log)
        XCTAssertEqual(objs[2...].map { $0["title"]! }, ["INFO: task hung in synchronize_rcu", "INFO: task hung in synchronize_rcu",
                                                        "BUG: soft lockup in corrupted"])
    }

    func testKernelLogsOutsideRunsAreRunsOfTheirOwnAndShareTitleBuckets() throws {
        let a = root + "/a.log", b = root + "/b.log"
        let raw = try GoldenTests.load(GoldenTests.goldenDir + "/kernel/hung-synchronize-rcu-link-release.txt").raw
        try raw.write(toFile: a, atomically: true, encoding: .utf8)
        try raw.replacingOccurrences(of: "bpfs.0.churn:4242", with: "bpfs.7.churn:999").write(toFile: b, atomically: true, encoding: .utf8)
        let old = Date(timeIntervalSince1970: 1_700_000_000)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: a)
        let buckets = Triage.buckets(try Triage.scan([root]))
        XCTAssertEqual(buckets.count, 1)
        XCTAssertEqual(buckets[0].runs, 2)
        XCTAssertEqual(buckets[0].firstSeen, old)
        XCTAssertEqual(buckets[0].title, "INFO: task hung in synchronize_rcu")
        XCTAssertEqual(buckets[0].signature, Signature.compute(title: "INFO: task hung in synchronize_rcu", frames: []))
        XCTAssertThrowsError(try Triage.scan([root + "/missing"]))
    }
}

/// Building blocks of the console parser.
final class ConsoleParserTests: XCTestCase {
    func testDecorationsAreStripped() {
        XCTAssertEqual(ConsoleLine.strip("[  123.456789][ T1234] INFO: task x:1 blocked"), "INFO: task x:1 blocked")
        XCTAssertEqual(ConsoleLine.strip("[  123.456789][    C1]  htab_map_update_elem+0x1/0x2"), " htab_map_update_elem+0x1/0x2")
        XCTAssertEqual(ConsoleLine.strip("<4>[    1.000000] WARNING: CPU: 0"), "WARNING: CPU: 0")
        XCTAssertEqual(ConsoleLine.strip("Nov 03 02:14:07 bpfvm kernel: BUG: soft lockup"), "BUG: soft lockup")
        XCTAssertEqual(ConsoleLine.strip("4,5001,1234500031,-;BUG: KASAN: x in y"), "BUG: KASAN: x in y")
        XCTAssertEqual(ConsoleLine.strip("kern  :warn  : [ 5.5] rcu: INFO"), "rcu: INFO")
        XCTAssertEqual(ConsoleLine.strip("[T77] plain"), "plain")
    }

    func testSkipListAndSyscallPrefixes() {
        let skip = Pattern(KernelSkipLists.generic.joined(separator: "|"))
        for f in ["__mutex_lock", "_raw_spin_lock_irqsave", "native_queued_spin_lock_slowpath", "kasan_report", "__warn",
                  "memcpy_orig", "lock_acquire", "dump_stack_lvl", "debug_object_free", "__kmalloc_node", "kobject_put",
                  "refcount_warn_saturate", "copy_to_user", "x64_sys_call", "panic"] {
            XCTAssertTrue(skip.matches(f), f)
        }
        for f in ["htab_map_update_elem", "bpf_link_free", "__sys_bpf", "synchronize_rcu", "cgroup_bpf_attach", "bpf_map_put",
                  "__schedule", "do_exit", "read_cache_folio"] {
            XCTAssertFalse(skip.matches(f), f)
        }
        XCTAssertEqual(KernelSkipLists.stripped("__x64_sys_bpf"), "sys_bpf")
        XCTAssertEqual(KernelSkipLists.stripped("__sys_bpf"), "bpf")
        XCTAssertEqual(KernelSkipLists.stripped("__se_sys_bpf"), "bpf")
        XCTAssertEqual(KernelSkipLists.stripped("ksys_write"), "write")
        XCTAssertEqual(KernelSkipLists.stripped("htab_map_update_elem"), "htab_map_update_elem")
    }

    func testFrameRules() {
        // Hangs: an anchor names the bucket (old kernels' synchronize_sched is today's synchronize_rcu) ...
        XCTAssertEqual(KernelStack.hang(["__schedule", "schedule", "synchronize_sched", "bpf_prog_put"]), "synchronize_rcu")
        XCTAssertEqual(KernelStack.hang(["schedule", "synchronize_rcu_expedited", "x"]), "synchronize_rcu")
        XCTAssertEqual(KernelStack.hang(["schedule", "rtnl_lock", "x"]), "rtnl_lock")
        // ... else the first frame that does not wait.
        XCTAssertEqual(KernelStack.hang(["__schedule", "schedule_preempt_disabled", "rwsem_down_read_slowpath",
                                         "wait_for_completion", "do_exit"]), "do_exit")
        XCTAssertNil(KernelStack.hang(["__schedule", "schedule", "io_schedule"]))
        // Stalls: the frame just inside the first anchor; smp_call_function names itself.
        XCTAssertEqual(KernelStack.stall(["htab_lock_bucket", "htab_map_update_elem", "bpf", "sys_bpf", "do_syscall_64"]), "sys_bpf")
        XCTAssertEqual(KernelStack.stall(["ipv6_rcv", "__netif_receive_skb_one_core", "process_backlog"]), "ipv6_rcv")
        XCTAssertEqual(KernelStack.stall(["csd_lock_wait", "smp_call_function_many_cond", "on_each_cpu"]), "smp_call_function")
        XCTAssertNil(KernelStack.stall(["a", "b"]))
    }

    /// A raw serial console ends lines with CRLF, which Swift reads as one Character.
    func testCRLFConsolesSplitIntoLines() {
        let log = "[ 1.0] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2\r\n[ 1.0] RIP: 0010:f+0x1/0x2\r\n[ 1.0] Call Trace:\r\n"
            + "[ 1.0]  <TASK>\r\n[ 1.0]  g+0x1/0x2\r\n[ 1.0]  h+0x1/0x2\r\n[ 1.0]  </TASK>\r\n"
        let r = KernelConsoleParser.parse(log)
        XCTAssertEqual(r.map(\.title), ["WARNING in f"])
        XCTAssertEqual(r.first?.corrupted, false)
    }

    func testTrailerLines() {
        XCTAssertTrue(KernelConsoleParser.isTrailer("Kernel panic - not syncing: Fatal exception"))
        XCTAssertTrue(KernelConsoleParser.isTrailer("invalid opcode: 0000 [#1] PREEMPT SMP"))
        XCTAssertFalse(KernelConsoleParser.isTrailer("---[ end Kernel panic - not syncing: Fatal exception ]---"))
        XCTAssertFalse(KernelConsoleParser.isTrailer("WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2"))
        XCTAssertFalse(KernelConsoleParser.isTrailer("PANIC: double fault, error_code: 0x0"))
    }

    /// The literal prefilter in front of each pattern must never hide a match.
    func testPatternLiteralPrefilter() {
        XCTAssertEqual(Pattern.leadingLiteral("BUG: KASAN: ([a-z]+)"), "BUG: KASAN: ")
        XCTAssertEqual(Pattern.leadingLiteral(#"^\[\s*[TC]\d+\]"#), "[")
        XCTAssertEqual(Pattern.leadingLiteral("WARNING: x*"), "WARNING: ")
        XCTAssertEqual(Pattern.leadingLiteral("ab?c"), "a")
        XCTAssertEqual(Pattern.leadingLiteral("a|b"), "")
        XCTAssertEqual(Pattern.leadingLiteral("(?i)warning: x"), "")
        XCTAssertEqual(Pattern.leadingLiteral(#"BUG: using ([a-z_]+)\(\) in"#), "BUG: using ")
        XCTAssertEqual(Pattern.leadingLiteral(#"\(Local"#), "(Local")
        XCTAssertTrue(Pattern("ab?c").matches("xac"))
        XCTAssertTrue(Pattern("WARNING: x*").matches("WARNING: "))
        XCTAssertTrue(Pattern("a|b").matches("b"))
        XCTAssertFalse(Pattern("BUG: KASAN:").matches("BUG: KMSAN:"))
    }

    func testDeadlockRule() {
        let b = { (p: String, c: String) in BlockedThread(primitive: p, caller: c) }
        // One caller (many threads waiting at one place) or one thread: no deadlock.
        XCTAssertNil(Deadlock.title([b("lock", "f"), b("lock", "f")]))
        XCTAssertNil(Deadlock.title([b("lock", "f")]))
        XCTAssertEqual(Deadlock.title([b("lock", "g"), b("lock", "f"), b("other", "h")])?.title, "deadlock in lock from f and g")
        XCTAssertEqual(Deadlock.title([b("l", "c"), b("l", "a"), b("l", "b")])?.title, "deadlock in l from a, b and c")
        XCTAssertEqual(Deadlock.title(["e", "d", "c", "b", "a"].map { b("l", $0) })?.title, "deadlock in l from a, b, c and 2 more")
        // The largest group wins; ties go to the primitive's name.
        XCTAssertEqual(Deadlock.title([b("y", "1"), b("y", "2"), b("x", "1"), b("x", "2")])?.primitive, "x")
        XCTAssertEqual(Deadlock.title([b("y", "1"), b("y", "2"), b("y", "3"), b("x", "1"), b("x", "2")])?.primitive, "y")
    }

    func testTitleSanitizing() {
        XCTAssertEqual(KernelConsoleParser.sanitize("kernel panic: VFS: Unable to mount root fs on unknown-block(0,0)"),
                       "kernel panic: VFS: Unable to mount root fs on unknown-block(NUM,NUM)")
        XCTAssertEqual(KernelConsoleParser.sanitize("KCSAN: data-race in a  /\tb"), "KCSAN: data-race in a / b")
        XCTAssertEqual(KernelConsoleParser.sanitize("x at 0xffff888100000000 on CPU#1 at f.c:12"), "x at ADDR on CPU at f.c:LINE")
        XCTAssertEqual(KernelConsoleParser.sanitize("WARNING in ip6_fragment"), "WARNING in ip6_fragment")
    }

    func testDetection() {
        XCTAssertEqual(Triage.detect(name: "finding.json", text: "{}"), .findingJSON)
        XCTAssertEqual(Triage.detect(name: "x", text: "PID 1 - process\nTID 1:\n#0  0x1 main\n"), .euStack)
        XCTAssertEqual(Triage.detect(name: "x", text: "Thread 1 (Thread 0x7f (LWP 1) \"a\"):\n#0  main () at a.c:1\n"), .gdb)
        XCTAssertEqual(Triage.detect(name: "x", text: "HANG: worker slot 0 pid 2 scenario s\n"), .bpfstressDump)
        XCTAssertEqual(Triage.detect(name: "x", text: "[ 1.0] hello\n"), .console)
        XCTAssertEqual(try Triage.reports(inText: "[ 1.0] hello\n", file: "x"), [])
    }
}
