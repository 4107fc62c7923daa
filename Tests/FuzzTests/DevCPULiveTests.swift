// devmap, cpumap, stack_trace and arena on the live kernel: seeds and generated programs agree in a private netns, the netns refusal, and the cpumap kthread oracle on planted faults.
import Basics
import BPFKit
import CBPFStress
import Foundation
@testable import Fuzz
import Glibc
import XCTest

/// Runs `body` with a fuzzer on a thread of its own that entered a private netns (the test
/// thread stays in its namespace). Waits at most 120 s.
func onPrivateNetnsThread(_ body: @escaping (Fuzzer) throws -> Void) throws {
    try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2) and a network namespace")
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var failure: Error? = nil
    nonisolated(unsafe) var netns: String? = nil
    let t = Thread {
        defer { done.signal() }
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 5)
        netns = f.enterPrivateNetns()
        guard netns == nil else { return }
        do { try body(f) } catch { failure = error }
    }
    t.start()
    XCTAssertEqual(done.wait(timeout: .now() + 120), .success, "the netns thread did not finish")
    if let why = netns { throw XCTSkip("no private netns: \(why)") }
    if let e = failure { throw e }
}

final class DevCPULiveTests: XCTestCase {
    static var corpusDir: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../corpora/maps").standardized.path
    }

    func seed(_ name: String) throws -> Program { try ProgramText.load(path: Self.corpusDir + "/" + name) }

    /// The seeds of these types agree with the kernel, and devmap updates with ifindex 1 succeed there.
    func testSeedsAgreeInPrivateNetns() throws {
        let before = bpfs_fuzz_netns_current()
        try onPrivateNetnsThread { f in
            XCTAssertNotEqual(bpfs_fuzz_netns_current(), before, "the fuzz thread has a netns of its own")
            for n in ["devmap.prog", "cpumap.prog", "stack-trace.prog", "arena.prog"] {
                let p = try self.seed(n)
                let rep = f.execute(p, all: true)
                XCTAssertEqual(rep.findings, [], n)
                if n == "devmap.prog" {
                    XCTAssertEqual(rep.results[1].errno, 0, "update of ifindex 1 (the netns' lo)")
                    XCTAssertEqual(rep.results[2].out, [1, 0, 0, 0], "the lookup returns the ifindex")
                }
                if n == "cpumap.prog" { XCTAssertEqual(rep.results[2].out, [64, 0, 0, 0], "the lookup returns the qsize") }
            }
        }
        XCTAssertEqual(bpfs_fuzz_netns_current(), before, "the test thread kept its netns")
    }

    /// On a thread outside the private netns the executor makes no devmap update (EOPNOTSUPP), and the model agrees.
    func testNoDevmapUpdateOutsideThePrivateNetns() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2)")
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        let p = try ProgramText.parse("create map=0 type=devmap key=4 value=4 max=4\nupdate map=0 key=#0 value=#1\nlookup map=0 key=#0\n")
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings, [])
        XCTAssertEqual(rep.results.map(\.errno), [0, EOPNOTSUPP, ENOENT])
    }

    /// Generated programs on each of these types agree with the kernel and reach success.
    func testGeneratedProgramsAgree() throws {
        try onPrivateNetnsThread { f in
            for t in Generator.devcpuTypes {
                var g = Generator(seed: 91 ^ UInt64(t.rawValue))
                var ok = 0
                for _ in 0..<40 {
                    var calls = [g.create(slot: 0, type: t)]
                    for _ in 0..<16 { calls.append(g.call(on: calls[0], slot: 0)) }
                    let p = Program(calls)
                    let rep = f.execute(p, all: true)
                    XCTAssertEqual(rep.findings, [], p.text)
                    ok += zip(p.calls.dropFirst(), rep.results.dropFirst()).filter { $0.1.errno == 0 && $0.0.op != .close }.count
                }
                XCTAssertGreaterThan(ok, 10, "\(ProgramText.typeName(t)): calls rarely succeeded")
            }
        }
    }

    let cpumapProgram = "create map=0 type=cpumap key=4 value=4 max=2\nupdate map=0 key=#0 value=#64\nupdate map=0 key=#1 value=#32\n"

    /// A tampered update (the kernel's success made up, no entry made): the entry the model
    /// holds has no kthread, which the check before the reset reports.
    func testEntryWithoutKthreadIsAFinding() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2)")
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        let p = try ProgramText.parse(cpumapProgram)
        XCTAssertEqual(f.execute(p).findings, [], "control: each entry has its kthread")
        var n = 0
        f.around = { op, _, body in
            if op == .update { n += 1; if n == 2 { return CallResult() } }
            return body()
        }
        let rep = f.execute(p)
        XCTAssertEqual(rep.findings.map(\.signature), ["create:kthread"])
        XCTAssertTrue(rep.findings.first?.message.contains("no kthread cpumap/1/map:") == true, "\(rep.findings)")
    }

    /// A reference the model does not know of (the map opened by id and kept): its kthreads
    /// outlive the program, and the sweep reports them after its bound; in the fuzz loop the
    /// wait is deferred and the program runs again.
    func testKthreadOfAClosedMapThatStaysIsAFinding() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2)")
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        let p = try ProgramText.parse(cpumapProgram)
        var kept: [Int32] = []
        defer { kept.forEach { close($0) } }
        var rt = bpfs_kernel_rt()
        var keptID: UInt32 = 0
        f.around = { op, _, body in
            let r = body()
            // One extra reference per run: the map of this execution, opened by its id.
            let id = f.executor.identity.ids[0]
            if op == .update, id != keptID { keptID = id; kept.append(bpfs_map_get_fd_by_id(&rt, id, 0)) }
            return r
        }
        let rep = f.execute(p)
        XCTAssertGreaterThanOrEqual(kept.first ?? -1, 0)
        XCTAssertEqual(Set(rep.findings.map(\.signature)), ["create:kthread"])
        XCTAssertEqual(rep.findings.count, 2, "both entries' kthreads: \(rep.findings)")
        XCTAssertTrue(rep.findings.allSatisfy { $0.message.contains("still runs 2 s after") }, "\(rep.findings)")
        // Deferred: no wait, a pending sweep; past its due time the program runs again.
        f.deferSweeps = true
        XCTAssertEqual(f.execute(p).findings, [])
        f.deferSweeps = false
        XCTAssertEqual(f.cpumapSweeps.pending.count, 1)
        f.cpumapSweeps.pending[0].due = 0
        f.cpumapSweeps.lastPoll = 0
        let (again, late) = f.step()
        XCTAssertEqual(again, p)
        XCTAssertEqual(Set(late.findings.map(\.signature)), ["create:kthread"])
    }
}
