import BPFKit
import Foundation
import HostSupport
import XCTest
@testable import StressCore

/// The leak check attributes by the ownership ledger, never by name.
final class LeakCheckTests: XCTestCase {
    override func tearDown() { OwnershipLedger.detach() }

    func testOnlyObjectsTheLedgerRecordedAreLeaksWhateverTheirNames() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root to create BPF maps")
        let rt = KernelRuntime()
        // Made before this "campaign" began, with the very name ours uses: someone else's.
        let foreign = try rt.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 4, name: "connects"))
        defer { foreign.close() }
        let fd = try OwnershipLedger.create()
        defer { close(fd) }
        let before = Inventory.take(runtime: rt)
        let leaked = try rt.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 4, name: "any_name"))
        let id = try rt.mapInfo(leaked).id
        let r = LeakCheck.compare(before: before, runtime: rt, settle: 0.2)
        XCTAssertEqual(r.leaks, ["map id \(id) \"any_name\""])
        XCTAssertNil(r.incomplete)
        XCTAssertFalse(OwnershipLedger.owns(.map, id: UInt64(try rt.mapInfo(foreign).id)))
        leaked.close()
        // Once closed, the kernel frees it (after an RCU grace period) and the check is clean.
        XCTAssertEqual(LeakCheck.compare(before: before, runtime: rt, settle: 3).leaks, [])
    }

    func testANamespaceKeptByABindMountIsFoundAndFreedOnceUnmounted() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root for namespaces and mounts")
        let fd = try OwnershipLedger.create()
        defer { close(fd) }
        let before = Inventory.take(runtime: KernelRuntime())
        let dir = NSTemporaryDirectory() + "bpfstress-leakcheck-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/ns", contents: nil)
        let ns = try NetworkNamespace()
        let inode = ns.inode
        XCTAssertTrue(OwnershipLedger.owns(.netns, id: inode), "netns creation is recorded in the ledger")
        XCTAssertEqual(mount("/proc/self/fd/\(ns.fd)", dir + "/ns", nil, UInt(MS_BIND), nil), 0)
        ns.close()
        let r = LeakCheck.compare(before: before, runtime: KernelRuntime(), settle: 0.2)
        XCTAssertEqual(r.leaks, ["network namespace net:[\(inode)] kept by bind mount at \(dir)/ns"])
        XCTAssertEqual(umount(dir + "/ns"), 0)
        XCTAssertEqual(LeakCheck.compare(before: before, runtime: KernelRuntime(), settle: 3).leaks, [])
    }

    func testPinsAreRecordedAndFoundWhileTheyExist() throws {
        let fd = try OwnershipLedger.create()
        defer { close(fd) }
        let path = NSTemporaryDirectory() + "bpfstress-pin-\(getpid())"
        OwnershipLedger.notePin(path)
        XCTAssertEqual(OwnershipLedger.pins, [path])
        FileManager.default.createFile(atPath: path, contents: nil)
        XCTAssertTrue(LeakCheck.find(before: Inventory(), runtime: KernelRuntime()).leaks.contains("pin \(path)"))
        try FileManager.default.removeItem(atPath: path)
        XCTAssertFalse(LeakCheck.find(before: Inventory(), runtime: KernelRuntime()).leaks.contains("pin \(path)"))
    }

    func testStaleLeftoversAreRecognisedByTheirOwnersPid() {
        XCTAssertEqual(StaleCleanup.ownerPID("bpfstress.1234.ab12"), 1234)
        XCTAssertEqual(StaleCleanup.ownerPID("bpfstress-state-99-Xy1z2A"), 99)
        XCTAssertNil(StaleCleanup.ownerPID("bpfstress.abc"))
        XCTAssertNil(StaleCleanup.ownerPID("bpfstress-fuzz-12"))
        XCTAssertTrue(StaleCleanup.alive(getpid()))
    }

    func testAStateDirectoryOfADeadCoordinatorIsRemovedAndALiveOnesIsKept() throws {
        let tmp = NSTemporaryDirectory() + "bpfstress-stale-test-\(getpid())"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        // A pid that cannot exist (above pid_max's hard limit of 2^22).
        let dead = tmp + "/bpfstress-state-4194305-abcdef", live = tmp + "/bpfstress-state-\(getpid())-abcdef"
        for d in [dead, live] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        let done = StaleCleanup.run(tempDirectory: tmp)
        XCTAssertTrue(done.contains("removed stale state directory \(dead) (coordinator pid 4194305 is gone)"), "\(done)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead))
        XCTAssertTrue(FileManager.default.fileExists(atPath: live))
    }
}
