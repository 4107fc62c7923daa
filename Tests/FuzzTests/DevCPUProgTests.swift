// put_prog: devmap and cpumap entries with programs of the object pool, live in a private netns: the program id comes back, a wrong kind is refused, the entry outlives the program's drop.
import BPFKit
import Foundation
@testable import Fuzz
import Glibc
import XCTest

final class DevCPUProgTests: XCTestCase {
    let program = """
    create map=0 type=devmap key=4 value=8 max=4
    open obj=0 kind=prog_xdp_devmap
    open obj=1 kind=prog_xdp_cpumap
    put_prog map=0 key=#0 value=#1 obj=0
    put_prog map=0 key=#1 value=#1 obj=1
    put_prog map=0 key=#2 value=#1 obj=5
    lookup map=0 key=#0
    drop obj=0
    lookup map=0 key=#0
    create map=1 type=cpumap key=4 value=8 max=2
    put_prog map=1 key=#0 value=#64 obj=1
    put_prog map=1 key=#1 value=#64 obj=2
    lookup map=1 key=#0
    walk map=0
    """

    func testProgramValuesAgreeAndOutliveTheDrop() throws {
        let p = try ProgramText.parse(program)
        XCTAssertEqual(try ProgramText.parse(p.text), p, "put_prog round-trips through the text")
        nonisolated(unsafe) var rep = ExecReport()
        try onPrivateNetnsThread { f in rep = f.execute(p, all: true) }
        XCTAssertEqual(rep.findings, [])
        XCTAssertEqual(rep.results.map(\.errno), [0, 0, 0, 0, EINVAL, EINVAL, 0, 0, 0, 0, 0, ENOMEM, 0, 0])
        let devProg = rep.results[1].out, cpuProg = rep.results[2].out
        XCTAssertEqual(rep.results[6].out, [1, 0, 0, 0] + devProg.prefix(4), "the lookup gives ifindex 1 and the program's id")
        XCTAssertEqual(rep.results[8].out, rep.results[6].out, "the entry holds the program after its drop")
        XCTAssertEqual(rep.results[12].out, [64, 0, 0, 0] + cpuProg.prefix(4))
    }

    /// A tampered answer: a devmap that took a BPF_XDP_CPUMAP program is a finding.
    func testWrongProgramKindTakenIsAFinding() throws {
        let p = try ProgramText.parse(program)
        nonisolated(unsafe) var rep = ExecReport()
        try onPrivateNetnsThread { f in
            var i = 0
            f.around = { op, _, body in
                i += 1
                return i == 5 ? CallResult() : body()  // put_prog of the cpumap program "succeeds"
            }
            rep = f.execute(p)
        }
        XCTAssertEqual(rep.findings.map(\.signature), ["put_prog:errno"])
        XCTAssertEqual(rep.findings.first?.call, 4)
    }
}
