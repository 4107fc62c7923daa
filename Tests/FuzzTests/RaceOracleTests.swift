// The race oracle on tampered answers (a key twice in a batch, bytes nobody wrote, a success after the freeze landed, a census that differs), and races on the kernel.
import BPFKit
@testable import Fuzz
import Glibc
import XCTest

final class RaceOracleTests: XCTestCase {
    let shape = MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, flags: BPFMapFlags.noPrealloc, cpus: 2)
    func k(_ i: UInt64) -> [UInt8] { Layout.intBytes(i, 4) }
    func v(_ s: UInt32) -> [UInt8] { Layout.pattern(s, 8) }

    /// Thread A's sequence for `keys=1,2 vals=@v10 rounds=4`: update 1 @v10, update 2 @v11,
    /// delete 1, update 2 @v13; the map had 1 = @v1 before. Afterwards: only 2 = @v13.
    func check(_ kind: String, a: [Int32] = [0, 0, 0, 0], b: [Int32], entries: [(Int, [UInt8], Int32, [UInt8])],
               census: [([UInt8], [UInt8])]? = nil) -> [String] {
        let m = ShadowModel(cpus: 2)
        var create = Call(.create); create.maxEntries = 16; create.mapFlags = BPFMapFlags.noPrealloc
        XCTAssertEqual(m.check(0, create, CallResult(), shape: shape), [])
        var u = Call(.update); u.key = .int(1); u.value = .pattern(1, len: nil)
        XCTAssertEqual(m.check(1, u, CallResult(), shape: shape), [])
        let c = try! ProgramText.parseCall("race map=0 with=\(kind) rounds=4 keys=1,2 vals=@v10")
        var r = CallResult()
        RaceRecord(aErrno: a, bErrno: b, entries: entries.map { ($0.0, $0.1, $0.2, $0.3) }).encode(into: &r, keySize: 4, valueLen: 8)
        r.walk = (census ?? [(k(2), v(13))]).map { ($0.0, Optional($0.1)) }
        r.walkEnd = ENOENT
        return m.check(2, c, r, shape: shape).map(\.signature)
    }

    func testBatchEntriesHoldUnderAnyInterleaving() {
        XCTAssertEqual(check("batch", b: [ENOENT], entries: [(0, k(1), 0, v(10)), (0, k(2), 0, v(11))]), [])
        XCTAssertEqual(check("batch", b: [0, ENOENT], entries: [(0, k(2), 0, v(11)), (1, k(2), 0, v(13))]), [], "two calls may each see the key")
        XCTAssertEqual(check("batch", b: [ENOENT], entries: [(0, k(2), 0, v(11)), (0, k(2), 0, v(13))]), ["race:race"], "a key twice in one batch call")
        XCTAssertEqual(check("batch", b: [ENOENT], entries: [(0, k(1), 0, [UInt8](repeating: 0xee, count: 8))]), ["race:race"], "bytes nobody wrote")
        XCTAssertEqual(check("batch", b: [ENOENT], entries: [(0, k(9), 0, v(10))]), ["race:race"], "a key nobody wrote")
        XCTAssertEqual(check("batch", b: [EINVAL], entries: []), ["race:race"])
    }

    /// On a value with a bpf_spin_lock the lock word is the kernel's: B sees it as 0, never as
    /// the bytes A wrote there.
    func testRaceOnALockValueComparesMaskedBytes() {
        let lockShape = MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, flags: BPFMapFlags.noPrealloc, cpus: 2, btf: BTFValue.lock)
        func run(_ seen: [UInt8]) -> [String] {
            let m = ShadowModel(cpus: 2)
            var create = Call(.create); create.maxEntries = 16; create.mapFlags = BPFMapFlags.noPrealloc; create.btf = BTFValue.lock
            XCTAssertEqual(m.check(0, create, CallResult(), shape: lockShape), [])
            let c = try! ProgramText.parseCall("race map=0 with=batch rounds=2 keys=1,2 vals=@v10")
            var r = CallResult()
            RaceRecord(aErrno: [0, 0], bErrno: [ENOENT], entries: [(0, k(1), 0, seen)]).encode(into: &r, keySize: 4, valueLen: 8)
            var masked = v(11); masked.replaceSubrange(0..<4, with: [0, 0, 0, 0])
            var m10 = v(10); m10.replaceSubrange(0..<4, with: [0, 0, 0, 0])
            r.walk = [(k(1), Optional(m10)), (k(2), Optional(masked))]
            r.walkEnd = ENOENT
            return m.check(1, c, r, shape: lockShape).map(\.signature)
        }
        var masked = v(10); masked.replaceSubrange(0..<4, with: [0, 0, 0, 0])
        XCTAssertEqual(run(masked), [])
        XCTAssertEqual(run(v(10)), ["race:race"], "the lock word was copied out")
    }

    func testTheCensusMustMatchThreadAsSequence() {
        XCTAssertEqual(check("walk", b: [ENOENT], entries: [(0, k(1), ENOENT, [UInt8](repeating: 0, count: 8))]), [])
        XCTAssertEqual(check("walk", b: [ENOENT], entries: [], census: [(k(2), v(13)), (k(1), v(10))]), ["race:walk"])
        XCTAssertEqual(check("walk", b: [ENOENT], entries: [], census: [(k(2), v(11))]), ["race:value"])
        XCTAssertEqual(check("walk", a: [0, 0, ENOENT, 0], b: [ENOENT], entries: []), ["race:errno"], "delete of a key A wrote")
    }

    func testFreezeLandsOnceAndForAll() {
        XCTAssertEqual(check("freeze", a: [0, EPERM, EPERM, EPERM], b: [EBUSY, 0], entries: [], census: [(k(1), v(10))]), [])
        XCTAssertEqual(check("freeze", a: [0, EPERM, 0, EPERM], b: [0], entries: [], census: [(k(1), v(10))]), ["race:errno"], "a write after the freeze showed")
        XCTAssertEqual(check("freeze", a: [0, EPERM, EPERM, EPERM], b: [EBUSY], entries: [], census: [(k(1), v(10))]), ["race:errno"], "no freeze landed")
        XCTAssertEqual(check("freeze", b: [0, EBUSY], entries: []), ["race:race"], "freeze retried after it landed")
    }

    func testCloseLandsOnceAndForAll() {
        XCTAssertEqual(check("close", a: [0, EINVAL, EINVAL, EINVAL], b: [0], entries: [], census: [(k(1), v(10))]), [])
        XCTAssertEqual(check("close", a: [0, EINVAL, 0, EINVAL], b: [0], entries: [], census: [(k(1), v(10))]), ["race:race"])
    }

    /// B's batch deletes: what B took is gone, A's last write stays unless B took exactly it.
    func testDeleteBatchFinalState() {
        XCTAssertEqual(check("delbatch", b: [ENOENT], entries: [(0, k(2), 0, v(13))], census: []), [])
        XCTAssertEqual(check("delbatch", b: [ENOENT], entries: [(0, k(2), 0, v(13))]), ["race:walk"], "B took 2 = @v13")
        XCTAssertEqual(check("delbatch", b: [ENOENT], entries: [(0, k(2), 0, v(11))]), [], "B took an earlier value of 2")
        XCTAssertEqual(check("delbatch", a: [0, 0, ENOENT, 0], b: [ENOENT], entries: [(0, k(1), 0, v(10))]), [], "B deleted 1 first")
    }

    /// Races on the kernel: no findings, and over a few runs thread B sees entries, the freeze
    /// and close land mid-sequence.
    func testRacesOnTheKernel() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: creates BPF maps")
        try XCTSkipUnless(Probes.possibleCPUs() >= 2, "a race needs two CPUs")
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        var sawEntries = false, froze = false, closed = false
        // Up to 40 runs until each outcome was seen once: on a loaded machine thread B starts
        // late, and in some runs the close lands after A's last call.
        for _ in 0..<40 where !(sawEntries && froze && closed) {
            let p = try ProgramText.parse(Self.program)
            let rep = f.execute(p, all: true)
            XCTAssertEqual(rep.findings, [], p.text)
            for (c, r) in zip(p.calls, rep.results) where c.op == .race && r.errno == 0 {
                let rec = try XCTUnwrap(RaceRecord(decoding: r))
                XCTAssertEqual(rec.aErrno.count, 64)
                if !rec.entries.isEmpty { sawEntries = true }
                if RaceOps.kind(c) == 3 && rec.bErrno.last == 0 { froze = true }
                if RaceOps.kind(c) == 5 && rec.aErrno.last == EINVAL { closed = true }
            }
            XCTAssertEqual(rep.results.last?.errno, EOPNOTSUPP, "LRU maps are not raced")
        }
        XCTAssertTrue(sawEntries && froze && closed, "entries \(sawEntries) froze \(froze) closed \(closed)")
    }

    static let program = """
    create map=0 type=hash key=4 value=8 max=16 flags=NO_PREALLOC
    update map=0 key=#1 value=@v1
    race map=0 with=batch rounds=64 keys=1,2,3,4
    race map=0 with=walk rounds=64
    race map=0 with=delbatch rounds=64 keys=1,2,3,4,5
    race map=0 with=close rounds=64
    race map=0 with=freeze rounds=64
    create map=1 type=array key=4 value=12 max=4 flags=MMAPABLE
    race map=1 with=mmap rounds=64 keys=0,1,2,3
    create map=2 type=percpu_hash key=4 value=8 max=4
    race map=2 with=delbatch rounds=64 keys=1,2,3,4,5,6
    create map=3 type=lru_hash key=4 value=8 max=4
    race map=3 with=walk rounds=64
    """
}
