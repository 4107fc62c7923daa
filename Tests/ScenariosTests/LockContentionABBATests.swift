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
