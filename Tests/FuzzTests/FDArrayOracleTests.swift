// The fd-array oracle on tampered answers (owner type, program ids, perf entries released with their map file, ENOTSUPP lookups), and the seed replayed on the kernel.
import Basics
import BPFKit
@testable import Fuzz
import Foundation
import Glibc
import XCTest

final class FDArrayOracleTests: XCTestCase {
    /// Slot 0 a prog_array, slot 1 a perf_event_array, slot 2 a second fd of it; objects: 0
    /// prog_xdp (fd 50, id 500), 1 prog_socket_filter (51, 501), 2 perf (52), 3 cgroup (53, 503).
    func fdModel() -> (String, CallResult) -> [String] {
        let m = ShadowModel(cpus: 2)
        var i = 0
        var ids: [Int: UInt32] = [:]
        let run: (String, CallResult) -> [String] = { text, r0 in
            i += 1
            var r = r0
            let c = try! ProgramText.parseCall(text)
            var shape: MapShape? = nil
            if c.op == .create {
                let id = UInt32(100 + i); ids[c.map] = id; r.count = id
                shape = MapShape(type: c.type, keySize: 4, valueSize: 4, maxEntries: Int(c.maxEntries), flags: c.mapFlags, cpus: 2, id: id)
            }
            if c.op == .fdByID, r.errno == 0 { r.count = ids[Int(c.count)] ?? 0; shape = nil }
            return m.check(i, c, r, shape: shape).map(\.signature)
        }
        XCTAssertEqual(run("create map=0 type=prog_array key=4 value=4 max=4", CallResult()), [])
        XCTAssertEqual(run("create map=1 type=perf_event_array key=4 value=4 max=4", CallResult()), [])
        XCTAssertEqual(run("fd_by_id map=2 from=1", CallResult()), [])
        for (n, (k, fact)) in [("prog_xdp", 500), ("prog_socket_filter", 501), ("perf", 0), ("cgroup", 503)].enumerated() {
            var r = CallResult(); r.count = UInt32(50 + n); r.out = Layout.intBytes(UInt64(fact), 8)
            XCTAssertEqual(run("open obj=\(n) kind=\(k)", r), [])
        }
        return run
    }

    func err(_ e: Int32) -> CallResult { var r = CallResult(); r.errno = e; return r }
    func id(_ v: UInt64) -> CallResult { var r = CallResult(); r.out = Layout.intBytes(v, 4); return r }

    /// The first program fixes the owner type; a lookup gives the program id, also after the
    /// program was dropped (the array holds it); only BPF_ANY; non-programs are EINVAL.
    func testProgArrayOwnerAndIds() {
        let run = fdModel()
        XCTAssertEqual(run("update map=0 key=#0 value=obj:0", CallResult()), [])
        XCTAssertEqual(run("update map=0 key=#1 value=obj:1", CallResult()), ["update:errno"], "a socket filter in an XDP prog_array must be refused")
        XCTAssertEqual(run("update map=0 key=#1 value=obj:1", err(EINVAL)), [])
        XCTAssertEqual(run("update map=0 key=#1 value=obj:2", err(EINVAL)), [])
        XCTAssertEqual(run("update map=0 key=#1 value=obj:0 flags=NOEXIST", err(EINVAL)), [])
        XCTAssertEqual(run("update map=0 key=#4 value=obj:7", err(E2BIG)), [], "the index is checked before the fd")
        XCTAssertEqual(run("drop obj=0", CallResult()), [])
        XCTAssertEqual(run("lookup map=0 key=#0", id(500)), [])
        XCTAssertEqual(run("lookup map=0 key=#0", id(501)), ["lookup:value"])
        XCTAssertEqual(run("lookup map=0 key=#0", err(ENOENT)), ["lookup:errno"], "the array holds the dropped program")
        XCTAssertEqual(run("delete map=0 key=#0", CallResult()), [])
        XCTAssertEqual(run("update map=0 key=#0 value=obj:1", CallResult()), ["update:errno"], "the owner type stays after the array empties")
        XCTAssertEqual(run("delete map=0 key=#0", err(ENOENT)), [])
        XCTAssertEqual(run("delete map=0 key=#5", err(ENOENT)), ["delete:errno"], "past max_entries is E2BIG")
    }

    /// perf_event_array: entries added through a map file go when that file is closed, the
    /// others stay; lookups are ENOTSUPP; non-perf fds EBADF.
    func testPerfEntriesGoWithTheirMapFile() {
        let run = fdModel()
        XCTAssertEqual(run("update map=1 key=#0 value=obj:2", CallResult()), [])
        XCTAssertEqual(run("update map=2 key=#1 value=obj:2", CallResult()), [])
        XCTAssertEqual(run("update map=2 key=#2 value=obj:3", err(EBADF)), [])
        XCTAssertEqual(run("lookup map=1 key=#0", id(0)), ["lookup:errno"])
        XCTAssertEqual(run("lookup map=1 key=#0", err(ENOTSUPP)), [])
        XCTAssertEqual(run("close map=2", CallResult()), [])
        XCTAssertEqual(run("delete map=1 key=#1", CallResult()), ["delete:errno"], "the entry added through the closed fd must be gone")
        XCTAssertEqual(run("delete map=1 key=#1", err(ENOENT)), [])
        XCTAssertEqual(run("delete map=1 key=#0", err(ENOENT)), ["delete:errno"], "the entry added through slot 1 stays")
        XCTAssertEqual(run("delete map=1 key=#0", CallResult()), [])
    }

    /// cgroup_array: cgroup fds only (EBADF for the rest); the entry stays after the cgroup is dropped.
    func testCgroupArray() {
        let run = fdModel()
        XCTAssertEqual(run("create map=3 type=cgroup_array key=4 value=4 max=2", CallResult()), [])
        XCTAssertEqual(run("update map=3 key=#0 value=obj:1", CallResult()), ["update:errno"])
        XCTAssertEqual(run("update map=3 key=#0 value=obj:1", err(EBADF)), [])
        XCTAssertEqual(run("update map=3 key=#0 value=obj:3", CallResult()), [])
        XCTAssertEqual(run("drop obj=3", CallResult()), [])
        XCTAssertEqual(run("lookup map=3 key=#0", err(ENOTSUPP)), [])
        XCTAssertEqual(run("delete map=3 key=#0", err(ENOENT)), ["delete:errno"], "the array holds the removed cgroup")
    }

    func testCreateRules() {
        let run = fdModel()
        XCTAssertEqual(run("create map=3 type=prog_array key=4 value=8 max=2", CallResult()), ["create:errno"])
        XCTAssertEqual(run("create map=3 type=perf_event_array key=4 value=4 max=2 flags=PRESERVE_ELEMS", CallResult()), [])
        XCTAssertEqual(run("create map=3 type=cgroup_array key=4 value=4 max=2 flags=PRESERVE_ELEMS", err(EINVAL)), [])
        XCTAssertEqual(run("create map=3 type=prog_array key=4 value=4 max=2 flags=RDONLY_PROG", err(EINVAL)), [])
    }

    func testSeedReplaysOnTheKernel() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: loads programs, makes perf events and a cgroup")
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../corpora/maps").standardized.path
        let p = try ProgramText.load(path: dir + "/fd-arrays.prog")
        let r = f.execute(p, all: true)
        XCTAssertEqual(r.findings, [])
        XCTAssertEqual(r.results.map(\.errno)[6...11], [0, EINVAL, f.model.facts.progArrayAttachTypeErrno, EINVAL, EINVAL, E2BIG])
        XCTAssertEqual(r.results[13].out, Array(r.results[1].out.prefix(4)), "the dropped program's id, from the array that holds it")
        XCTAssertEqual(r.results.map(\.errno)[24...25], [ENOENT, 0], "the entry added through the closed second fd is gone, the other stays")
        XCTAssertEqual(r.results.map(\.errno)[30...31], [0, ENOENT])
    }
}
