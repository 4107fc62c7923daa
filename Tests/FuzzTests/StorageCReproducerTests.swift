// The C reproducer of the storage maps: creates with BTF, owners from the pool, the same answers in C, a planted disagreement reproduced.
import Basics
import BPFKit
import Foundation
@testable import Fuzz
import Glibc
import XCTest

extension CReproducerTests {
    /// Both seeds (every storage type) with a planted disagreement at a storage lookup: the C
    /// program gives every call the executor's answer and exits 1 on the planted call.
    func testStorageCallsReproduceInC() throws {
        for (name, at) in [("sk-inode-storage", 7), ("task-cgrp-storage", 9)] {
            let f = try kernelFuzzerWithGCC()
            let p = try ProgramText.load(path: FuzzTests.corpusDir + "/\(name).prog")
            XCTAssertEqual(p.calls[at].op, .lookup)
            f.model.plantedFault = { i, _, _ in i == at ? "planted" : nil }
            let rep = f.execute(p, all: true)
            XCTAssertEqual(rep.findings.map(\.signature), ["lookup:planted"], name)
            let src = CReproducer.source(p, results: rep.results, finding: rep.findings.first, cpus: f.model.cpus)
            let (status, out) = try compileAndRun(src, name)
            XCTAssertEqual(status, 1, out)
            let answers = out.split(separator: "\n").filter { $0.contains(" -> ") }.map { String($0.components(separatedBy: " -> ")[1]) }
            XCTAssertEqual(answers.count, p.calls.count, out)
            for (i, (a, r)) in zip(answers, rep.results).enumerated() where p.calls[i].op != .create && p.calls[i].op != .lookupBatch {
                XCTAssertTrue(a.hasPrefix(r.errno == 0 ? "ok" : ErrnoName.name(r.errno)), "\(name) call \(i + 1): \(p.calls[i]) gave \(a)\n\(out)")
            }
        }
    }
}
