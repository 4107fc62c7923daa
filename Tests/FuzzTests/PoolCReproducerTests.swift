// The C reproducer of the object pool: every kind rebuilt in C with the same answers, obj:N as the object's fd, nothing left at exit.
import Basics
import BPFKit
import Foundation
@testable import Fuzz
import Glibc
import XCTest

extension CReproducerTests {
    /// Every kind opened, used as a hash key through obj:N and dropped; a planted disagreement
    /// at the last lookup (key obj:0, a tcp socket's fd): the C program gives every call the
    /// executor's answer, reproduces, and leaves no cgroup behind.
    func testPoolCallsReproduceInC() throws {
        let f = try kernelFuzzerWithGCC()
        var text = "create map=0 type=hash key=4 value=8 max=32\n"
        for (i, k) in PoolKind.allCases.enumerated() {
            text += "open obj=\(i % 8) kind=\(k.rawValue)\nupdate map=0 key=obj:\(i % 8) value=@v\(i) flags=NOEXIST\n"
            if i % 8 == 7 { text += "drop obj=3\ndrop obj=3\n" }
        }
        text += "open obj=0 kind=tcp\nupdate map=0 key=obj:0 value=@v9\nlookup map=0 key=obj:0\n"
        let p = try ProgramText.parse(text)
        f.model.plantedFault = { i, _, _ in i == p.calls.count - 1 ? "planted" : nil }
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings.map(\.signature), ["lookup:planted"])
        let (status, out) = try compileAndRun(CReproducer.source(p, results: rep.results, finding: rep.findings.first, cpus: f.model.cpus), "pool")
        XCTAssertEqual(status, 1, out)
        let answers = out.split(separator: "\n").filter { $0.contains(" -> ") }.map { String($0.components(separatedBy: " -> ")[1]) }
        XCTAssertEqual(answers.count, p.calls.count, out)
        for (i, (a, r)) in zip(answers, rep.results).enumerated() where p.calls[i].op != .create {
            XCTAssertEqual(a, r.errno == 0 ? "ok (0)" : ErrnoName.name(r.errno), "call \(i + 1): \(p.calls[i])\n\(out)")
        }
        // NOEXIST updates succeed only where the fds differ from every earlier live one: the same
        // fd numbers are reused in C as in the executor, so the answers above agree.
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: Probes.cgroup2Mount() ?? "/nonexistent")) ?? []).filter { $0.hasPrefix("bpfstress-fuzz-") && $0.contains("-c") }
        XCTAssertEqual(left, [], "the reproducer removes its cgroups at exit")
    }
}
