import Basics
import BPFKit
import CBPFStress
import Nightly
import XCTest
@testable import StressCore

final class LatencyTelemetryTests: XCTestCase {
    func context(seed: UInt64, block: TelemetryBlock) -> ThreadContext {
        let spec = WorkerSpec(slot: 1, generation: 0, scenario: "t", threads: 1, seed: seed, durationSeconds: 60,
                              cgroupPath: nil, params: [:], runtime: "kernel", telemetryFD: block.fd)
        let d = ScenarioDescriptor(name: "t", shortName: "t", summary: "t", requirements: [], checks: [])
        return ThreadContext(worker: WorkerContext(spec: spec, runtime: KernelRuntime(), descriptor: d, telemetry: block), index: 0)
    }

    /// Element ops are timed on the seeded sample, exactly: the gaps replayed from the same
    /// xorshift give the same count, and alternating kinds both get sampled.
    func testElementOpsAreSampledByTheSeededGaps() throws {
        let block = try TelemetryBlock(slots: 2)
        let t = context(seed: 99, block: block)
        let n = 32_000
        for i in 0..<n { try t.op(i % 2 == 0 ? .mapUpdate : .mapLookup) { () } }
        // Model of bpfs_hist_seed / bpfs_op_begin_h.
        var sampling = SplitMix64(seed: 99, stream: 0x4C41_5400)
        var rng = sampling.next()
        func step() -> UInt32 { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return 1 + UInt32(rng % UInt64(BPFS_HIST_SAMPLE_SPAN)) }
        var countdown = step()
        var expected: [OpKind: UInt64] = [:]
        for i in 0..<n {
            countdown -= 1
            if countdown == 0 { countdown = step(); expected[i % 2 == 0 ? .mapUpdate : .mapLookup, default: 0] += 1 }
        }
        let got = block.histograms(slot: 1, thread: 0).byKind
        XCTAssertEqual(got[.mapUpdate]?.count, expected[.mapUpdate])
        XCTAssertEqual(got[.mapLookup]?.count, expected[.mapLookup])
        XCTAssertGreaterThan(expected[.mapUpdate] ?? 0, 200)
        XCTAssertGreaterThan(expected[.mapLookup] ?? 0, 200)
        XCTAssertEqual(got[.mapUpdate]?.sampled, true)
        // The sampled ops are precise in the flight recorder too; the others stay coarse.
        XCTAssertTrue(block.ring(slot: 1, thread: 0).contains { $0.coarse })
    }

    /// Other ops are timed every time; a 2 ms op lands in a bucket at or above 2 ms.
    func testEveryNonElementOpIsTimedIntoItsBucket() throws {
        let block = try TelemetryBlock(slots: 2)
        let t = context(seed: 1, block: block)
        for _ in 0..<3 { try t.op(.progLoad) { usleep(2000) } }
        try t.op(.objInfo, label: "x") { () }
        let h = try XCTUnwrap(block.histograms(slot: 1, thread: 0).byKind[.progLoad])
        XCTAssertEqual(h.count, 3)
        XCTAssertFalse(h.sampled)
        XCTAssertGreaterThanOrEqual(h.percentile(50), 2_000_000)
        XCTAssertGreaterThanOrEqual(h.maxNs, 2_000_000)
        XCTAssertEqual(block.histograms(slot: 1, thread: 0).byKind[.objInfo]?.count, 1)
        // reset(slot:) clears them.
        block.reset(slot: 1)
        XCTAssertTrue(block.histograms(slot: 1, thread: 0).byKind.isEmpty)
    }

    /// A thread using more kinds than it has histograms counts the rest as untracked.
    func testKindsBeyondTheHistogramsAreCountedUntracked() throws {
        let block = try TelemetryBlock(slots: 2)
        let t = context(seed: 1, block: block)
        let kinds = OpKind.allCases.filter { !$0.isElementOp && $0 != .none }.prefix(Int(BPFS_HIST_PER_THREAD) + 3)
        for k in kinds { try t.op(k) { () } }
        let r = block.histograms(slot: 1, thread: 0)
        XCTAssertEqual(r.byKind.count, Int(BPFS_HIST_PER_THREAD))
        XCTAssertEqual(r.untracked, 3)
    }
}
