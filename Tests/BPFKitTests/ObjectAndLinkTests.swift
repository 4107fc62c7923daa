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

    /// The raw-pointer hot path (update/lookup, typed throws) against a model: every lookup returns
    /// what was just written, and afterwards the map holds exactly the model. Its speed is
    /// `bpfstress bench ops`' business (docs/PERFORMANCE.md), not a test's.
    func testHotPathUpdateAndLookupMatchAModel() throws {
        let m = try rt.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 1024, name: "bpfs_perf"))
        var model: [UInt32: UInt64] = [:]
        var key: UInt32 = 0
        var value: UInt64 = 0
        for i in 0..<20_000 {
            key = UInt32((i &* 2_654_435_761) & 1023)
            value = UInt64(i) &* 0x9E37_79B9_7F4A_7C15
            try m.update(key: &key, value: &value)
            model[key] = value
            var got: UInt64 = 0
            try m.lookup(key: &key, value: &got)
            XCTAssertEqual(got, value)
        }
        var missing: UInt32 = 5000
        var unused: UInt64 = 0
        do { try m.lookup(key: &missing, value: &unused); XCTFail("lookup of a missing key succeeded") } catch {
            XCTAssertEqual(error.errno, .noSuchFileOrDirectory)
        }
        for (k, v) in model {
            key = k
            var got: UInt64 = 0
            try m.lookup(key: &key, value: &got)
            XCTAssertEqual(got, v, "key \(k)")
        }
        XCTAssertEqual(model.count, 1024)
    }
}
