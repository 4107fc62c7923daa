// The creation rules (data in CreateRules.swift) name each refusal, and the create oracle fails on a kernel that ignores one.
import Basics
import BPFKit
@testable import Fuzz
import Glibc
import XCTest

final class CreateRulesTests: XCTestCase {
    func create(_ t: BPFMapType, key: UInt32 = 4, value: UInt32 = 8, max: UInt32 = 4, flags: UInt32 = 0) -> Call {
        var c = Call(.create); c.type = t; c.keySize = key; c.valueSize = value; c.maxEntries = max; c.mapFlags = flags
        return c
    }

    func testEachRuleNamesItsErrno() {
        let e = { (c: Call) in ShadowModel.createErrors(c, cpus: 2) }
        XCTAssertEqual(e(create(.hash)), [])
        XCTAssertEqual(e(create(.lruHash, flags: BPFMapFlags.noPrealloc)), [ENOTSUPP])
        XCTAssertEqual(e(create(.hash, flags: BPFMapFlags.noCommonLRU)), [EINVAL])
        XCTAssertEqual(e(create(.percpuArray, flags: BPFMapFlags.mmapable)), [EINVAL])
        XCTAssertEqual(e(create(.array, flags: BPFMapFlags.mmapable)), [])
        XCTAssertEqual(e(create(.array, key: 8)), [EINVAL])
        XCTAssertEqual(e(create(.lpmTrie, key: 8)), [EINVAL], "LPM requires NO_PREALLOC")
        XCTAssertEqual(e(create(.lpmTrie, key: 8, flags: BPFMapFlags.noPrealloc)), [])
        XCTAssertEqual(e(create(.queue, key: 0, value: UInt32(4 << 20) + 1)), [E2BIG])
        XCTAssertEqual(e(create(.percpuHash, value: 32769)), [E2BIG])
        XCTAssertEqual(e(create(.lruPercpuHash, max: 1, flags: BPFMapFlags.noCommonLRU)), [],
                       "max_entries rounds up to a multiple of the CPUs")
        XCTAssertEqual(e(create(.hash, flags: BPFMapFlags.rdonly | BPFMapFlags.wronly)), [EINVAL])
    }

    /// A kernel that creates an LRU map with NO_PREALLOC (ENOTSUPP is due) is a finding.
    func testCreateOracleFailsOnAnIgnoredRule() {
        let m = ShadowModel(cpus: 2)
        let c = create(.lruHash, flags: BPFMapFlags.noPrealloc)
        let shape = MapShape(type: .lruHash, keySize: 4, valueSize: 8, maxEntries: 4, flags: BPFMapFlags.noPrealloc, cpus: 2)
        XCTAssertEqual(m.check(0, c, CallResult(), shape: shape).map(\.signature), ["create:errno"])
    }
}
