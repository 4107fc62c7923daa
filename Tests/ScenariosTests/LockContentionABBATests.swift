import BPFKit
import Foundation
import XCTest
@testable import Scenarios

/// The oracles of lock-contention-abba, shown to fail on tampered input and pass on right input.
final class LockContentionABBATests: XCTestCase {
    // MARK: user-space errnos

    func testUserErrnoClassification() {
        XCTAssertEqual(ABBAOracle.classify(userErrno: EBUSY, isDelete: false), .tolerated)
        XCTAssertEqual(ABBAOracle.classify(userErrno: EDEADLK, isDelete: true), .tolerated)
        XCTAssertEqual(ABBAOracle.classify(userErrno: ETIMEDOUT, isDelete: false), .tolerated)
        XCTAssertEqual(ABBAOracle.classify(userErrno: ENOENT, isDelete: true), .ok, "a delete losing the race is normal")
        XCTAssertEqual(ABBAOracle.classify(userErrno: ENOENT, isDelete: false), .violation, "an update never says ENOENT")
        XCTAssertEqual(ABBAOracle.classify(userErrno: EINVAL, isDelete: false), .violation)
        XCTAssertEqual(ABBAOracle.classify(userErrno: E2BIG, isDelete: false), .violation)
        XCTAssertEqual(ABBAOracle.classify(userErrno: EAGAIN, isDelete: true), .violation)
    }

    // MARK: program counters

    /// fired, ok, EBUSY, EDEADLK, ETIMEDOUT, other, last other errno.
    let good = ABBAOracle.Outcomes([100, 90, 6, 3, 1, 0, 0])

    func testConsistentCountersPass() {
        XCTAssertEqual(ABBAOracle.judge(outcomes: good, runCount: 100, variant: .hash, roundsWithFires: 3), [])
    }

    func testOtherErrnoInProgramFails() {
        let bad = ABBAOracle.Outcomes([100, 89, 6, 3, 1, 1, UInt64(EINVAL)])
        let v = ABBAOracle.judge(outcomes: bad, runCount: 100, variant: .percpu, roundsWithFires: 3)
        XCTAssertEqual(v.map(\.check), ["prog-errnos"])
        XCTAssertEqual(v.first?.errno, EINVAL)
        XCTAssertEqual(v.first?.title, "bpf_map_update_elem in contention_begin program failed: EINVAL in lock-contention-abba")
        XCTAssertTrue(v.first!.detail.hasPrefix("abba_percpu: 1 updates"), v.first!.detail)
    }

    func testNeverFiredProvesNothing() {
        let none = ABBAOracle.Outcomes([0, 0, 0, 0, 0, 0, 0])
        let v = ABBAOracle.judge(outcomes: none, runCount: 0, variant: .hash, roundsWithFires: 0)
        XCTAssertEqual(v.map(\.check), ["prog-fired"])
        XCTAssertEqual(v.first?.title, "contention_begin program never ran during contention in lock-contention-abba: the run proved nothing")
        // Fired only outside the contention rounds (e.g. before the threads started): still nothing proved.
        XCTAssertEqual(ABBAOracle.judge(outcomes: good, runCount: 100, variant: .hash, roundsWithFires: 0).map(\.check), ["prog-fired"])
    }

    func testRunCountMismatchFails() {
        let v = ABBAOracle.judge(outcomes: good, runCount: 101, variant: .hash, roundsWithFires: 1)
        XCTAssertEqual(v.map(\.check), ["run-count-exact"])
        XCTAssertEqual(v.first?.detail, "abba_hash: run_cnt 101, own count 100")
    }

    func testOutcomesThatDoNotAddUpFail() {
        let lost = ABBAOracle.Outcomes([100, 80, 6, 3, 1, 0, 0])
        let v = ABBAOracle.judge(outcomes: lost, runCount: 100, variant: .hash, roundsWithFires: 2)
        XCTAssertEqual(v.map(\.check), ["prog-errnos"])
        XCTAssertEqual(v.first?.detail, "abba_hash: 100 runs but 90 counted outcomes")
    }

    // MARK: kernel log

    func testKernelLogOracleFlagsKernelSplatsOnly() {
        let records = [
            "6,1001,5000,-;bpfstress: nothing to see",
            "4,1002,5001,-;WARNING: CPU: 1 PID: 77 at kernel/bpf/rqspinlock.c:300 res_spin_lock+0x1/0x2",
            "12,1003,5002,-;WARNING: CPU: 0 PID: 1 at selftest.c:2 bpfstress_selftest_1_new+0x1/0x2",  // user space wrote it
            "3,1004,5003,-;BUG: spinlock recursion on CPU#0",
            "6,1005,5004,-;eth0: link up",
            "4,1006,5005,-;possible circular locking dependency detected",
            "garbage without a separator",
        ]
        XCTAssertEqual(KernelLogOracle.problems(in: records), [
            "WARNING: CPU: 1 PID: 77 at kernel/bpf/rqspinlock.c:300 res_spin_lock+0x1/0x2",
            "BUG: spinlock recursion on CPU#0",
            "possible circular locking dependency detected",
        ])
        XCTAssertEqual(KernelLogOracle.problems(in: ["6,1,1,-;audit: type=1400", "5,2,2,-;random: crng init done"]), [])
    }

    /// The reader starts at the end of the log: only records written after it opened are seen.
    func testKernelLogReaderSeesOnlyNewRecords() throws {
        try XCTSkipUnless(geteuid() == 0, "needs root for /dev/kmsg")
        let marker = "bpfstress-abba-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try writeKmsg("\(marker) before")
        let reader = try KernelLogReader()
        try writeKmsg("\(marker) after")
        let seen = reader.read().filter { $0.contains(marker) }
        XCTAssertEqual(seen.count, 1, "\(seen)")
        XCTAssertTrue(seen.first?.hasSuffix("\(marker) after\n") ?? false, "\(seen)")
        // Written from user space: facility "user", so never a kernel problem.
        XCTAssertEqual(KernelLogOracle.problems(in: seen), [])
        XCTAssertEqual(reader.read().filter { $0.contains(marker) }, [])
    }

    /// One record; the newline matters: an unterminated record stays open for continuation.
    func writeKmsg(_ s: String) throws {
        let fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NSError(domain: "kmsg", code: Int(errno)) }
        defer { close(fd) }
        _ = (s + "\n").withCString { write(fd, $0, strlen($0)) }
    }

    // MARK: the BPF program itself

    /// The object loads through BPFKit, has both variants, and the counters map is where the oracle reads it.
    func testLockContentionObjectShape() throws {
        try XCTSkipUnless(geteuid() == 0, "needs root")
        let obj = try BPFObject.open(path: ProgramCatalog.objectPath("lock_contention"))
        XCTAssertEqual(Set(obj.programs.map(\.name)), ["abba_hash", "abba_percpu"])
        XCTAssertEqual(Set(obj.programs.map(\.type)), [.rawTracepoint])
        let maps = Dictionary(uniqueKeysWithValues: obj.maps.map { ($0.name, $0.spec) })
        XCTAssertEqual(maps["shared"]?.type, .hash)
        XCTAssertEqual(maps["pcpu"]?.type, .percpuHash)
        XCTAssertEqual(maps["outcomes"]?.maxEntries, 16)
    }
}
