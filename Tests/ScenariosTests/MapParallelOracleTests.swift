import BPFKit
import Foundation
import XCTest
@testable import Scenarios

/// The map-parallel oracle: exact content, agreeing counts, one winner per key.
final class MapParallelOracleTests: XCTestCase {
    func expected() -> [UInt32: UInt64] {
        var e: [UInt32: UInt64] = [:]
        for k in UInt32(0)..<4 { e[k] = ParallelValues.own(key: k, round: 3, phase: 1) }
        for k in UInt32(2048)..<2052 { e[k] = MapParallel.overlapValue(k, 3) }
        return e
    }

    func testExactContentPassesAndEveryKindOfDriftFails() {
        let e = expected()
        let keys = Array(e.keys)
        XCTAssertEqual(ParallelMapOracle.checkContent(expected: e, content: e, walkKeys: keys, batchCount: 8, isArray: false, maxEntries: 64), [])
        var changed = e; changed[1]! ^= 1
        XCTAssertEqual(ParallelMapOracle.checkContent(expected: e, content: changed, walkKeys: keys, batchCount: 8, isArray: false, maxEntries: 64).map(\.check),
                       ["final-content-exact"])
        var extra = e; extra[99] = 5
        XCTAssertEqual(Set(ParallelMapOracle.checkContent(expected: e, content: extra, walkKeys: keys + [99], batchCount: 9, isArray: false, maxEntries: 64).map(\.check)),
                       ["final-content-exact", "counts-agree"])
        XCTAssertEqual(ParallelMapOracle.checkContent(expected: e, content: e, walkKeys: Array(keys.dropLast()), batchCount: 8, isArray: false, maxEntries: 64).map(\.check),
                       ["counts-agree"])
        XCTAssertEqual(ParallelMapOracle.checkContent(expected: e, content: e, walkKeys: keys + [keys[0]], batchCount: 9, isArray: false, maxEntries: 64).map(\.check),
                       ["counts-agree", "counts-agree"])
        // Arrays: other slots must be zero, and the count is max_entries.
        var arr = e; for k in UInt32(0)..<64 where arr[k] == nil { arr[k] = 0 }
        let all = (0..<64).map { UInt32($0) }
        XCTAssertEqual(ParallelMapOracle.checkContent(expected: [:], content: Dictionary(uniqueKeysWithValues: all.map { ($0, UInt64(0)) }), walkKeys: all,
                                                      batchCount: 64, isArray: true, maxEntries: 64), [])
        var stray = Dictionary(uniqueKeysWithValues: all.map { ($0, UInt64(0)) }); stray[40] = 7
        XCTAssertEqual(ParallelMapOracle.checkContent(expected: [:], content: stray, walkKeys: all, batchCount: 64, isArray: true, maxEntries: 64).map(\.check),
                       ["final-content-exact"])
    }

    func testOneWinnerPerKey() {
        let keys: [UInt32] = [1, 2, 3]
        XCTAssertEqual(ParallelMapOracle.checkWinners([1: 1, 2: 1, 3: 1], keys: keys, what: "x"), [])
        XCTAssertEqual(ParallelMapOracle.checkWinners([1: 1, 2: 2, 3: 1], keys: keys, what: "x").map(\.check), ["one-winner"])
        XCTAssertEqual(ParallelMapOracle.checkWinners([1: 1, 3: 1], keys: keys, what: "x").map(\.check), ["one-winner"])
    }

    func testValuesNameTheirKey() {
        let v = ParallelValues.overlap(key: 61_500, writer: 0x0102)
        XCTAssertTrue(ParallelValues.isOverlapValue(v, key: 61_500))
        XCTAssertFalse(ParallelValues.isOverlapValue(v, key: 61_501))
        XCTAssertFalse(ParallelValues.isOverlapValue(v ^ 0x100, key: 61_500))
        XCTAssertFalse(ParallelValues.isOverlapValue(ParallelValues.own(key: 61_500, round: 1, phase: 0), key: 61_500))
        XCTAssertNotEqual(ParallelValues.own(key: 5, round: 1, phase: 0), ParallelValues.own(key: 5, round: 1, phase: 1))
        XCTAssertNotEqual(ParallelValues.own(key: 5, round: 1, phase: 1), ParallelValues.own(key: 5, round: 2, phase: 1))
    }

    /// The oracle on a real map: correct after inserts, failing once a key is removed behind its back.
    func testKernelMapContentAgainstTheOracle() throws {
        let rt = KernelRuntime()
        let map = try rt.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 64, flags: BPFMapFlags.noPrealloc, name: "bpfs_test_mp"))
        defer { map.close() }
        let e = expected()
        for (k, v) in e { try map.update(k, v, flags: BPFUpdateFlags.noExist) }
        func read() throws -> ([UInt32: UInt64], [UInt32], Int) {
            let walk = try map.keys(as: UInt32.self)
            var content: [UInt32: UInt64] = [:]
            for k in walk { content[k] = try map.lookup(k, as: UInt64.self) }
            return (content, walk, content.count)
        }
        var (c, w, n) = try read()
        XCTAssertEqual(ParallelMapOracle.checkContent(expected: e, content: c, walkKeys: w, batchCount: n, isArray: false, maxEntries: 64), [])
        XCTAssertTrue(try map.delete(UInt32(2049)))
        (c, w, n) = try read()
        XCTAssertEqual(ParallelMapOracle.checkContent(expected: e, content: c, walkKeys: w, batchCount: n, isArray: false, maxEntries: 64).map(\.check),
                       ["counts-agree", "final-content-exact"])
    }

    func testBarrierReleasesOnAllArrivedAndOnBreak() {
        let b = TimedBarrier(parties: 3)
        let group = DispatchGroup()
        final class Box: @unchecked Sendable { var results: [Bool] = []; let lock = NSLock() }
        let box = Box()
        for _ in 0..<3 {
            group.enter()
            Thread.detachNewThread {
                let r = b.wait(keepRunning: { true }, heartbeat: {})
                box.lock.lock(); box.results.append(r); box.lock.unlock()
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(box.results, [true, true, true])

        let lonely = TimedBarrier(parties: 2)
        let start = Date()
        XCTAssertFalse(lonely.wait(keepRunning: { Date().timeIntervalSince(start) < 0.2 }, heartbeat: {}))
        XCTAssertFalse(lonely.wait(keepRunning: { true }, heartbeat: {}), "a broken barrier stays broken")
    }
}
