// Armed bpf_timer fields: freed ones never fire, controls do, and planted faults are reported.
@testable import BPFKit
import Foundation
import Glibc
import XCTest
@testable import Scenarios

final class TimerArmingTests: XCTestCase {
    /// A fresh instance of timer_arm.bpf.c, or a skip naming the kernel's refusal.
    func instance() throws -> TimerArming {
        switch try TimerArming.load() {
        case .supported(let t): return t
        case .unsupported(let why): throw XCTSkip(why)
        }
    }

    // Tags of elementRound, in arming order.
    let hashDeleted: UInt32 = 1, lruDeleted: UInt32 = 2
    let hashOverwritten: UInt32 = 3, lruOverwritten: UInt32 = 4, arrayOverwritten: UInt32 = 5
    let controls: [UInt32] = [6, 7, 8, 9, 10]  // hash/lru/array left alone, then the two sentinels

    func testFreedTimersNeverFireWhileControlsFireOnce() throws {
        let t = try instance()
        defer { t.close() }
        let r = try TimerRounds().elementRound(t)
        XCTAssertEqual(r.findings, [])
        XCTAssertEqual(r.fires, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
        XCTAssertEqual(r.stray, 0)
        XCTAssertEqual(r.model.timers.map(\.fate), [.deleted, .deleted, .overwritten, .overwritten, .overwritten]
                       + Array(repeating: .leftAlone, count: 5))
        XCTAssertEqual(r.model.leftAlone.map(\.tag), controls)

        // A model that pretends the delete did not happen disagrees with the kernel.
        var forgot = r.model
        forgot.timers[Int(hashDeleted) - 1].fate = .leftAlone
        XCTAssertEqual(TimerOracle.check(model: forgot, fires: r.fires),
                       ["hash key 1 tag 1: armed and left alone, fired 0 time(s), expected exactly 1"])
        // One that thinks a control was deleted, too.
        var deleted = r.model
        deleted.timers[Int(controls[1]) - 1].fate = .deleted
        XCTAssertEqual(TimerOracle.check(model: deleted, fires: r.fires),
                       ["lru key 110 tag 7: fired 1 time(s) after its element was deleted; the kernel must cancel the timer when it frees the field"])
    }

    func testPlantedSkippedDeleteIsReported() throws {
        let t = try instance()
        defer { t.close() }
        let r = try TimerRounds(fault: .skipDelete).elementRound(t)
        XCTAssertEqual(r.findings, [
            "hash key 1 tag 1: fired 1 time(s) after its element was deleted; the kernel must cancel the timer when it frees the field",
            "lru key 101 tag 2: fired 1 time(s) after its element was deleted; the kernel must cancel the timer when it frees the field",
        ])
    }

    func testPlantedSkippedOverwriteIsReported() throws {
        let t = try instance()
        defer { t.close() }
        let r = try TimerRounds(fault: .skipOverwrite).elementRound(t)
        XCTAssertEqual(r.findings, [hashOverwritten, lruOverwritten, arrayOverwritten].map { tag in
            let (kind, key) = [3: ("hash", 2), 4: ("lru", 102), 5: ("array", 2)][Int(tag)]!
            return "\(kind) key \(key) tag \(tag): fired 1 time(s) after its element was overwritten; the kernel must cancel the timer when it frees the field"
        })
    }

    func testEvictedTimerNeverFiresWhileTheHashControlDoes() throws {
        let t = try instance()
        defer { t.close() }
        let r = try TimerRounds().evictionRound(t)
        XCTAssertEqual(r.findings, [])
        XCTAssertEqual(r.fires, [0, 0, 1, 1, 1], "fillers (tag 0) and the victim (tag 1) silent, control and sentinels once")
        XCTAssertEqual(r.model.timers.map(\.fate), [.evicted, .leftAlone, .leftAlone, .leftAlone])
        XCTAssertNil(try t.lookup(.lru, key: 100))
    }

    func testPlantedSkippedEvictionIsReported() throws {
        let t = try instance()
        defer { t.close() }
        let r = try TimerRounds(fault: .skipEviction).evictionRound(t)
        XCTAssertEqual(r.findings, ["lru key 100 tag 1: fired 1 time(s) after its element was evicted; the kernel must cancel the timer when it frees the field"])
    }

    func testATimerAlreadyInAFreshElementIsReported() throws {
        let t = try instance()
        defer { t.close() }
        var s = TimerRoundState(t: t, delayNs: 200_000_000)
        _ = try s.armed(.hash, 7)
        _ = try s.armed(.hash, 7)  // created again: a fresh element, a fresh timer
        XCTAssertEqual(s.r.findings, [])
        // Planted: the create is skipped, so the "fresh" element still holds the armed timer,
        // as memory reused after a free that kept its timer would.
        _ = try s.armed(.hash, 7, create: false)
        XCTAssertEqual(s.r.findings, ["hash key 7: bpf_timer_init on a freshly created element returned -EBUSY: a live timer outlived the free of a reused element"])
        XCTAssertEqual(s.r.model.timers.map(\.tag), [1, 2], "the refused arm is not in the model")
    }

    func testTimersOfAClosedMapNeverFireAndTheMapsAreFreed() throws {
        let a = try instance(), b = try instance()
        defer { a.close(); b.close() }
        let r = try TimerRounds().closeRound(victim: a, sentinel: b)
        XCTAssertEqual(r.findings, [])
        XCTAssertEqual(r.fires, [0, 0, 0, 0])
        XCTAssertEqual(r.model.timers.map(\.fate), [.mapClosed, .mapClosed, .mapClosed])
        XCTAssertTrue(a.object.isClosed)
        XCTAssertEqual(try b.fireCounts(count: 3), [0, 1, 1], "the sentinels fired, so the wait was long enough")
    }

    func testPlantedOpenMapIsReportedAsFiresAndALeak() throws {
        let a = try instance(), b = try instance()
        defer { a.close(); b.close() }
        var rounds = TimerRounds(fault: .keepMapOpen)
        rounds.waitSeconds = 3
        let r = try rounds.closeRound(victim: a, sentinel: b)
        XCTAssertEqual(r.findings.count, 4, "\(r.findings)")
        XCTAssertEqual(Array(r.findings.prefix(3)), ["hash", "lru", "array"].enumerated().map { i, kind in
            "\(kind) key 5 tag \(i + 1) (closed instance): fired 1 time(s) after its element was map closed; the kernel must cancel the timer when it frees the field"
        })
        XCTAssertTrue(r.findings[3].hasPrefix("leak: timer map id(s) "), r.findings[3])
        XCTAssertTrue(r.findings[3].hasSuffix(" still exist 3 s after their last fd closed"), r.findings[3])
    }

    func testLookupOracleCatchesCopiedTimerBytesAndAChangedCanary() {
        XCTAssertNil(TimerValue.layout.checkLookup(TimerValue.layout.expectedLookup(tag: 3, canary: 9), kind: .hash, key: 1, tag: 3, canary: 9))
        // A kernel that copied the user's timer bytes out instead of zeros.
        XCTAssertEqual(TimerValue.layout.checkLookup(TimerValue.layout.bytes(tag: 3, canary: 9), kind: .hash, key: 1, tag: 3, canary: 9),
                       "hash key 1: lookup differs at bytes 8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23 (kernel-owned bytes 8..<24 must read 0)")
        var torn = TimerValue.layout.expectedLookup(tag: 3, canary: 9)
        torn[31] = 1
        XCTAssertEqual(TimerValue.layout.checkLookup(torn, kind: .array, key: 4, tag: 3, canary: 9),
                       "array key 4: lookup differs at bytes 31 (kernel-owned bytes 8..<24 must read 0)")
        XCTAssertEqual(TimerValue.layout.checkLookup(nil, kind: .lru, key: 2, tag: 3, canary: 9), "lru key 2: lookup found no element")
    }

    /// An element freed only after half its delay is not judged: 0 and 1 fires both pass, while
    /// the same counts on a timely delete still fail (a slow guest cannot make a false finding).
    func testElementFreedTooLateIsNotJudged() {
        var m = TimerModel()
        m.timers = [ArmedTimer(tag: 1, kind: .lru, key: 100, fate: .tooLate), ArmedTimer(tag: 2, kind: .hash, key: 3, fate: .deleted)]
        XCTAssertEqual(TimerOracle.check(model: m, fires: [0, 1, 0]), [])
        XCTAssertEqual(TimerOracle.check(model: m, fires: [0, 0, 0]), [])
        XCTAssertEqual(TimerOracle.check(model: m, fires: [0, 1, 1]), [
            "hash key 3 tag 2: fired 1 time(s) after its element was deleted; the kernel must cancel the timer when it frees the field",
        ])
    }

    func testOracleReportsUnarmedTagsStraysAndUnreadCounters() {
        var m = TimerModel()
        m.timers = [ArmedTimer(tag: 1, kind: .hash, key: 1, fate: .leftAlone), ArmedTimer(tag: 5, kind: .array, key: 2, fate: .deleted)]
        XCTAssertEqual(TimerOracle.check(model: m, fires: [0, 1]), ["array key 2 tag 5: no counter was read"])
        XCTAssertEqual(TimerOracle.check(model: m, fires: [2, 2, 0, 1, 0, 0], stray: 1), [
            "tag 0: fired 2 time(s), but only unarmed LRU fillers carry it (a timer that outlived its evicted element, now reused?)",
            "hash key 1 tag 1: armed and left alone, fired 2 time(s), expected exactly 1",
            "tag 3: never armed, fired 1 time(s)",
            "stray slot: 1 callback(s) ran on an element whose tag was out of range",
        ])
    }
}

/// The probe: a kernel that refuses the timer program is a skip carrying the verifier's reason.
final class TimerArmingProbeTests: XCTestCase {
    func testRefusedTimerProgramIsUnsupportedWithTheVerifierReason() throws {
        // The same timer map used from a raw tracepoint: every kernel refuses timers in tracing programs.
        let dir = NSTemporaryDirectory() + "timer-probe-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let src = dir + "/refused.bpf.c"
        try """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        struct tval { __u64 tag; struct bpf_timer t; __u64 canary; };
        struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, struct tval); } m SEC(".maps");
        SEC("raw_tp/sys_enter")
        int refused(void *ctx) { __u32 k = 0; struct tval *v = bpf_map_lookup_elem(&m, &k); if (v) bpf_timer_init(&v->t, &m, 1); return 0; }
        char LICENSE[] SEC("license") = "GPL";
        """.write(toFile: src, atomically: true, encoding: .utf8)
        try ProgramCatalog.compile(source: src, object: dir + "/refused.o")
        guard case .unsupported(let why) = try TimerArming.load(path: dir + "/refused.o") else {
            return XCTFail("a raw_tp program with a timer map loaded")
        }
        XCTAssertTrue(why.hasPrefix("refused.o does not load: bpf_object__load failed: EINVAL (Invalid argument)"), why)
        XCTAssertTrue(why.contains("tracing progs cannot use bpf_timer yet"), why)
    }

    func testMissingObjectIsAnErrorNotASkip() {
        XCTAssertThrowsError(try TimerArming.load(path: "/nonexistent/timer_arm.o")) { e in
            XCTAssertEqual((e as? BPFError)?.code, .io)
            XCTAssertEqual((e as? BPFError)?.errno, .noSuchFileOrDirectory)
        }
    }
}
