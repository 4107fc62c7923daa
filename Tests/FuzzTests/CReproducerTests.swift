// The C reproducer compiles with gcc, issues the program's calls, and exits 1 exactly when the finding's answer recurs.
import BPFKit
import Foundation
@testable import Fuzz
import Glibc
import XCTest

final class CReproducerTests: XCTestCase {
    let program = """
    create map=0 type=hash key=4 value=8 max=4
    update map=0 key=#5 value=@v7
    lookup map=0 key=#5
    lookup map=0 key=#6
    lookup_batch map=0 count=4
    walk map=0
    freeze map=0 size=200
    """

    /// gcc FILE.c, then runs it: (exit status, stdout).
    func compileAndRun(_ source: String, _ name: String) throws -> (Int32, String) {
        let dir = NSTemporaryDirectory() + "bpfstress-crepro-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try source.write(toFile: "\(dir)/\(name).c", atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/gcc")
        cc.arguments = ["-O1", "-Wall", "-Werror", "-o", "\(dir)/\(name)", "\(dir)/\(name).c"]
        let err = Pipe()
        cc.standardError = err
        try cc.run(); cc.waitUntilExit()
        let diag = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(cc.terminationStatus, 0, diag)
        let run = Process()
        run.executableURL = URL(fileURLWithPath: "\(dir)/\(name)")
        let out = Pipe()
        run.standardOutput = out
        try run.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        return (run.terminationStatus, text)
    }

    /// A planted disagreement (the model calls lookup of key 5 returning @v7 wrong): the C
    /// program makes the same calls, gets the same answer, and says so with exit 1. The same
    /// program with another recorded answer at that call exits 0.
    func testPlantedDisagreementReproducesInC() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: the reproducer and the fuzzer create BPF maps with bpf(2)")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc"), "needs gcc to compile the reproducer")
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        f.model.plantedFault = { _, c, r in
            c.op == .lookup && c.key == .int(5) && r.errno == 0 && r.out == Layout.pattern(7, 8) ? "planted" : nil
        }
        let p = try ProgramText.parse(program)
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings.map(\.signature), ["lookup:planted"])
        let c = CReproducer.source(p, results: rep.results, finding: rep.findings.first, cpus: f.model.cpus)
        let (status, out) = try compileAndRun(c, "repro")
        XCTAssertEqual(status, 1, out)
        // One line per call, numbered, with the kernel's answer (the create returns an fd).
        let answers = out.split(separator: "\n").filter { $0.contains(" -> ") }.map { String($0.components(separatedBy: " -> ")[1]) }
        XCTAssertEqual(answers.count, 7, out)
        XCTAssertTrue(answers.first?.hasPrefix("ok (") == true, out)
        XCTAssertEqual(Array(answers.dropFirst()), ["ok (0)", "ok (0)", "ENOENT", "ENOENT", "ENOENT", "E2BIG"], out)
        XCTAssertTrue(out.contains("REPRODUCED"), out)
        // Recorded with another answer at the finding's call (ENOENT): the kernel's answer now differs.
        var other = rep.results
        other[2].errno = ENOENT
        other[2].out = []
        let (status2, out2) = try compileAndRun(CReproducer.source(p, results: other, finding: rep.findings.first, cpus: f.model.cpus), "other")
        XCTAssertEqual(status2, 0, out2)
        XCTAssertTrue(out2.contains("not reproduced"), out2)
    }

    /// Map-in-map calls in C: inner_map_fd, put_inner with a slot's fd, alive by id. A planted
    /// disagreement at an alive call reproduces (exit 1) with the same answers per call.
    func testMapInMapCallsReproduceInC() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: the reproducer and the fuzzer create BPF maps with bpf(2)")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc"), "needs gcc to compile the reproducer")
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        f.model.plantedFault = { i, c, r in c.op == .alive && i == 6 && r.errno == 0 ? "planted" : nil }
        let p = try ProgramText.parse("""
        create map=0 type=hash key=4 value=8 max=4
        create map=1 type=array_of_maps key=4 value=4 max=4 inner=0
        create map=2 type=hash key=4 value=4 max=4
        put_inner map=1 key=#1 inner=0
        put_inner map=1 key=#2 inner=2
        close map=0
        alive map=0
        lookup map=1 key=#1
        delete map=1 key=#1
        alive map=0
        """)
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings.map(\.signature), ["alive:planted"])
        let (status, out) = try compileAndRun(CReproducer.source(p, results: rep.results, finding: rep.findings.first, cpus: f.model.cpus), "mim")
        XCTAssertEqual(status, 1, out)
        let answers = out.split(separator: "\n").filter { $0.contains(" -> ") }.map { String($0.components(separatedBy: " -> ")[1]) }
        XCTAssertEqual(answers.count, 10, out)
        XCTAssertEqual(Array(answers.dropFirst(3)), ["ok (0)", "EINVAL", "ok (0)", "ok (0)", "ok (0)", "ok (0)", "ENOENT"], out)
    }
}
