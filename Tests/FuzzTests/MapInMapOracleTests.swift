// The map-in-map oracle on tampered answers (template, ids, lifetimes), a planted leak caught by the sweep, and generated map-in-map programs against the kernel.
import BPFKit
import CBPFStress
@testable import Fuzz
import Glibc
import XCTest

final class MapInMapOracleTests: XCTestCase {
    let template = MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0, cpus: 2, id: 100)
    let outer = MapShape(type: .arrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 4, flags: 0, cpus: 2, id: 101)
    let fits = MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 8, flags: 0, cpus: 2, id: 102)
    let misfit = MapShape(type: .hash, keySize: 4, valueSize: 4, maxEntries: 4, flags: 0, cpus: 2, id: 103)

    func create(_ slot: Int, _ s: MapShape, inner: Int = -1) -> Call {
        var c = Call(.create, map: slot)
        c.type = s.type; c.keySize = UInt32(s.keySize); c.valueSize = UInt32(s.valueSize); c.maxEntries = UInt32(s.maxEntries)
        c.inner = inner
        return c
    }

    /// Slot 0: the template, slot 1: an array of maps made from it, slot 2: a map that fits,
    /// slot 3: one whose value size differs. Returns the runner of (call, answer) pairs.
    func setUpModel() -> (Call, CallResult) -> [String] {
        let m = ShadowModel(cpus: 2)
        var i = 0
        let shapes = [template, outer, fits, misfit]
        let run: (Call, CallResult) -> [String] = { c, r in
            i += 1
            return m.check(i, c, r, shape: c.op == .create ? shapes[c.map] : nil).map(\.signature)
        }
        XCTAssertEqual(run(create(0, template), CallResult()), [])
        XCTAssertEqual(run(create(1, outer, inner: 0), CallResult()), [])
        XCTAssertEqual(run(create(2, fits), CallResult()), [])
        XCTAssertEqual(run(create(3, misfit), CallResult()), [])
        return run
    }

    func put(_ key: UInt64, inner: Int) -> Call { var c = Call(.putInner, map: 1); c.key = .int(key); c.inner = inner; return c }
    func answer(_ e: Int32) -> CallResult { var r = CallResult(); r.errno = e; return r }
    func lookupAnswer(id: UInt32) -> CallResult { var r = CallResult(); r.out = Layout.intBytes(UInt64(id), 4); return r }

    /// An inner map whose value size differs from the template's is EINVAL; one whose
    /// max_entries differs fits (a hash template does not compare max_entries).
    func testInnerMapsAreCheckedAgainstTheTemplate() {
        let run = setUpModel()
        XCTAssertEqual(run(put(0, inner: 3), CallResult()), ["put_inner:errno"], "accepting a misfit must be a finding")
        XCTAssertEqual(run(put(0, inner: 3), answer(EINVAL)), [])
        XCTAssertEqual(run(put(0, inner: 2), answer(EINVAL)), ["put_inner:errno"], "refusing a fitting map must be a finding")
        XCTAssertEqual(run(put(0, inner: 2), CallResult()), [])
        XCTAssertEqual(run(put(0, inner: 1), CallResult()), ["put_inner:errno"], "an outer map is never an inner map")
    }

    /// An array template compares max_entries, unless it was made with BPF_F_INNER_MAP.
    func testArrayTemplateComparesMaxEntriesWithoutInnerMapFlag() {
        let t = MapShape(type: .array, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0, cpus: 2)
        var bigger = t; bigger.maxEntries = 8
        XCTAssertNotNil(ShadowModel.metaMismatch(t, bigger))
        var flexible = t; flexible.flags = BPFMapFlags.innerMap
        var biggerFlexible = bigger; biggerFlexible.flags = BPFMapFlags.innerMap
        XCTAssertNil(ShadowModel.metaMismatch(flexible, biggerFlexible))
    }

    /// A lookup returns the inner map's id: another id is a finding; so is an entry that
    /// should be empty after a delete.
    func testLookupReturnsTheInnerMapsId() {
        let run = setUpModel()
        XCTAssertEqual(run(put(1, inner: 2), CallResult()), [])
        var look = Call(.lookup, map: 1); look.key = .int(1)
        XCTAssertEqual(run(look, lookupAnswer(id: 100)), ["lookup:value"])
        XCTAssertEqual(run(look, lookupAnswer(id: 102)), [])
        var del = Call(.delete, map: 1); del.key = .int(1)
        XCTAssertEqual(run(del, CallResult()), [])
        XCTAssertEqual(run(look, lookupAnswer(id: 102)), ["lookup:errno"], "the entry was deleted")
    }

    /// alive: a held inner map must stay alive after its fd closes (an ENOENT there is a
    /// premature free); after the array of maps lets go of it, it must be gone at once.
    func testInnerMapLifetimeAcrossCloseDeleteAndOverwrite() {
        let run = setUpModel()
        XCTAssertEqual(run(put(0, inner: 2), CallResult()), [])
        XCTAssertEqual(run(Call(.close, map: 2), CallResult()), [])
        XCTAssertEqual(run(Call(.alive, map: 2), answer(ENOENT)), ["alive:errno"], "freed while the outer map holds it")
        XCTAssertEqual(run(Call(.alive, map: 2), CallResult()), [])
        // Overwrite index 0 with slot 0's map: slot 2's map loses its last reference.
        XCTAssertEqual(run(put(0, inner: 0), CallResult()), [])
        XCTAssertEqual(run(Call(.alive, map: 2), CallResult()), ["alive:errno"], "still alive after its last reference went")
        XCTAssertEqual(run(Call(.alive, map: 2), answer(ENOENT)), [])
        // Closing the outer map defers the put of its inner maps: either answer, for now.
        XCTAssertEqual(run(Call(.close, map: 0), CallResult()), [])
        XCTAssertEqual(run(Call(.alive, map: 0), CallResult()), [])
        XCTAssertEqual(run(Call(.close, map: 1), CallResult()), [])
        XCTAssertEqual(run(Call(.alive, map: 0), CallResult()), [])
        XCTAssertEqual(run(Call(.alive, map: 0), answer(ENOENT)), [])
    }

    /// fd_by_id and next_id ask the same lifetime model as alive: an inner map whose fd closed
    /// is still held by the open outer map, so ENOENT (or another next id) is a finding.
    func testIdsSeeOuterMapReferences() {
        let run = setUpModel()
        XCTAssertEqual(run(put(0, inner: 2), CallResult()), [])
        XCTAssertEqual(run(Call(.close, map: 2), CallResult()), [])
        var byID = try! ProgramText.parseCall("fd_by_id map=3 from=2")
        XCTAssertEqual(run(byID, answer(ENOENT)), ["fd_by_id:errno"], "the outer map holds it")
        var found = CallResult(); found.count = 102
        XCTAssertEqual(run(byID, found), [])
        byID = try! ProgramText.parseCall("close map=3")
        XCTAssertEqual(run(byID, CallResult()), [])
        var next = CallResult(); next.valuesOut = Layout.intBytes(103, 4)
        XCTAssertEqual(run(try! ProgramText.parseCall("next_id map=2"), next), ["next_id:identity"], "the live map's id is 102")
        next.valuesOut = Layout.intBytes(102, 4)
        XCTAssertEqual(run(try! ProgramText.parseCall("next_id map=2"), next), [])
    }

    /// The fds a planted leak holds (closed at the end of a test).
    final class Leak {
        var fds: [Int32] = []
        var count: Int { fds.filter { $0 >= 0 }.count }
        func close() { for fd in fds where fd >= 0 { Glibc.close(fd) }; fds = [] }
    }

    /// After every put_inner, an fd on slot `slot`'s map by id, kept: a reference the model
    /// does not know of, as a kernel that leaked one would hold.
    func plantLeak(_ f: Fuzzer, slot: Int) -> Leak {
        let leak = Leak()
        var rt = bpfs_kernel_rt()
        f.around = { op, _, body in
            let r = body()
            if op == .putInner { leak.fds.append(bpfs_map_get_fd_by_id(&rt, f.executor.identity.ids[slot], 0)) }
            return r
        }
        return leak
    }

    /// A reference the model does not know of (an fd opened by id and kept, as a leak in the
    /// kernel would keep one): the sweep after the program waits its bound, then reports it.
    func testSweepReportsAnInnerMapThatOutlivesTheProgram() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2)")
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        let p = try ProgramText.parse("""
        create map=0 type=hash key=4 value=8 max=4
        create map=1 type=array_of_maps key=4 value=4 max=4 inner=0
        create map=2 type=hash key=4 value=8 max=4
        put_inner map=1 key=#0 inner=2
        close map=1
        """)
        XCTAssertEqual(f.execute(p).findings, [], "without a leak every map goes")
        let leaked = plantLeak(f, slot: 2)
        defer { leaked.close() }
        let rep = f.execute(p)
        XCTAssertEqual(leaked.count, 1)
        XCTAssertEqual(rep.findings.map(\.signature), ["create:lifetime"])
        XCTAssertEqual(rep.findings.first?.call, 2, "named by the create of the map that outlived the program")
    }

    /// In the fuzz loop the sweep does not wait: a program whose maps are still there is checked
    /// by later steps, and one past its due time runs again with the waiting sweep, so the
    /// finding comes with its own program.
    func testFuzzLoopDefersTheSweepAndRerunsALeakingProgram() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2)")
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        let p = try ProgramText.parse("""
        create map=0 type=hash key=4 value=8 max=4
        create map=1 type=hash_of_maps key=4 value=4 max=4 inner=0
        put_inner map=1 key=#1 inner=0
        """)
        let leaked = plantLeak(f, slot: 0)
        defer { leaked.close() }
        f.deferSweeps = true
        XCTAssertEqual(f.execute(p).findings, [], "the loop does not wait")
        f.deferSweeps = false
        XCTAssertEqual(f.pendingSweeps.count, 1)
        f.pendingSweeps[0] = PendingSweep(program: p, ids: f.pendingSweeps[0].ids, due: 0)
        let (again, rep) = f.step()
        XCTAssertEqual(again, p)
        XCTAssertEqual(rep.findings.map(\.signature), ["create:lifetime"])
        XCTAssertTrue(f.pendingSweeps.isEmpty)
    }

    /// Generated map-in-map programs agree with the kernel, and they reach success.
    func testGeneratedMapInMapProgramsAgree() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2)")
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 3)
        var g = Generator(seed: 42)
        var ok = 0
        for _ in 0..<150 {
            let p = g.mapInMapProgram()
            let rep = f.execute(p, all: true)
            XCTAssertEqual(rep.findings, [], p.text)
            ok += zip(p.calls, rep.results).filter { $0.0.op == .putInner && $0.1.errno == 0 }.count
        }
        XCTAssertGreaterThan(ok, 50, "put_inner rarely succeeded")
    }
}
