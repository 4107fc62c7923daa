// The model follows the probed kernel facts: each fact's other value accepts the other kernel and rejects the wrong answer.
import Basics
import BPFKit
import Foundation
@testable import Fuzz
import Glibc
import XCTest

final class KernelFactsTests: XCTestCase {
    /// Debian 6.1: freezing a frozen map is EBUSY, and a read-only fd may freeze.
    let linux6_1 = KernelFacts(refreezeErrno: EBUSY, readOnlyFreezeErrno: 0)

    /// The freeze calls' findings when `model` sees `answers` (create, freeze, freeze) on a map created with `flags`.
    func findings(_ facts: KernelFacts, flags: UInt32, answers: [Int32]) -> [String] {
        let m = ShadowModel(cpus: 2, facts: facts)
        var create = Call(.create); create.type = .array; create.maxEntries = 1; create.mapFlags = flags
        let shape = MapShape(type: .array, keySize: 4, valueSize: 8, maxEntries: 1, flags: flags & ~BPFMapFlags.rdonly, cpus: 2)
        var out = m.check(0, create, CallResult(), shape: shape).map(\.signature)
        for (i, e) in answers.enumerated() {
            var r = CallResult(); r.errno = e
            out += m.check(i + 1, Call(.freeze), r, shape: shape).map { "\($0.call):\($0.signature)" }
        }
        return out
    }

    func testRefreezeFollowsTheFact() {
        XCTAssertEqual(findings(linux6_1, flags: 0, answers: [0, EBUSY]), [], "6.1's answer under 6.1's fact")
        XCTAssertEqual(findings(.linux6_18, flags: 0, answers: [0, EPERM]), [], "6.18's answer under 6.18's fact")
        XCTAssertEqual(findings(linux6_1, flags: 0, answers: [0, EPERM]), ["2:freeze:errno"])
        XCTAssertEqual(findings(.linux6_18, flags: 0, answers: [0, EBUSY]), ["2:freeze:errno"])
    }

    func testReadOnlyFreezeFollowsTheFact() {
        // 6.1 freezes a read-only map; a second freeze is then the refreeze fact.
        XCTAssertEqual(findings(linux6_1, flags: BPFMapFlags.rdonly, answers: [0, EBUSY]), [])
        XCTAssertEqual(findings(.linux6_18, flags: BPFMapFlags.rdonly, answers: [EPERM, EPERM]), [])
        XCTAssertEqual(findings(.linux6_18, flags: BPFMapFlags.rdonly, answers: [0]), ["1:freeze:errno"])
        XCTAssertEqual(findings(linux6_1, flags: BPFMapFlags.rdonly, answers: [EPERM]), ["1:freeze:errno"])
    }

    func testFactsAreReportedAsData() {
        XCTAssertEqual(linux6_1.summary, "fact.freeze_frozen_map=EBUSY fact.freeze_readonly_fd=success fact.attr_size=168 " +
                       "fact.lru_free_target=clamped fact.map_info_size=104 fact.private_bpffs=fsmount " +
                       "fact.btf_lock=success fact.btf_timer=success fact.btf_kptr=success " +
                       "fact.btf_freeze_lock=ENOTSUPP fact.btf_freeze_timer=ENOTSUPP fact.btf_freeze_kptr=ENOTSUPP " +
                       "fact.btf_owned_lock=yes fact.btf_owned_timer=yes fact.btf_owned_kptr=yes " +
                       "fact.btf_wrong_type_lock=EOPNOTSUPP fact.btf_wrong_type_timer=EOPNOTSUPP " +
                       "fact.btf_wronly_prog_lock=EACCES fact.btf_wronly_prog_timer=EACCES fact.btf_wronly_prog_kptr=EACCES " +
                       "fact.btf_inner_lock=success fact.btf_inner_timer=success fact.btf_inner_kptr=success " +
                       "fact.path_fd=yes fact.sockmap_udp_unbound=EOPNOTSUPP fact.prog_array_attach_type=EINVAL " +
                       "fact.percpu_btf_padding=written " +
                       "fact.storage_max_value=65407 fact.cgroup_storage_max_value=65407 fact.type_sk_storage=success " +
                       "fact.type_inode_storage=success fact.type_task_storage=success fact.type_cgrp_storage=success " +
                       "fact.type_cgroup_storage=success fact.type_percpu_cgroup_storage=success " +
                       "fact.arena=success fact.cpumap_max_entries=256 fact.stack_lookup_and_delete=ENOENT fact.perf_max_stack=127")
    }

    /// The 6.1 BTF facts, each against the 6.18 model: a kptr the kernel does not own is data
    /// (its bytes read back), a lock on a per-CPU hash is ENOTSUPP, WRONLY_PROG with a lock is
    /// taken, and BPF_F_PATH_FD is EINVAL. Each model rejects the other kernel's answer.
    func testBTFAndPathFDFactsOf6_1() {
        var old = KernelFacts.linux6_18
        old.btfOwned[BTFValue.kptr] = false
        old.btfWrongTypeErrno[BTFValue.lock] = ENOTSUPP
        old.btfWronlyProgErrno[BTFValue.lock] = 0
        old.pathFD = false
        func run(_ facts: KernelFacts, _ text: [String], _ answers: [CallResult]) -> [String] {
            let m = ShadowModel(cpus: 2, facts: facts)
            var out: [String] = []
            for (i, t) in text.enumerated() {
                let c = try! ProgramText.parseCall(t)
                let shape = c.op == .create ? MapShape(type: c.type, keySize: Int(c.keySize), valueSize: Int(c.valueSize),
                                                       maxEntries: Int(c.maxEntries), flags: c.mapFlags, cpus: 2, id: 5, btf: c.btf) : nil
                out += m.check(i, c, answers[i], shape: shape).map { "\(i):\($0.signature)" }
            }
            return out
        }
        func ok(_ out: [UInt8] = []) -> CallResult { var r = CallResult(); r.out = out; return r }
        func err(_ e: Int32) -> CallResult { var r = CallResult(); r.errno = e; return r }
        let kptr = ["create map=0 type=hash key=4 value=16 max=4 btf=kptr", "update map=0 key=#1 value=@v1", "lookup map=0 key=#1"]
        var zeroed = Layout.pattern(1, 16); zeroed.replaceSubrange(0..<8, with: [UInt8](repeating: 0, count: 8))
        XCTAssertEqual(run(.linux6_18, kptr, [ok(), ok(), ok(zeroed)]), [])
        XCTAssertEqual(run(old, kptr, [ok(), ok(), ok(Layout.pattern(1, 16))]), [])
        XCTAssertEqual(run(.linux6_18, kptr, [ok(), ok(), ok(Layout.pattern(1, 16))]), ["2:lookup:value"])
        XCTAssertEqual(run(old, kptr, [ok(), ok(), ok(zeroed)]), ["2:lookup:value"])
        let lockPercpu = ["create map=0 type=percpu_hash key=4 value=16 max=4 btf=lock"]
        XCTAssertEqual(run(old, lockPercpu, [err(ENOTSUPP)]), [])
        XCTAssertEqual(run(.linux6_18, lockPercpu, [err(ENOTSUPP)]), ["0:create:errno"])
        let wronly = ["create map=0 type=hash key=4 value=16 max=4 flags=WRONLY_PROG btf=lock"]
        XCTAssertEqual(run(old, wronly, [ok()]), [])
        XCTAssertEqual(run(.linux6_18, wronly, [ok()]), ["0:create:errno"])
        let pin = ["create map=0 type=hash key=4 value=8 max=4", "pin map=0 path=0 flags=PATH_FD"]
        XCTAssertEqual(run(old, pin, [ok(), err(EINVAL)]), [])
        XCTAssertEqual(run(.linux6_18, pin, [ok(), err(EINVAL)]), ["1:pin:errno"])
    }

    /// GET_INFO's info_len follows the probed sizeof(struct bpf_map_info): a 6.1 kernel (88
    /// bytes) gives back 88 for a 104-byte buffer, where 6.18 gives 104; each model rejects
    /// the other kernel's answer.
    func testInfoSizeFollowsTheFact() {
        var small = KernelFacts.linux6_18
        small.mapInfoSize = 88
        func findings(_ facts: KernelFacts, infoLen: UInt32) -> [String] {
            let m = ShadowModel(cpus: 2, facts: facts)
            let shape = MapShape(type: .array, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0, cpus: 2)
            var create = Call(.create); create.type = .array; create.maxEntries = 1
            var ok = CallResult(); ok.count = 9
            _ = m.check(0, create, ok, shape: shape)
            var info = Call(.info); info.count = 104
            var r = CallResult(); r.count = infoLen
            r.valuesOut = m.expectedInfo(m.identity.last[0]!) + [UInt8](repeating: 0, count: 104 - facts.mapInfoSize)
            return m.check(1, info, r, shape: shape).map(\.signature)
        }
        XCTAssertEqual(findings(.linux6_18, infoLen: 104), [])
        XCTAssertEqual(findings(small, infoLen: 88), [])
        XCTAssertEqual(findings(.linux6_18, infoLen: 88), ["info:info"])
        XCTAssertEqual(findings(small, infoLen: 104), ["info:info"])
    }

    /// A freeze attr of 164 bytes with a non-zero last byte: EINVAL on a kernel whose union
    /// bpf_attr has 168 bytes, E2BIG on one with 160; each model rejects the other answer.
    func testAttrSizeFollowsTheFact() {
        func findings(_ size: Int, _ got: Int32) -> [String] {
            let m = ShadowModel(cpus: 2, facts: KernelFacts(refreezeErrno: EPERM, readOnlyFreezeErrno: EPERM, attrSize: size))
            var f = Call(.freeze); f.attrSize = 164
            var r = CallResult(); r.errno = got
            return m.check(0, f, r, shape: nil).map(\.signature)
        }
        XCTAssertEqual(findings(168, EINVAL), [])
        XCTAssertEqual(findings(160, E2BIG), [])
        XCTAssertEqual(findings(168, E2BIG), ["freeze:errno"])
        XCTAssertEqual(findings(160, EINVAL), ["freeze:errno"])
    }

    /// The probe on this kernel: every fact probed, each one of the known answers, and the
    /// fuzzer's model uses what was probed.
    func testProbeOnTheRunningKernel() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: the probe creates BPF maps with bpf(2)")
        let (facts, unprobed) = KernelFacts.probe(runtime: KernelRuntime())
        XCTAssertEqual(unprobed, [])
        XCTAssertTrue([EPERM, EBUSY].contains(facts.refreezeErrno), facts.summary)
        XCTAssertTrue([EPERM, 0].contains(facts.readOnlyFreezeErrno), facts.summary)
        XCTAssertTrue((120...Int(sysconf(Int32(_SC_PAGESIZE)))).contains(facts.attrSize), facts.summary)
        XCTAssertEqual(Fuzzer(runtime: KernelRuntime(), seed: 1).model.facts, facts)
    }
}

/// The fault-injection probe names what is missing, and what it found where it is present.
final class FaultInjectionProbeTests: XCTestCase {
    func testAbsentInjectorsAreNamedInTheSkipReason() {
        let p = FaultInjection.probe(debugfs: "/nonexistent-debugfs", task: "/nonexistent-task")
        XCTAssertEqual(p.debugfsEntries, [])
        XCTAssertFalse(p.failNth)
        XCTAssertEqual(p.skipReason, "this kernel has no fault injection: no /nonexistent-task/fail-nth (CONFIG_FAULT_INJECTION) and no /nonexistent-debugfs/fail* (debugfs is not mounted at /nonexistent-debugfs)")
    }

    /// A fake debugfs and task dir: failslab with its ignore-gfp-wait knob, and fail-nth.
    func fakeInjectors(ignoreGfpWait: String) throws -> String {
        let dir = NSTemporaryDirectory() + "bpfstress-fi-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/debug/failslab", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/task", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/task/fail-nth", contents: Data())
        FileManager.default.createFile(atPath: dir + "/debug/failslab/ignore-gfp-wait", contents: Data((ignoreGfpWait + "\n").utf8))
        FileManager.default.createFile(atPath: dir + "/debug/failslab/verbose", contents: Data("2\n".utf8))
        return dir
    }

    /// failslab's default exempts sleeping allocations: outside a guest that is the skip reason,
    /// and the knob is left as the machine's owner set it.
    func testExemptSleepingAllocationsAreTheSkipReasonOnAHost() throws {
        let dir = try fakeInjectors(ignoreGfpWait: "Y")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = FaultInjection.probe(debugfs: dir + "/debug", task: dir + "/task", setKnobs: false)
        XCTAssertEqual(p.debugfsEntries, ["failslab"])
        XCTAssertTrue(p.failNth)
        XCTAssertFalse(p.ready)
        XCTAssertEqual(p.skipReason, "\(dir)/debug/failslab/ignore-gfp-wait is Y: the injector exempts sleeping allocations, nearly all that bpf(2) makes; bpfstress sets it to N only inside its own guests")
        XCTAssertEqual(try String(contentsOfFile: dir + "/debug/failslab/ignore-gfp-wait", encoding: .utf8), "Y\n")
    }

    /// Inside a guest the probe sets the knobs (and says which), then the check can run.
    func testGuestProbeSetsTheKnobs() throws {
        let dir = try fakeInjectors(ignoreGfpWait: "Y")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = FaultInjection.probe(debugfs: dir + "/debug", task: dir + "/task", setKnobs: true)
        XCTAssertTrue(p.ready)
        XCTAssertNil(p.skipReason)
        XCTAssertEqual(p.changed, ["failslab/ignore-gfp-wait=N", "failslab/verbose=1"])
        XCTAssertEqual(try String(contentsOfFile: dir + "/debug/failslab/ignore-gfp-wait", encoding: .utf8).prefix(1), "N")
    }

    func testMissingFailNthOrKnobIsNamed() throws {
        let dir = try fakeInjectors(ignoreGfpWait: "N")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.removeItem(atPath: dir + "/debug/failslab/ignore-gfp-wait")
        XCTAssertEqual(FaultInjection.probe(debugfs: dir + "/debug", task: dir + "/task", setKnobs: false).skipReason,
                       "cannot read \(dir)/debug/failslab/ignore-gfp-wait")
        try FileManager.default.removeItem(atPath: dir + "/task/fail-nth")
        XCTAssertEqual(FaultInjection.probe(debugfs: dir + "/debug", task: dir + "/task", setKnobs: false).skipReason,
                       "no \(dir)/task/fail-nth (CONFIG_FAULT_INJECTION without per-task fail-nth)")
    }
}

/// The LRU free-target fact (6.1 evicts small LRU maps early).
extension KernelFactsTests {
    /// A 4-entry common-LRU hash on 2 CPUs holding keys 1-3, then a lookup of key 1 that finds
    /// nothing: under the 6.16+ rule (room for 4 before evicting) that is a lost entry; under the
    /// fixed-128 fact (6.1) any update may have evicted it.
    func lruFindings(_ facts: KernelFacts) -> [String] {
        let m = ShadowModel(cpus: 2, facts: facts)
        let shape = MapShape(type: .lruHash, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0, cpus: 2)
        var create = Call(.create); create.type = .lruHash; create.maxEntries = 4
        var out = m.check(0, create, CallResult(), shape: shape).map(\.signature)
        for k in 1...3 {
            var up = Call(.update); up.key = .int(UInt64(k)); up.value = .pattern(UInt32(k), len: nil)
            out += m.check(k, up, CallResult(), shape: shape).map(\.signature)
        }
        var look = Call(.lookup); look.key = .int(1)
        var gone = CallResult(); gone.errno = ENOENT
        return out + m.check(4, look, gone, shape: shape).map(\.signature)
    }

    func testLRUEvictionFollowsTheFreeTargetFact() {
        var old = KernelFacts.linux6_18
        old.lruFixedFreeTarget = true
        XCTAssertEqual(lruFindings(old), [], "6.1's early eviction under 6.1's fact")
        XCTAssertEqual(lruFindings(.linux6_18), ["lookup:errno"], "an eviction the 6.16+ rule does not allow")
    }

    /// The probe runs on this kernel and gives the same answer each time it runs (uncached), so a
    /// fact does not flip between the workers of one campaign.
    func testLRUProbeRunsOnThisKernelAndIsStable() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: the probe creates a BPF map")
        let answers = (0..<3).map { _ in KernelFacts.lruEvictsEarlyPinned(KernelRuntime().entry.raw) }
        XCTAssertNotNil(answers[0])
        XCTAssertEqual(Set(answers.map { "\($0 as Any)" }).count, 1, "\(answers)")
    }
}
