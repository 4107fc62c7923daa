// The C reproducer of a race: the same two threads and sequence, every answer printed, the census walk after.
import Basics
import BPFKit
import Foundation
@testable import Fuzz
import Glibc
import XCTest

extension CReproducerTests {
    /// A planted disagreement at a batch race: the C program runs the race (64 calls of A, B's
    /// batches), prints both threads' answers and the census, and reproduces the call's answer.
    func testRaceReproducesInC() throws {
        let f = try kernelFuzzerWithGCC()
        try XCTSkipUnless(Probes.possibleCPUs() >= 2, "a race needs two CPUs")
        f.model.plantedFault = { _, c, _ in c.op == .race ? "planted" : nil }
        let p = try ProgramText.parse("""
        create map=0 type=hash key=4 value=8 max=16 flags=NO_PREALLOC
        update map=0 key=#1 value=@v1
        race map=0 with=batch rounds=64 keys=1,2,3 vals=@v5
        """)
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings.map(\.signature), ["race:planted"])
        let (status, out) = try compileAndRun(CReproducer.source(p, results: rep.results, finding: rep.findings.first, cpus: f.model.cpus), "race")
        XCTAssertEqual(status, 1, out)
        let lines = out.split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.contains("A call ") }.count, 64, out)
        // B only reads: A's answers are the same in every interleaving, in C as in the executor.
        let rec = try XCTUnwrap(RaceRecord(decoding: rep.results[2]))
        let cAnswers = lines.filter { $0.contains("A call ") }.map { String($0.split(separator: " ").last!) }
        XCTAssertEqual(cAnswers, rec.aErrno.map { $0 == 0 ? "(0)" : ErrnoName.name($0) }, out)
        XCTAssertTrue(lines.contains { $0.contains("B call 1: ") }, out)
        let census = lines.filter { $0.contains("census key") }.map { String($0.split(separator: " ")[2]) }
        XCTAssertEqual(Set(census), Set(rep.results[2].walk.map { $0.key.map { String(format: "%02x", $0) }.joined() }), out)
    }
}
