// The C reproducer of the identity calls: its own private bpffs, the same pins, OBJ_GET, GET_FD_BY_ID, GET_NEXT_ID and GET_INFO answers.
import Basics
import BPFKit
import Foundation
@testable import Fuzz
import Glibc
import XCTest

extension CReproducerTests {
    /// A fuzzer on the kernel, pinned to CPU 0, or a skip naming what is missing (root, gcc).
    func kernelFuzzerWithGCC() throws -> Fuzzer {
        try XCTSkipUnless(Probes.isRoot(), "needs root: the reproducer and the fuzzer create BPF maps")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc"), "needs gcc to compile the reproducer")
        pinCurrentThread(cpu: 0)
        return Fuzzer(runtime: KernelRuntime(), seed: 1)
    }

    /// IdentityOracleTests' kernel program with a planted disagreement at `info map=2 len=200`:
    /// the C program gives every call the answer the executor got, and reproduces the finding.
    func testIdentityCallsReproduceInC() throws {
        let f = try kernelFuzzerWithGCC()
        try XCTSkipUnless(f.model.facts.privateBPFFS, "this kernel cannot make a private bpffs (fsopen/fsmount)")
        f.model.plantedFault = { i, c, _ in i == 16 && c.op == .info ? "planted" : nil }
        let p = try ProgramText.parse(IdentityOracleTests.kernelProgram)
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings.map(\.signature), ["info:planted"])
        let (status, out) = try compileAndRun(CReproducer.source(p, results: rep.results, finding: rep.findings.first, cpus: f.model.cpus), "ident")
        XCTAssertEqual(status, 1, out)
        let answers = out.split(separator: "\n").filter { $0.contains(" -> ") }.map { String($0.components(separatedBy: " -> ")[1]) }
        XCTAssertEqual(answers.count, p.calls.count, out)
        for (i, (a, r)) in zip(answers, rep.results).enumerated().dropLast() where p.calls[i].op != .create {
            let fdOpen = (p.calls[i].op == .objGet || p.calls[i].op == .fdByID) && r.errno == 0
            XCTAssertEqual(fdOpen ? a.hasPrefix("ok (") : a == (r.errno == 0 ? "ok (0)" : ErrnoName.name(r.errno)), true, "call \(i + 1): \(p.calls[i]) C says \(a)\n\(out)")
        }
        XCTAssertTrue(out.contains("info_len 104"), out)
    }
}
