import BPFKit
@testable import Fuzz
import XCTest

/// The census oracle (a snapshot of a shared map with every writer held off) on tampered
/// snapshots: each broken invariant must be named, and a sound snapshot must pass.
final class CensusTests: XCTestCase {
    func value(_ k: UInt32, seq: UInt64 = 1) -> [UInt8] { SharedValue.encode(writer: 3, key: k, seq: seq) }

    func testSoundSnapshotPasses() {
        let walk = [(key: UInt32(1), value: Optional(value(1))), (key: 7, value: value(7))]
        XCTAssertEqual(checkSharedCensus(walk: walk, batch: [(7, value(7)), (1, value(1))], maxEntries: 2, universe: 8), [])
    }

    func testEachBrokenInvariantIsNamed() {
        let ok = [(key: UInt32(1), value: Optional(value(1))), (key: 2, value: value(2))]
        let batch = [(key: UInt32(1), value: value(1)), (key: 2, value: value(2))]
        XCTAssertEqual(checkSharedCensus(walk: ok, batch: batch, maxEntries: 1, universe: 8),
                       ["census: 2 keys in a map of max_entries 1"])
        // BPF_F_NO_PREALLOC: racing inserts may leave up to CPUs - 1 extra keys, not more.
        XCTAssertEqual(checkSharedCensus(walk: ok, batch: batch, maxEntries: 1, universe: 8, overshoot: 1), [])
        let three = ok + [(key: UInt32(3), value: Optional(value(3)))]
        XCTAssertEqual(checkSharedCensus(walk: three, batch: batch + [(3, value(3))], maxEntries: 1, universe: 8, overshoot: 1),
                       ["census: 3 keys in a map of max_entries 1 (at most 2 with racing inserts)"])
        XCTAssertEqual(checkSharedCensus(walk: ok + [(2, value(2))], batch: batch, maxEntries: 4, universe: 8),
                       ["census: get_next_key returned key 2 twice"])
        XCTAssertEqual(checkSharedCensus(walk: [(1, value(1)), (2, nil)], batch: [(1, value(1))], maxEntries: 4, universe: 8),
                       ["census: walked key 2 is missing on lookup with no writer running"])
        XCTAssertEqual(checkSharedCensus(walk: ok, batch: [(1, value(1))], maxEntries: 4, universe: 8),
                       ["census: batch lookup and walk disagree: 1 key(s) only walked (e.g. 2), 0 only batched (e.g. -)"])
        XCTAssertEqual(checkSharedCensus(walk: ok, batch: batch + [(1, value(1))], maxEntries: 4, universe: 8),
                       ["census: batch lookup returned key 1 twice"])
        XCTAssertEqual(checkSharedCensus(walk: ok, batch: [(1, value(1)), (2, value(2, seq: 9))], maxEntries: 4, universe: 8),
                       ["census: key 2 has a different value in the batch than on lookup"])
        XCTAssertEqual(checkSharedCensus(walk: [(9, value(9))], batch: [(9, value(9))], maxEntries: 4, universe: 8),
                       ["census: key 9 is outside the key range 0..<8 any worker writes"])
        // A torn value cannot be tolerated here: nothing writes during a census.
        let torn = Array(value(2).prefix(16) + value(2, seq: 5).suffix(16))
        let r = checkSharedCensus(walk: [(2, torn)], batch: [(2, torn)], maxEntries: 4, universe: 8)
        XCTAssertEqual(r.count, 1)
        XCTAssertTrue(r.first?.hasPrefix("census: torn") == true, "\(r)")
    }

    /// The census reads past the bound it checks: a map over max_entries + overshoot must be
    /// seen whole, not cut at max_entries + 1 keys.
    func testReadLimitIsPastTheBound() {
        XCTAssertGreaterThan(censusReadLimit(maxEntries: 256, overshoot: 1, universe: 512), 256 + 1)
        XCTAssertGreaterThan(censusReadLimit(maxEntries: 256, overshoot: 1, universe: 0), 257)
    }

    /// A real map holding 300 keys, censused as a 256-entry NO_PREALLOC map on 2 CPUs (bound
    /// 257): the walk must see all 300 and the check must fire.
    func testCensusOfARealMapSeesPastTheBound() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates a BPF map with bpf(2)")
        let map = try KernelRuntime().mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: UInt32(SharedValue.size),
                                                        maxEntries: 512, flags: BPFMapFlags.noPrealloc, name: "bpfs_fuzz_cen"))
        defer { map.close() }
        for k in UInt32(0)..<300 {
            try map.update(key: Layout.intBytes(UInt64(k), 4), value: value(k))
        }
        let walk = try censusWalk(map, maxEntries: 256, overshoot: 1, universe: 512)
        XCTAssertEqual(walk.count, 300)
        XCTAssertEqual(checkSharedCensus(walk: walk, batch: nil, maxEntries: 256, universe: 512, overshoot: 1),
                       ["census: 300 keys in a map of max_entries 256 (at most 257 with racing inserts)"])
    }
}
