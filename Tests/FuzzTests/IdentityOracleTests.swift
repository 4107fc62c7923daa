// The permission and identity oracle: per-fd access after OBJ_GET / GET_FD_BY_ID, ids, lifetimes, and GET_INFO's info_len rules, on the kernel and on tampered answers.
import BPFKit
@testable import Fuzz
import Glibc
import XCTest

final class IdentityOracleTests: XCTestCase {
    let shape = MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0, cpus: 2)
    static let id: UInt32 = 77

    /// A hash map (id 77) with key 1 = @v1 pinned as p0, and a runner of (call, answer) pairs.
    func setUpModel() -> (ShadowModel, (String, CallResult) -> [String]) {
        let m = ShadowModel(cpus: 2)
        var i = 0
        let run: (String, CallResult) -> [String] = { text, r in
            i += 1
            return m.check(i, try! ProgramText.parseCall(text), r, shape: self.shape).map(\.signature)
        }
        XCTAssertEqual(run("create map=0 type=hash key=4 value=8 max=4", answer(0, count: Self.id)), [])
        XCTAssertEqual(run("update map=0 key=#1 value=@v1", answer(0)), [])
        XCTAssertEqual(run("pin map=0 path=0", answer(0)), [])
        return (m, run)
    }

    func answer(_ e: Int32, count: UInt32 = 0, out: [UInt8]? = nil, values: [UInt8]? = nil) -> CallResult {
        var r = CallResult(); r.errno = e; r.count = count
        if let out { r.out = out }
        if let values { r.valuesOut = values }
        return r
    }

    func testAccessIsPerFd() {
        let (_, run) = setUpModel()
        XCTAssertEqual(run("obj_get map=1 path=0 flags=RDONLY", answer(0, count: Self.id)), [])
        XCTAssertEqual(run("update map=1 key=#2 value=@v2", answer(0)), ["update:errno"], "a read-only fd must get EPERM")
        XCTAssertEqual(run("update map=1 key=#2 value=@v2", answer(EPERM)), [])
        XCTAssertEqual(run("lookup map=1 key=#1", answer(0, out: Layout.pattern(1, 8))), [])
        // The creating fd is still read-write; the read-only one did not change the map's state.
        XCTAssertEqual(run("update map=0 key=#2 value=@v2", answer(EPERM)), ["update:errno"])
        XCTAssertEqual(run("obj_get map=2 path=0 flags=WRONLY|PATH_FD", answer(0, count: Self.id)), [])
        XCTAssertEqual(run("lookup map=2 key=#1", answer(0, out: Layout.pattern(1, 8))), ["lookup:errno"], "a write-only fd must get EPERM")
        XCTAssertEqual(run("lookup map=2 key=#1", answer(EPERM)), [])
        XCTAssertEqual(run("delete map=2 key=#1", answer(0)), [])
        XCTAssertEqual(run("lookup map=1 key=#1", answer(0, out: Layout.pattern(1, 8))), ["lookup:errno"], "deleted through the other fd")
    }

    func testFileFlagsAndOpenFlags() {
        let (_, run) = setUpModel()
        XCTAssertEqual(run("obj_get map=1 path=0 flags=RDONLY|WRONLY", answer(0, count: Self.id)), ["obj_get:errno"])
        XCTAssertEqual(run("obj_get map=1 path=0 flags=0x20", answer(EINVAL)), [])
        XCTAssertEqual(run("obj_get map=1 path=2", answer(EINVAL)), ["obj_get:errno"], "ENOENT: nothing pinned as p2")
        XCTAssertEqual(run("obj_get map=1 path=4", answer(EACCES)), [])
        XCTAssertEqual(run("pin map=0 path=0", answer(0)), ["pin:errno"], "EEXIST")
        XCTAssertEqual(run("pin map=0 path=1 flags=RDONLY", answer(EINVAL)), [])
        XCTAssertEqual(run("fd_by_id map=1 from=0 flags=PATH_FD", answer(0, count: Self.id)), ["fd_by_id:errno"], "open_flags take no PATH_FD")
        XCTAssertEqual(run("next_id map=0 flags=1", answer(EINVAL)), [])
    }

    func testIdsMustNameTheSameMap() {
        let (_, run) = setUpModel()
        XCTAssertEqual(run("obj_get map=1 path=0", answer(0, count: Self.id + 1)), ["obj_get:identity"])
        XCTAssertEqual(run("fd_by_id map=2 from=0", answer(0, count: Self.id + 1)), ["fd_by_id:identity"])
        XCTAssertEqual(run("next_id map=0", answer(0, values: Layout.intBytes(UInt64(Self.id + 3), 4))), ["next_id:identity"])
        XCTAssertEqual(run("next_id map=0", answer(0, values: Layout.intBytes(UInt64(Self.id), 4))), [])
    }

    /// A pin keeps the map alive after its fds close; after the unpin it may linger for an RCU
    /// grace period; once it is gone (ENOENT), it stays gone.
    func testLifetimeByPinsAndFds() {
        let (_, run) = setUpModel()
        XCTAssertEqual(run("close map=0", answer(0)), [])
        XCTAssertEqual(run("fd_by_id map=1 from=0", answer(ENOENT)), ["fd_by_id:errno"], "the pin holds it")
        XCTAssertEqual(run("close map=1", answer(EBADF)), [])
        XCTAssertEqual(run("unpin map=0 path=0", answer(0)), [])
        XCTAssertEqual(run("next_id map=0", answer(0, values: Layout.intBytes(UInt64(Self.id), 4))), [], "may linger")
        XCTAssertEqual(run("fd_by_id map=1 from=0", answer(ENOENT)), [])
        XCTAssertEqual(run("fd_by_id map=1 from=0", answer(0, count: Self.id)), ["fd_by_id:errno"], "gone for good")
        XCTAssertEqual(run("next_id map=0", answer(0, values: Layout.intBytes(UInt64(Self.id), 4))), ["next_id:identity"])
    }

    func testInfoLenRules() {
        let (m, run) = setUpModel()
        let full = m.expectedInfo(m.identity.last[0]!)
        XCTAssertEqual(full.count, 104)
        XCTAssertEqual(Array(full[0..<8]), [1, 0, 0, 0, UInt8(Self.id), 0, 0, 0])
        XCTAssertEqual(run("info map=0 len=40", answer(0, count: 40, values: Array(full.prefix(40)))), [])
        XCTAssertEqual(run("info map=0 len=40", answer(0, count: 104, values: Array(full.prefix(40)))), ["info:info"], "info_len must come back as 40")
        XCTAssertEqual(run("info map=0 len=200", answer(0, count: 104, values: full + [UInt8](repeating: 0, count: 96))), [])
        var past = full + [UInt8](repeating: 0, count: 96); past[150] = 0xcc
        XCTAssertEqual(run("info map=0 len=200", answer(0, count: 104, values: past)), ["info:info"], "a write past the struct")
        var wrongID = full; wrongID[4] ^= 1
        XCTAssertEqual(run("info map=0 len=104", answer(0, count: 104, values: wrongID)), ["info:info"])
        XCTAssertEqual(run("info map=0 len=200 tail=1", answer(0, count: 104, values: full + [UInt8](repeating: 0, count: 96))), ["info:errno"], "E2BIG")
        XCTAssertEqual(run("info map=0 len=4097", answer(E2BIG, count: 4097, values: [UInt8](repeating: 0, count: 4097))), [])
        XCTAssertEqual(run("info map=0 len=4097", answer(E2BIG, count: 104, values: [UInt8](repeating: 0, count: 4097))), ["info:info"], "info_len written on failure")
        XCTAssertEqual(run("info map=0 len=8 out=NULL", answer(0, count: 8)), ["info:errno"], "EFAULT")
        XCTAssertEqual(run("info map=0 len=0 out=NULL", answer(0, count: 0)), [])
    }

    /// The same calls on the kernel: every answer as the model says, and the exact errnos.
    func testOnTheKernel() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: creates BPF maps and a private bpffs")
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        try XCTSkipUnless(f.model.facts.privateBPFFS, "this kernel cannot make a private bpffs (fsopen/fsmount)")
        let p = try ProgramText.parse(Self.kernelProgram)
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings, [])
        let errnos = rep.results.map(\.errno)
        XCTAssertEqual(Array(errnos.dropLast()), [0, 0, 0, EEXIST, 0, 0, EPERM, 0, 0, EPERM, 0, 0, EINVAL, 0, 0, 0, 0, 0,
                                                  E2BIG, E2BIG, EFAULT, 0, 0, 0, 0, 0, ENOENT, 0, 0, 0], p.text)
        XCTAssertTrue([0, ENOENT].contains(errnos.last!), "after the unpin: found or gone")
        XCTAssertEqual(rep.results[16].count, 104, "info_len of a 200-byte zero buffer")
    }

    static let kernelProgram = """
    create map=0 type=hash key=4 value=8 max=4
    update map=0 key=#1 value=@v1
    pin map=0 path=0
    pin map=0 path=0
    pin map=0 path=1 flags=PATH_FD
    obj_get map=1 path=0 flags=RDONLY
    update map=1 key=#2 value=@v2
    lookup map=1 key=#1
    obj_get map=2 path=1 flags=WRONLY|PATH_FD
    lookup map=2 key=#1
    update map=2 key=#3 value=@v3
    lookup map=0 key=#3
    obj_get map=3 path=0 flags=RDONLY|WRONLY
    fd_by_id map=3 from=0 flags=RDONLY
    next_id map=0
    info map=0 len=40
    info map=2 len=200
    info map=0 len=104
    info map=0 len=200 tail=1
    info map=0 len=4097
    info map=0 len=8 out=NULL
    close map=0
    close map=1
    close map=2
    close map=3
    fd_by_id map=0 from=0
    unpin path=2
    unpin path=0
    unpin path=1
    close map=0
    fd_by_id map=1 from=0
    """

    /// One lifetime model: a pinned map outlives its fd for alive, fd_by_id and next_id alike;
    /// after the unpin either answer (bpffs frees the inode after a grace period); an ENOENT
    /// then is final, so a later success is a finding.
    func testOneLifetimeModelForPinsAliveAndIds() {
        let (_, run) = setUpModel()
        XCTAssertEqual(run("close map=0", answer(0)), [])
        XCTAssertEqual(run("alive map=0", answer(ENOENT)), ["alive:errno"], "the pin holds it")
        XCTAssertEqual(run("alive map=0", answer(0)), [])
        XCTAssertEqual(run("next_id map=0", answer(0, values: Layout.intBytes(UInt64(Self.id), 4))), [])
        XCTAssertEqual(run("unpin path=0", answer(0)), [])
        XCTAssertEqual(run("alive map=0", answer(0)), [], "a deferred put may still hold it")
        XCTAssertEqual(run("alive map=0", answer(ENOENT)), [])
        XCTAssertEqual(run("alive map=0", answer(0)), ["alive:errno"], "gone for good after an ENOENT")
        XCTAssertEqual(run("fd_by_id map=1 from=0", answer(0, count: Self.id)), ["fd_by_id:errno"])
    }
}
