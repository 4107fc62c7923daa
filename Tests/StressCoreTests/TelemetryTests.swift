import Basics
import CBPFStress
import XCTest
@testable import StressCore

final class TelemetryTests: XCTestCase {
    func testRingWrapsAroundKeepingTheLast64InOrder() throws {
        let block = try TelemetryBlock(slots: 2)
        let t = block.thread(1, 3)
        for i in 1...100 {
            bpfs_op_begin(t, OpKind.mapUpdate.rawValue, 7, UInt64(i), nil)
            bpfs_op_end(t, i % 10 == 0 ? EINVAL : 0)
        }
        let ring = block.ring(slot: 1, thread: 3)
        XCTAssertEqual(ring.count, Int(BPFS_RING_LEN))
        XCTAssertEqual(ring.map(\.seq), Array(37...100).map(UInt64.init))
        XCTAssertEqual(ring.last?.summary, "map_fd=7 key=0x64")
        XCTAssertEqual(ring.first?.summary, "map_fd=7 key=0x25")
        XCTAssertEqual(ring.filter { $0.errno == EINVAL }.map(\.seq), [40, 50, 60, 70, 80, 90, 100])
        let snap = block.snapshot(slot: 1, thread: 3)
        XCTAssertEqual(snap.opsTotal, 100)
        XCTAssertEqual(snap.kindOps[Int(OpKind.mapUpdate.rawValue)], 100)
        XCTAssertEqual(snap.kindErrs[Int(OpKind.mapUpdate.rawValue)], 10)
        XCTAssertEqual(snap.errnoSeen[Int(EINVAL)], 10)
        XCTAssertNil(snap.inflight)
        // Other threads and slots are untouched.
        XCTAssertEqual(block.ring(slot: 0, thread: 3).count, 0)
        XCTAssertEqual(block.snapshot(slot: 1, thread: 2).opsTotal, 0)
    }

    func testInFlightOpIsVisibleUntilItEnds() throws {
        let block = try TelemetryBlock(slots: 1)
        let t = block.thread(0, 0)
        "connect4.o".withCString { bpfs_op_begin(t, OpKind.objectLoad.rawValue, 0, 0, $0) }
        let snap = block.snapshot(slot: 0, thread: 0)
        XCTAssertEqual(snap.inflight?.kind, .objectLoad)
        XCTAssertEqual(snap.inflight?.summary, "connect4.o")
        bpfs_op_end(t, 0)
        XCTAssertNil(block.snapshot(slot: 0, thread: 0).inflight)
        XCTAssertEqual(block.ring(slot: 0, thread: 0).map(\.summary), ["connect4.o"])
    }

    func testElementOpsAreTimedWithTheCoarseClockAndSaySo() throws {
        let block = try TelemetryBlock(slots: 1)
        let t = block.thread(0, 0)
        t.pointee.heartbeat_ns = bpfs_now_coarse_ns()
        bpfs_op_begin_ex(t, OpKind.mapUpdate.rawValue, 3, 9, nil, UInt32(BPFS_OP_COARSE))
        bpfs_op_end(t, 0)
        bpfs_op_begin(t, OpKind.progLoad.rawValue, 0, 0, nil)
        usleep(2000)
        bpfs_op_end(t, 0)
        let ring = block.ring(slot: 0, thread: 0)
        XCTAssertEqual(ring.map(\.coarse), [true, false])
        XCTAssertGreaterThanOrEqual(ring[1].durationNs, 2_000_000)
        XCTAssertTrue(ring[0].line(relativeTo: 0).hasSuffix("map_update map_fd=3 key=0x9 -> ok (<4 ms, coarse clock)")
                      || ring[0].line(relativeTo: 0).contains("ms, coarse clock)"), ring[0].line(relativeTo: 0))
        XCTAssertTrue(ring[1].line(relativeTo: 0).contains(" ms)"))
        XCTAssertTrue(OpKind.mapLookup.isElementOp && OpKind.mapDelete.isElementOp && OpKind.mapNextKey.isElementOp)
        XCTAssertFalse(OpKind.mapLookupBatch.isElementOp || OpKind.progAttach.isElementOp || OpKind.mapCreate.isElementOp)
    }

    func testFindingAreaHoldsEightAndCountsTheRest() throws {
        let block = try TelemetryBlock(slots: 1)
        let slot = block.slot(0)
        for i in 0..<10 {
            let idx = bpfs_tm_add_finding(slot, 42, 1, EINVAL, OpKind.progAttach.rawValue, "title \(i)", "text")
            XCTAssertEqual(idx, i < 8 ? Int32(i) : -1)
        }
        XCTAssertEqual(slot.pointee.nfindings, 10)
    }

    func testWorkerAttachesToTheSameBlock() throws {
        let block = try TelemetryBlock(slots: 3)
        let other = try TelemetryBlock(attachingTo: block.fd)
        XCTAssertEqual(other.slotCount, 3)
        bpfs_op_begin(other.thread(2, 1), OpKind.progLoad.rawValue, 0, 0, nil)
        bpfs_op_end(other.thread(2, 1), 0)
        XCTAssertEqual(block.snapshot(slot: 2, thread: 1).kindOps[Int(OpKind.progLoad.rawValue)], 1)
        block.requestStop()
        XCTAssertTrue(other.stopRequested)
    }

    func testOpKindNamesAreUniqueAndRoundTrip() {
        let names = OpKind.allCases.map(\.name)
        XCTAssertEqual(Set(names).count, names.count)
        XCTAssertTrue(OpKind.allCases.allSatisfy { OpKind.named($0.name) == $0 })
        XCTAssertLessThan(OpKind.allCases.count, Int(BPFS_MAX_KINDS))
    }

    func testErrnoNames() {
        XCTAssertEqual(ErrnoName.name(22), "EINVAL")
        XCTAssertEqual(ErrnoName.name(14), "EFAULT")
        XCTAssertEqual(ErrnoName.name(524), "ENOTSUPP")
        XCTAssertEqual(ErrnoName.value("E2BIG"), 7)
    }
}
