import Glibc
import SystemPackage
import XCTest
@testable import BPFKit

final class ObjectAndLinkTests: XCTestCase {
    let rt = KernelRuntime()

    func testPinAndGetInPrivateBPFFS() throws {
        try XCTSkipUnless(Probes.isRoot())
        let dir = "/tmp/bpfstress-bpffs-\(getpid())"
        XCTAssertEqual(mkdir(dir, 0o700), 0)
        defer { rmdir(dir) }
        guard mount("bpf", dir, "bpf", 0, nil) == 0 else { throw XCTSkip("cannot mount bpffs: errno \(errno)") }
        defer { umount2(dir, Int32(MNT_DETACH)) }
        let m = try rt.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 8, name: "bpfs_pin"))
        try m.update(UInt32(3), UInt64(33))
        try rt.objPin(m.fd, path: dir + "/m")
        let e = bpfError { try rt.objPin(m.fd, path: dir + "/m") }
        XCTAssertEqual(e?.errno, .fileExists)
        XCTAssertEqual(e?.operation, "BPF_OBJ_PIN")
        // Outside bpffs the kernel refuses with EPERM.
        XCTAssertEqual(bpfError { try rt.objPin(m.fd, path: "/tmp/bpfstress-not-bpffs") }?.errno, .notPermitted)
        let fd = try rt.objGet(path: dir + "/m")
        defer { close(fd) }
        let id = try rt.mapInfo(m).id
        let again = try rt.map(byID: id)
        XCTAssertEqual(try again.lookup(UInt32(3), as: UInt64.self), 33)
        XCTAssertEqual(bpfErrno { _ = try rt.objGet(path: dir + "/missing") }, .noSuchFileOrDirectory)
        unlink(dir + "/m")
    }

    func testRawTracepointLinkAndLinkDetach() throws {
        try XCTSkipUnless(Probes.isRoot())
        let p = try rt.progLoad(type: .rawTracepoint, instructions: [.mov64(dst: 0, imm: 0), .exit],
                                license: "GPL", expectedAttachType: nil, name: "bpfs_rawtp")
        XCTAssertEqual(bpfErrno { _ = try rt.rawTracepointOpen(name: "bpfstress_no_such_tp", program: p) }, .noSuchFileOrDirectory)
        let link = try rt.rawTracepointOpen(name: "sched_process_exit", program: p)
        defer { link.close() }
        let info = try rt.linkInfo(link)
        XCTAssertEqual(info.type, .rawTracepoint)
        XCTAssertEqual(info.programID, try rt.programInfo(p).id)
        XCTAssertNil(info.cgroupID)
        // The link id is in the link id space.
        var found = false
        var id: UInt32 = 0
        for _ in 0..<100_000 {
            guard let next = try rt.nextID(.link, after: id) else { break }
            if next == info.id { found = true; break }
            id = next
        }
        XCTAssertTrue(found)
    }

    func testHotPathThroughput() throws {
        let m = try rt.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 1024, name: "bpfs_perf"))
        var key: UInt32 = 0
        var value: UInt64 = 0
        let start = FileUtil.monotonicNs()
        var ops = 0
        while FileUtil.monotonicNs() - start < 300_000_000 {  // bounded: 0.3 s
            for _ in 0..<1000 {
                key = UInt32(ops & 1023)
                value = UInt64(ops)
                XCTAssertNil(m.tryUpdate(key: &key, value: &value))
                XCTAssertNil(m.tryLookup(key: &key, value: &value))
                ops += 2
            }
        }
        let secs = Double(FileUtil.monotonicNs() - start) / 1e9
        let rate = Double(ops) / secs
        print("BPFKit hot path: \(Int(rate)) map ops/s (update+lookup, hash 4/8)")
        XCTAssertGreaterThan(rate, 50_000)
    }
}
