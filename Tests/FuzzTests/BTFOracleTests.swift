// The BTF value oracle on tampered answers: kernel-owned bytes read back as zero, F_LOCK only with a lock, no freeze or per-CPU lock; and the blob the kernel loads.
import Basics
import BPFKit
@testable import Fuzz
import Glibc
import XCTest

final class BTFOracleTests: XCTestCase {
    /// A hash map with a BTF value of `fields` and 16 bytes, and a runner of (call, answer) pairs.
    func setUpModel(_ fields: UInt8, type: BPFMapType = .hash) -> (Call, CallResult) -> [String] {
        let m = ShadowModel(cpus: 2)
        let shape = MapShape(type: type, keySize: 4, valueSize: 16, maxEntries: 4, flags: 0, cpus: 2, btf: fields)
        var i = 0
        let run: (Call, CallResult) -> [String] = { c, r in i += 1; return m.check(i, c, r, shape: shape).map(\.signature) }
        var c = Call(.create); c.type = type; c.valueSize = 16; c.maxEntries = 4; c.btf = fields
        XCTAssertEqual(run(c, CallResult()), [])
        return run
    }

    func update(_ flags: UInt64 = 0) -> Call { var u = Call(.update); u.key = .int(1); u.value = .pattern(1, len: nil); u.flags = flags; return u }
    func lookup(_ flags: UInt64 = 0) -> Call { var l = Call(.lookup); l.key = .int(1); l.flags = flags; return l }
    func answer(_ e: Int32) -> CallResult { var r = CallResult(); r.errno = e; return r }
    func value(_ b: [UInt8]) -> CallResult { var r = CallResult(); r.out = b; return r }

    /// The lock word is the kernel's: a lookup that returns the bytes written there is a finding.
    func testLockWordReadsBackAsZero() {
        let run = setUpModel(BTFValue.lock)
        XCTAssertEqual(run(update(), CallResult()), [])
        let written = Layout.pattern(1, 16)
        XCTAssertEqual(run(lookup(), value(written)), ["lookup:value"], "the lock was copied out")
        var masked = written; masked.replaceSubrange(0..<4, with: [0, 0, 0, 0])
        XCTAssertEqual(run(lookup(), value(masked)), [])
        XCTAssertEqual(run(lookup(BPFUpdateFlags.lock), value(masked)), [])
    }

    /// F_LOCK is taken only where the value holds a lock; a timer's bytes are the kernel's too.
    func testFLockNeedsALock() {
        let withLock = setUpModel(BTFValue.lock)
        XCTAssertEqual(withLock(update(BPFUpdateFlags.lock), answer(EINVAL)), ["update:errno"], "F_LOCK refused on a lock map")
        XCTAssertEqual(withLock(update(BPFUpdateFlags.lock), CallResult()), [])
        let timer = setUpModel(BTFValue.timer)
        XCTAssertEqual(timer(update(BPFUpdateFlags.lock), CallResult()), ["update:errno"], "F_LOCK without a lock")
        XCTAssertEqual(timer(update(), CallResult()), [])
        XCTAssertEqual(timer(lookup(), value(Layout.pattern(1, 16))), ["lookup:value"], "the timer was copied out")
        XCTAssertEqual(timer(lookup(), value([UInt8](repeating: 0, count: 16))), [])
    }

    /// A map with value fields cannot be frozen (ENOTSUPP); a plain BTF value can.
    func testFreezeOfAValueWithFieldsIsRefused() {
        XCTAssertEqual(setUpModel(BTFValue.kptr)(Call(.freeze), CallResult()), ["freeze:errno"])
        XCTAssertEqual(setUpModel(BTFValue.kptr)(Call(.freeze), answer(ENOTSUPP)), [])
        XCTAssertEqual(setUpModel(BTFValue.plain)(Call(.freeze), CallResult()), [])
    }

    /// Which BTF fields refuse freeze is a probed fact: a kernel that freezes a lock-only value
    /// (6.1) and one that refuses it (6.18) each reject the other's answer; a timer is refused
    /// on both.
    func testFreezeOfALockFollowsTheFact() {
        var linux6_1 = KernelFacts.linux6_18
        linux6_1.btfFreezeErrno[BTFValue.lock] = 0
        func run(_ facts: KernelFacts, _ fields: UInt8, _ got: Int32) -> [String] {
            let m = ShadowModel(cpus: 2, facts: facts)
            let shape = MapShape(type: .hash, keySize: 4, valueSize: 32, maxEntries: 4, flags: 0, cpus: 2, btf: fields)
            var c = Call(.create); c.valueSize = 32; c.maxEntries = 4; c.btf = fields
            XCTAssertEqual(m.check(0, c, CallResult(), shape: shape).map(\.signature), [])
            return m.check(1, Call(.freeze), answer(got), shape: shape).map(\.signature)
        }
        XCTAssertEqual(run(.linux6_18, BTFValue.lock, ENOTSUPP), [])
        XCTAssertEqual(run(.linux6_18, BTFValue.lock, 0), ["freeze:errno"])
        XCTAssertEqual(run(linux6_1, BTFValue.lock, 0), [])
        XCTAssertEqual(run(linux6_1, BTFValue.lock, ENOTSUPP), ["freeze:errno"])
        XCTAssertEqual(run(linux6_1, BTFValue.lock | BTFValue.timer, 0), ["freeze:errno"], "the timer still refuses it")
        XCTAssertEqual(run(linux6_1, BTFValue.lock | BTFValue.timer, ENOTSUPP), [])
    }

    /// Whether an outer map takes a template whose value holds a lock is a probed fact (6.1:
    /// ENOTSUPP, bpf_map_meta_alloc; 6.18 takes it): each kernel's answer is a finding under the other's.
    func testOuterMapOfALockTemplateFollowsTheFact() {
        var linux6_1 = KernelFacts.linux6_18
        linux6_1.btfInnerErrno[BTFValue.lock] = ENOTSUPP
        func run(_ facts: KernelFacts, _ got: Int32) -> [String] {
            let m = ShadowModel(cpus: 2, facts: facts)
            let shape = MapShape(type: .hash, keySize: 4, valueSize: 32, maxEntries: 4, flags: 0, cpus: 2, btf: BTFValue.lock)
            var c = Call(.create); c.valueSize = 32; c.maxEntries = 4; c.btf = BTFValue.lock
            XCTAssertEqual(m.check(0, c, CallResult(), shape: shape).map(\.signature), [])
            var o = Call(.create, map: 1); o.type = .arrayOfMaps; o.keySize = 4; o.valueSize = 4; o.maxEntries = 2; o.inner = 0
            let os = MapShape(type: .arrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 2, flags: 0, cpus: 2)
            return m.check(1, o, answer(got), shape: got == 0 ? os : nil).map(\.signature)
        }
        XCTAssertEqual(run(.linux6_18, 0), [])
        XCTAssertEqual(run(.linux6_18, ENOTSUPP), ["create:errno"])
        XCTAssertEqual(run(linux6_1, ENOTSUPP), [])
        XCTAssertEqual(run(linux6_1, 0), ["create:errno"])
    }

    /// GET_INFO of a BTF map: btf_id is the kernel's (any non-zero), the type ids are the blob's.
    func testInfoCarriesTheBlobsTypeIds() {
        let m = ShadowModel(cpus: 2)
        let shape = MapShape(type: .hash, keySize: 4, valueSize: 16, maxEntries: 4, flags: 0, cpus: 2, btf: BTFValue.lock)
        var c = Call(.create); c.valueSize = 16; c.maxEntries = 4; c.btf = BTFValue.lock
        var ok = CallResult(); ok.count = 9
        XCTAssertEqual(m.check(0, c, ok, shape: shape), [])
        let want = m.expectedInfo(m.identity.last[0]!)
        func info(_ bytes: [UInt8]) -> [String] {
            var i = Call(.info); i.count = UInt32(bytes.count)
            var r = CallResult(); r.count = UInt32(bytes.count); r.valuesOut = bytes
            return m.check(1, i, r, shape: shape).map(\.signature)
        }
        var withID = want; withID[64] = 0x2a
        XCTAssertEqual(info(withID), [])
        XCTAssertEqual(info(want), ["info:info"], "btf_id 0 for a BTF map")
        var wrongType = withID; wrongType[72] &+= 1
        XCTAssertEqual(info(wrongType), ["info:info"], "another value type id")
    }

    /// Per-CPU BTF values whose value_size is no multiple of 8 are generated only where the
    /// probed fact says the kernel writes their padding (percpu_btf_padding=written).
    func testGeneratorAvoidsOddPercpuBTFValuesOnlyWhereThePaddingIsStale() {
        for avoid in [true, false] {
            var g = Generator(seed: 7)
            g.avoidPercpuPadding = avoid
            var odd = 0
            for _ in 0..<2000 {
                var c = Call(.create); c.type = .percpuHash
                g.addBTF(&c)
                if c.valueSize % 8 != 0 && c.btf & ~BTFValue.plain != 0 { odd += 1 }
            }
            if avoid { XCTAssertEqual(odd, 0) } else { XCTAssertGreaterThan(odd, 0) }
        }
    }

    /// Which types take which field: a per-CPU hash with a lock is EOPNOTSUPP, with a kptr fine.
    func testCreateRulesPerField() {
        let m = ShadowModel(cpus: 2)
        var c = Call(.create); c.type = .percpuHash; c.valueSize = 16; c.btf = BTFValue.lock
        XCTAssertEqual(m.btfCreateErrors(c), [EOPNOTSUPP])
        c.btf = BTFValue.kptr
        XCTAssertEqual(m.btfCreateErrors(c), [])
        c.valueSize = 4
        XCTAssertEqual(m.btfCreateErrors(c), [EINVAL], "value_size smaller than the struct")
        c.type = .hash; c.valueSize = 16; c.btf = BTFValue.timer; c.mapFlags = BPFMapFlags.rdonlyProg
        XCTAssertEqual(m.btfCreateErrors(c), [EACCES])
    }

    /// The seed program with every field agrees with the kernel, and the lock word comes back 0.
    func testBTFSeedAgreesWithKernel() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test loads BTF and creates BPF maps with bpf(2)")
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        let p = try ProgramText.load(path: FuzzTests.corpusDir + "/btf-values.prog")
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings, [])
        XCTAssertEqual(Array(rep.results[2].out.prefix(4)), [0, 0, 0, 0], "lookup of a lock value")
        XCTAssertEqual(rep.results[0].errno, 0, "hash with a bpf_spin_lock value")
    }
}
