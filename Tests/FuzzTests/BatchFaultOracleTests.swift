// The hash batch lookup's EFAULT oracle on tampered kernel answers (pure) and on the real kernel (root).
import BPFKit
@testable import Fuzz
import Glibc
import XCTest

final class BatchFaultOracleTests: XCTestCase {
    let shape = MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, cpus: 2)

    /// A model holding keys 1...n of a 16-entry hash map.
    func model(holding n: Int) -> ShadowModel {
        let m = ShadowModel(cpus: 2)
        var create = Call(.create); create.maxEntries = 16
        XCTAssertEqual(m.check(0, create, CallResult(), shape: shape), [])
        for k in 1...n {
            var up = Call(.update); up.key = .int(UInt64(k)); up.value = .pattern(UInt32(k), len: nil)
            XCTAssertEqual(m.check(k, up, CallResult(), shape: shape), [])
        }
        return m
    }

    /// lookup_batch count=10 with a keys buffer of 3 keys (values fit 10).
    func batch(_ op: CallOp = .lookupBatch) -> Call {
        var c = Call(op); c.count = 10; c.keysBuf = .len(12)
        return c
    }

    /// What the executor reads after an EFAULT: the whole keys buffer, poison where unwritten.
    func fault(keys: [UInt32], count: UInt32 = 0) -> CallResult {
        var r = CallResult(); r.errno = EFAULT; r.count = count
        var kb = keys.flatMap { Layout.intBytes(UInt64($0), 4) }
        kb += [UInt8](repeating: GuardArena.poison, count: 12 - kb.count)
        r.keysOut = kb
        r.token = [UInt8](repeating: GuardArena.poison, count: 4)
        return r
    }

    /// Two entries fit a 3-key buffer: the kernel cannot fault, whatever count says.
    func testEFAULTWhenTheEntriesFitIsAFinding() {
        let m = model(holding: 2)
        XCTAssertEqual(m.check(9, batch(), fault(keys: []), shape: shape).map(\.signature), ["lookup_batch:errno"])
    }

    /// Four entries and room for three: EFAULT is the kernel's right answer.
    func testEFAULTWhenTheEntriesOverflowIsAccepted() {
        let m = model(holding: 4)
        XCTAssertEqual(m.check(9, batch(), fault(keys: [3, 1]), shape: shape), [])
    }

    /// After an EFAULT the kernel writes neither count nor out_batch, and what it copied
    /// before the fault are keys of the map.
    func testWhatAnEFAULTLeavesIsChecked() {
        XCTAssertEqual(model(holding: 4).check(9, batch(), fault(keys: [1], count: 1), shape: shape).map(\.message),
                       ["EFAULT with count 1 written back (the kernel zeroes it first and never writes it after a fault)"])
        var r = fault(keys: [1]); r.token = [0, 0, 0, 0]
        XCTAssertEqual(model(holding: 4).check(9, batch(), r, shape: shape).map(\.signature), ["lookup_batch:batch"])
        XCTAssertEqual(model(holding: 4).check(9, batch(), fault(keys: [9, 1]), shape: shape).map(\.message),
                       ["EFAULT after writing key 09000000, which the map does not hold"])
        XCTAssertEqual(model(holding: 4).check(9, batch(), fault(keys: [2, 2]), shape: shape).map(\.message),
                       ["key 02000000 written twice before the fault"])
        // The last slot written may be a key cut by the fault.
        XCTAssertEqual(model(holding: 4).check(9, batch(), fault(keys: [1, 0x00CC_CC07]), shape: shape), [])
    }

    /// lookup_and_delete_batch: the keys copied before the fault are gone; a later lookup
    /// that still finds one is a finding.
    func testKeysCopiedBeforeADeletingFaultAreGone() {
        let m = model(holding: 4)
        XCTAssertEqual(m.check(9, batch(.lookupAndDeleteBatch), fault(keys: [2]), shape: shape), [])
        var look = Call(.lookup); look.key = .int(2)
        var found = CallResult(); found.out = Layout.pattern(2, 8)
        XCTAssertEqual(m.check(10, look, found, shape: shape).map(\.signature), ["lookup:errno"])
    }

    /// A walk continued from out_batch can return only the entries it has not returned yet.
    func testContinuedWalkCountsOnlyWhatIsLeft() {
        let m = model(holding: 4)
        var first = Call(.lookupBatch); first.count = 2
        var r = CallResult(); r.count = 2
        r.keysOut = Layout.intBytes(1, 4) + Layout.intBytes(2, 4)
        r.valuesOut = Layout.pattern(1, 8) + Layout.pattern(2, 8)
        r.token = Layout.intBytes(3, 4)
        XCTAssertEqual(m.check(9, first, r, shape: shape), [])
        var next = batch(); next.inBatch = .last
        XCTAssertEqual(m.check(10, next, fault(keys: []), shape: shape).map(\.signature), ["lookup_batch:errno"],
                       "two entries left, three fit")
    }

    /// The real kernel: 40 entries, room for 2 keys. EFAULT, count 0, and the model agrees
    /// with everything after it (a walk of what the delete left).
    func testKernelFaultsAsModelled() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2)")
        pinCurrentThread(cpu: 0)
        let p = try ProgramText.parse("""
        create map=0 type=hash key=4 value=8 max=64
        update_batch map=0 count=40
        lookup_batch map=0 count=64 kbuf=len:8
        lookup_and_delete_batch map=0 count=64 kbuf=len:8
        walk map=0
        lookup_batch map=0 count=3 kbuf=len:12
        """)
        let rep = Fuzzer(runtime: KernelRuntime(), seed: 1).execute(p, all: true)
        XCTAssertEqual(rep.findings, [])
        XCTAssertEqual(rep.results[2].errno, EFAULT)
        XCTAssertEqual(rep.results[2].count, 0)
        XCTAssertEqual(rep.results[3].errno, EFAULT)
    }
}
