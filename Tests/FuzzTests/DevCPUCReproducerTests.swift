// The C reproducer of devmap, cpumap, stack_trace and arena calls: gcc compiles it, it enters a netns of its own for the devmap, and exits 1 on the planted disagreement.
import BPFKit
import Foundation
@testable import Fuzz
import Glibc
import XCTest

final class DevCPUCReproducerTests: XCTestCase {
    let program = """
    create map=0 type=devmap key=4 value=4 max=4
    update map=0 key=#0 value=#1
    update map=0 key=#1 value=#999
    lookup map=0 key=#0
    create map=1 type=cpumap key=4 value=8 max=2
    update map=1 key=#0 value=0x40000000ffffffff
    update map=1 key=#1 value=0x400000003f420f00
    lookup map=1 key=#0
    create map=2 type=stack_trace key=4 value=16 max=4
    delete map=2 key=#9
    create map=3 type=arena key=0 value=0 max=1 flags=MMAPABLE
    mmap map=3 flags=3
    lookup map=3
    """

    /// The devmap lookup that returns ifindex 1 is planted as a disagreement: the C program
    /// makes the same calls (the devmap update in its own netns, the arena mmap answered as the
    /// executor does), gets the same answers, and exits 1; with another recorded answer, 0.
    func testPlantedDevmapDisagreementReproducesInC() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc"), "needs gcc to compile the reproducer")
        let p = try ProgramText.parse(program)
        nonisolated(unsafe) var rep = ExecReport()
        nonisolated(unsafe) var cpus = 2
        try onPrivateNetnsThread { f in
            f.model.plantedFault = { _, c, r in c.op == .lookup && c.map == 0 && r.errno == 0 && r.out == [1, 0, 0, 0] ? "planted" : nil }
            rep = f.execute(p, all: true)
            cpus = f.model.cpus
        }
        XCTAssertEqual(rep.findings.map(\.signature), ["lookup:planted"])
        XCTAssertEqual(rep.results.map(\.errno), [0, 0, EINVAL, 0, 0, 0, ENOMEM, 0, 0, E2BIG, 0, EOPNOTSUPP, EINVAL])
        let c = CReproducer.source(p, results: rep.results, finding: rep.findings.first, cpus: cpus)
        XCTAssertTrue(c.contains("SYS_unshare"), "a devmap program enters a netns of its own")
        let (status, out) = try CReproducerTests(name: "compile", testClosure: { _ in }).compileAndRun(c, "devcpu")
        XCTAssertEqual(status, 1, out)
        let answers = out.split(separator: "\n").filter { $0.contains(" -> ") }.map { String($0.components(separatedBy: " -> ")[1]) }
        XCTAssertEqual(answers.count, 13, out)
        XCTAssertEqual(answers[1...3], ["ok (0)", "EINVAL", "ok (0)"], out)
        XCTAssertEqual(Array(answers[5...7]), ["ok (0)", "ENOMEM", "ok (0)"], out)
        XCTAssertEqual(Array(answers[9...12]), ["E2BIG", answers[10], "EOPNOTSUPP", "EINVAL"], out)
        XCTAssertTrue(out.contains("REPRODUCED"), out)
        var other = rep.results
        other[3].errno = ENOENT
        other[3].out = []
        let (status2, out2) = try CReproducerTests(name: "compile", testClosure: { _ in }).compileAndRun(CReproducer.source(p, results: other, finding: rep.findings.first, cpus: cpus), "other")
        XCTAssertEqual(status2, 0, out2)
    }
}
