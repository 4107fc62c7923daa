// The C reproducer of a program that uses every call both fuzzer branches added (map-in-map, BTF values, pins, ids, info, races, ring pages) at once.
import BPFKit
import Foundation
@testable import Fuzz
import Glibc
import XCTest

extension CReproducerTests {
    /// One program with put_inner, alive, pin, obj_get, fd_by_id, next_id, info, unpin, a BTF
    /// create with F_LOCK, a race on that map and ring_mmap: the C program compiles (with the
    /// identity, race and map-in-map parts side by side), makes every call with the executor's
    /// answers, and reproduces a disagreement planted at the last call.
    func testEveryNewCallInOneCProgram() throws {
        let f = try kernelFuzzerWithGCC()
        try XCTSkipUnless(Probes.possibleCPUs() >= 2, "a race needs two CPUs")
        f.model.plantedFault = { _, c, _ in c.op == .ringMmap ? "planted" : nil }
        let p = try ProgramText.parse("""
        create map=0 type=hash key=4 value=8 max=4
        create map=1 type=array_of_maps key=4 value=4 max=4 inner=0
        put_inner map=1 key=#0 inner=0
        pin map=0 path=0
        close map=0
        alive map=0
        obj_get map=2 path=0 flags=RDONLY
        fd_by_id map=3 from=2
        next_id map=2
        info map=2 len=104
        unpin path=0
        create map=0 type=hash key=4 value=16 max=16 btf=lock
        update map=0 key=#1 value=@v1 flags=F_LOCK
        race map=0 with=batch rounds=8 keys=0,1 vals=@v3
        create map=2 type=ringbuf key=0 value=0 max=4096
        ring_mmap map=2 off=0 len=1 prot=3 write=#7
        """)
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings.map(\.signature), ["ring_mmap:planted"])
        XCTAssertEqual(rep.results.map(\.errno), [Int32](repeating: 0, count: p.calls.count))
        let (status, out) = try compileAndRun(CReproducer.source(p, results: rep.results, finding: rep.findings.first, cpus: f.model.cpus), "merged")
        XCTAssertEqual(status, 1, out)
        let calls = out.split(separator: "\n").filter { $0.contains(" -> ") }
        XCTAssertEqual(calls.count, p.calls.count, out)
        XCTAssertTrue(calls.allSatisfy { $0.contains("-> ok") }, out)
    }
}
