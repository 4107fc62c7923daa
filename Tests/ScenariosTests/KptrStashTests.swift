// Local kptrs in map values: freeing the field drops the node; planted faults are reported.
import BPFKit
import XCTest
@testable import Scenarios

final class KptrStashTests: XCTestCase {
    /// A fresh instance, or a skip naming why the kernel cannot stash local kptrs.
    func instance() throws -> KptrStash {
        switch try KptrStash.load() {
        case .supported(let s): return s
        case .unsupported(let why): throw XCTSkip(why)
        }
    }

    func testFreedFieldsHoldNoNodeAndLeftAloneOnesKeepTheirs() throws {
        let s = try instance()
        defer { s.close() }
        let r = try KptrRounds().round(s)
        XCTAssertEqual(r.findings, [])
        // Tags in stash order: lru key 4 is 1, then per kind: key 1, key 3, key 2 (no key 2 for the array).
        XCTAssertEqual(r.model.map { "\($0.kind.rawValue) \($0.key) \($0.holds)" },
                       ["hash 1 2", "hash 3 0", "hash 2 0", "lru 1 5", "lru 3 0", "lru 2 0", "array 1 8", "array 3 0"])
        // The controls really hold their nodes: a model that thinks one was dropped disagrees.
        XCTAssertEqual(try s.peek(.array, key: 1), 8)
        var forgot = r.model[6]
        forgot.holds = 0
        forgot.why = "overwritten by a syscall update"
        XCTAssertEqual(KptrOracle.judge(forgot, peeked: try s.peek(.array, key: 1)),
                       "array key 1: holds the node of tag 8 though it was overwritten by a syscall update; the kernel must drop a kptr when it frees the field")
        // A lookup from user space reads the kptr's bytes as zeros.
        XCTAssertEqual(try s.maps.lookup(.hash, key: 1), KptrValue.layout.expectedLookup(tag: 2, canary: 0xC0FFEE))
    }

    func testPlantedSkippedOverwriteIsReported() throws {
        let s = try instance()
        defer { s.close() }
        let r = try KptrRounds(fault: .skipOverwrite).round(s)
        XCTAssertEqual(r.findings, [("hash", 3), ("lru", 6), ("array", 9)].map { kind, tag in
            "\(kind) key 3: holds the node of tag \(tag) though it was overwritten by a syscall update; the kernel must drop a kptr when it frees the field"
        })
    }

    func testPlantedSkippedDeleteIsReported() throws {
        let s = try instance()
        defer { s.close() }
        let r = try KptrRounds(fault: .skipDelete).round(s)
        XCTAssertEqual(r.findings, [("hash", 4), ("lru", 7)].map { kind, tag in
            "\(kind) key 2: holds the node of tag \(tag) though it was deleted and created again; the kernel must drop a kptr when it frees the field"
        })
    }

    func testOracleLinesForAControlThatLostOrSwappedItsNode() {
        let slot = KptrSlot(kind: .lru, key: 1, holds: 5, why: "left alone")
        XCTAssertNil(KptrOracle.judge(slot, peeked: 5))
        XCTAssertEqual(KptrOracle.judge(slot, peeked: 0), "lru key 1: left alone, expected the node of tag 5, peek found none")
        XCTAssertEqual(KptrOracle.judge(slot, peeked: 6), "lru key 1: left alone, expected the node of tag 5, peek found tag 6")
    }
}
