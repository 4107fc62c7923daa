// The fail_nth oracle on tampered answers: ENOMEM only at an injected call, nothing changed by it, batches up to their count, fail_nth's own errno; text, executor and C reproducer.
import Basics
import BPFKit
import CBPFStress
@testable import Fuzz
import Glibc
import XCTest

final class FaultNthOracleTests: XCTestCase {
    let hash = MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, cpus: 2)

    /// A model with a hash map in slot 0 holding keys 1 and 2 (values @v1, @v2), fail-nth present.
    func model() -> ShadowModel {
        let m = ShadowModel(cpus: 2)
        m.failNthAvailable = true
        XCTAssertEqual(m.check(0, Call(.create), CallResult(), shape: hash), [])
        for k in [1, 2] as [UInt64] {
            var up = Call(.update); up.key = .int(k); up.value = .pattern(UInt32(k), len: nil)
            XCTAssertEqual(m.check(1, up, CallResult(), shape: hash), [])
        }
        return m
    }

    func arm(_ m: ShadowModel, _ n: UInt32 = 1) {
        var f = Call(.failNth); f.count = n
        XCTAssertEqual(m.check(3, f, CallResult(), shape: hash), [])
    }

    func result(_ errno: Int32, injected: Bool, out: [UInt8] = []) -> CallResult {
        var r = CallResult(); r.errno = errno; r.out = out
        if injected { r.mutableMore.faultInjected = true }
        return r
    }

    func lookup(_ m: ShadowModel, _ k: UInt64, _ r: CallResult) -> [String] {
        var c = Call(.lookup); c.key = .int(k)
        return m.check(5, c, r, shape: hash).map(\.signature)
    }

    /// An injected ENOMEM is accepted, and the update it failed changed nothing: a later lookup
    /// that finds the new value is a finding.
    func testInjectedENOMEMChangesNothing() {
        let m = model()
        arm(m)
        var up = Call(.update); up.key = .int(1); up.value = .pattern(9, len: nil)
        XCTAssertEqual(m.check(4, up, result(ENOMEM, injected: true), shape: hash), [])
        XCTAssertEqual(lookup(m, 1, result(0, injected: false, out: Layout.pattern(1, 8))), [])
        XCTAssertEqual(lookup(m, 1, result(0, injected: false, out: Layout.pattern(9, 8))), ["lookup:value"])
        XCTAssertEqual(m.faultStats, { var s = FaultNth.Stats(); s.armed = 1; s.injected = 1; s.failed = 1; return s }())
    }

    /// ENOMEM where no fault was injected (the site was not reached, or nothing was armed) is
    /// a finding: a delete allocates nothing a memory limit could refuse.
    func testENOMEMWithoutAnInjectedFaultIsAFinding() {
        var d = Call(.delete); d.key = .int(1)
        let m = model()
        XCTAssertEqual(m.check(4, d, result(ENOMEM, injected: false), shape: hash).map(\.signature), ["delete:errno"])
        let armed = model()
        arm(armed)
        XCTAssertEqual(armed.check(4, d, result(ENOMEM, injected: false), shape: hash).map(\.signature), ["delete:errno"])
        let injected = model()
        arm(injected)
        XCTAssertEqual(injected.check(4, d, result(ENOMEM, injected: true), shape: hash), [])
        // Only the armed call: the next delete's ENOMEM is a finding again.
        XCTAssertEqual(injected.check(5, d, result(ENOMEM, injected: false), shape: hash).map(\.signature), ["delete:errno"])
    }

    /// An injected fault the kernel absorbed: the call is judged as if nothing had been armed.
    func testAbsorbedFaultIsJudgedAsUsual() {
        let m = model()
        arm(m)
        var d = Call(.delete); d.key = .int(7)
        XCTAssertEqual(m.check(4, d, result(0, injected: true), shape: hash).map(\.signature), ["delete:errno"], "key 7 is absent: ENOENT is due")
        XCTAssertEqual(m.faultStats.failed, 0)
    }

    /// A delete batch that an injected fault stopped after `count` keys: those are gone for
    /// sure; the rest may still be there, with their old values.
    func testInjectedBatchStopKeepsTheUnprocessedKeys() {
        let m = model()
        arm(m)
        var b = Call(.deleteBatch); b.count = 2; b.keys = [1, 2]
        var r = result(ENOMEM, injected: true); r.count = 1
        XCTAssertEqual(m.check(4, b, r, shape: hash), [])
        XCTAssertEqual(lookup(m, 1, result(0, injected: false, out: Layout.pattern(1, 8))), ["lookup:errno"], "key 1 was deleted")
        XCTAssertEqual(lookup(m, 2, result(0, injected: false, out: Layout.pattern(9, 8))), ["lookup:value"])
        XCTAssertEqual(lookup(m, 2, result(0, injected: false, out: Layout.pattern(2, 8))), [])
    }

    /// fail_nth itself: 0 where the kernel has fail-nth, the open's ENOENT where it does not.
    func testFailNthErrnoFollowsTheProbe() {
        let m = ShadowModel(cpus: 2)
        var f = Call(.failNth); f.count = 2
        XCTAssertEqual(m.check(0, f, result(ENOENT, injected: false), shape: nil), [])
        XCTAssertEqual(m.check(1, f, CallResult(), shape: nil).map(\.signature), ["fail_nth:errno"])
        m.failNthAvailable = true
        XCTAssertEqual(m.check(2, f, result(ENOENT, injected: false), shape: nil).map(\.signature), ["fail_nth:errno"])
    }

    func testTextRoundTripsAndRejectsBadN() throws {
        let p = try ProgramText.parse("create map=0 type=hash key=4 value=8 max=16\nfail_nth n=3\nupdate map=0 key=#1\n")
        XCTAssertEqual(p.calls[1].op, .failNth)
        XCTAssertEqual(p.calls[1].count, 3)
        XCTAssertEqual(p.text, "create map=0 type=hash key=4 value=8 max=16\nfail_nth n=3\nupdate map=0 key=#1\n")
        XCTAssertThrowsError(try ProgramText.parse("fail_nth\n")) { XCTAssertEqual("\($0)", "<program>:1: fail_nth needs n=N (the fault site to fail, 1...10000)") }
        XCTAssertThrowsError(try ProgramText.parse("fail_nth n=0\n")) { XCTAssertEqual("\($0)", "<program>:1: n=0: the fault site to fail must be 1...10000") }
        XCTAssertThrowsError(try ProgramText.parse("fail_nth n=2 map=1 x=1\n")) { XCTAssertEqual("\($0)", "<program>:1: fail_nth has no argument 'x' (expected: n)") }
    }

    /// The generator arms only calls the model can follow, right before them.
    func testGeneratorArmsOnlyArmableCalls() {
        var g = Generator(seed: 7)
        g.faultInjection = true
        var armed = 0
        for _ in 0..<400 {
            let calls = g.program().calls
            for (i, c) in calls.enumerated() where c.op == .failNth {
                armed += 1
                XCTAssertLessThan(i + 1, calls.count)
                if i + 1 < calls.count { XCTAssertTrue(FaultNth.armable.contains(calls[i + 1].op), "\(calls[i + 1].op) armed") }
            }
        }
        XCTAssertGreaterThan(armed, 0)
        var plain = Generator(seed: 7)
        XCTAssertFalse((0..<400).contains { _ in plain.program().calls.contains { $0.op == .failNth } }, "no fail_nth where the kernel cannot inject")
    }
}

/// fail_nth against the live kernel and in the C reproducer.
final class FaultNthLiveTests: XCTestCase {
    /// The executor's fail_nth and the model agree on this kernel (ENOENT without fail-nth; with
    /// it, a create armed at its first fault site either fails with ENOMEM or absorbs it).
    func testLiveFailNthAgreesWithTheModel() throws {
        guard Probes.isRoot() else { throw XCTSkip("needs root (CAP_BPF)") }
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        let p = try ProgramText.parse("fail_nth n=1\ncreate map=0 type=hash key=4 value=8 max=16 flags=NO_PREALLOC\nupdate map=0 key=#1\nlookup map=0 key=#1\n")
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings, [])
        XCTAssertEqual(rep.results[0].errno, f.faultInjection.failNth ? 0 : ENOENT)
        XCTAssertEqual(f.model.faultStats.armed, f.faultInjection.failNth ? 1 : 0)
        // The fault never outlives its call: fail-nth reads 0 afterwards (where it exists).
        if f.faultInjection.failNth {
            XCTAssertEqual(try String(contentsOfFile: "/proc/thread-self/fail-nth", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), "0")
        }
    }

    /// The shim writes n at this thread's next bpf() and not before (a file stands in for
    /// fail-nth); a cancel before it writes nothing, and another thread's bpf() arms nothing.
    func testFaultIsArmedAtTheNextBPFCallOnly() throws {
        let path = NSTemporaryDirectory() + "bpfs-fail-nth-\(getpid())"
        defer { unlink(path) }
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        func text() -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "?" }
        var attr = [UInt8](repeating: 0, count: 8)
        bpfs_fault_arm_next(fd, 1234)
        XCTAssertEqual(text(), "", "nothing written before a bpf()")
        let other = Thread { var a = [UInt8](repeating: 0, count: 8); _ = bpfs_kernel_sys(nil, 9999, &a, 8) }
        other.start()
        let until = Date().addingTimeInterval(10)
        while !other.isFinished && Date() < until { usleep(1000) }
        XCTAssertTrue(other.isFinished)
        XCTAssertEqual(text(), "", "another thread's bpf() arms nothing")
        XCTAssertEqual(bpfs_kernel_sys(nil, 9999, &attr, 8), -Int(EINVAL), "an unknown command")
        XCTAssertEqual(text(), "1234")
        XCTAssertEqual(bpfs_fault_cancel(), 0, "already armed")
        bpfs_fault_arm_next(fd, 7)
        XCTAssertEqual(bpfs_fault_cancel(), 1, "still pending")
        _ = bpfs_kernel_sys(nil, 9999, &attr, 8)
        XCTAssertEqual(text(), "1234", "a cancelled arm writes nothing")
    }
}

extension CReproducerTests {
    /// The reproducer arms the same call, reads fail-nth back right after it (and only there),
    /// and runs as the executor did: fail_nth's answer is the executor's, and nothing reproduces
    /// where there was no finding.
    func testFailNthReproducerArmsTheSameCall() throws {
        let f = try kernelFuzzerWithGCC()
        let p = try ProgramText.parse("create map=0 type=hash key=4 value=8 max=16\nfail_nth n=2\nupdate map=0 key=#1\nlookup map=0 key=#1\n")
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings, [])
        let src = CReproducer.source(p, results: rep.results, finding: nil, cpus: f.model.cpus)
        let arm = try XCTUnwrap(src.range(of: "long r = fail_nth_arm(2);"))
        let done = try XCTUnwrap(src.range(of: "        fail_nth_done();\n        report(3, \"update\", r);"))
        XCTAssertLessThan(arm.lowerBound, done.lowerBound)
        XCTAssertEqual(src.components(separatedBy: "fail_nth_done();").count - 1, 1, "only the armed call reads fail-nth back")
        let (status, out) = try compileAndRun(src, "fnth")
        XCTAssertEqual(status, 0, out)
        let want = rep.results[1].errno == 0 ? "ok (0)" : ErrnoName.name(rep.results[1].errno)
        XCTAssertTrue(out.contains("  2  fail_nth                 -> \(want)"), out)
        XCTAssertEqual(out.contains("fault injected: "), f.faultInjection.failNth, out)
    }
}
