// The C reproducer of ring_mmap calls: the same mappings at the same page offsets, the same answers and page words.
import Basics
import BPFKit
import Foundation
@testable import Fuzz
import Glibc
import XCTest

extension CReproducerTests {
    func testRingMmapReproducesInC() throws {
        let f = try kernelFuzzerWithGCC()
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        f.model.plantedFault = { _, c, _ in c.op == .ringMmap && c.count == 0 && c.vals == 6 ? "planted" : nil }
        let p = try ProgramText.parse("""
        create map=1 type=user_ringbuf key=0 value=0 max=\(2 * page)
        ring_mmap map=1 off=0 len=1 prot=3
        ring_mmap map=1 off=1 len=5 prot=3 write=#77
        ring_mmap map=1 off=0 len=7 prot=1
        ring_mmap map=1 off=0 len=6 prot=1
        """)
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings.map(\.signature), ["ring_mmap:planted"])
        let (status, out) = try compileAndRun(CReproducer.source(p, results: rep.results, finding: rep.findings.first, cpus: f.model.cpus), "ring")
        XCTAssertEqual(status, 1, out)
        let answers = out.split(separator: "\n").filter { $0.contains(" -> ") }.map { String($0.components(separatedBy: " -> ")[1]) }
        XCTAssertEqual(Array(answers.dropFirst()), ["EPERM", "ok (0)", "EINVAL", "ok (0)"], out)
        XCTAssertEqual(out.split(separator: "\n").filter { $0.contains("page ") && $0.hasSuffix(": 4d") }.count, 4, "77 on pages 2 and 4, twice\n\(out)")
    }
}
