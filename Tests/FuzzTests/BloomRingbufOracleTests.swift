// The bloom filter and ring buffer oracles on tampered kernel answers: a false negative, a peek that writes, element commands that succeed, map_extra on other types.
import Basics
import BPFKit
@testable import Fuzz
import Glibc
import XCTest

final class BloomRingbufOracleTests: XCTestCase {
    let bloom = MapShape(type: .bloomFilter, keySize: 0, valueSize: 8, maxEntries: 16, flags: 0, cpus: 2)

    func bloomModel(pushing seeds: [UInt32]) -> ShadowModel {
        let m = ShadowModel(cpus: 2)
        var c = Call(.create); c.type = .bloomFilter; c.keySize = 0; c.maxEntries = 16; c.mapExtra = 3
        XCTAssertEqual(m.check(0, c, CallResult(), shape: bloom), [])
        for (i, s) in seeds.enumerated() {
            var up = Call(.update); up.value = .pattern(s, len: nil)
            XCTAssertEqual(m.check(i + 1, up, CallResult(), shape: bloom), [])
        }
        return m
    }

    func peek(_ m: ShadowModel, _ seed: UInt32, errno: Int32, out: [UInt8]? = nil) -> [String] {
        var c = Call(.lookup); c.value = .pattern(seed, len: nil)
        var r = CallResult(); r.errno = errno; r.out = out ?? Layout.pattern(seed, 8)
        return m.check(9, c, r, shape: bloom).map(\.signature)
    }

    func testNoFalseNegativesEver() {
        XCTAssertEqual(peek(bloomModel(pushing: [1, 2]), 2, errno: 0), [])
        XCTAssertEqual(peek(bloomModel(pushing: [1, 2]), 2, errno: ENOENT), ["lookup:errno"])
        XCTAssertEqual(peek(bloomModel(pushing: [1, 2]), 7, errno: 0), [], "a false positive is allowed")
        XCTAssertEqual(peek(bloomModel(pushing: [1, 2]), 7, errno: ENOENT), [])
    }

    func testPeekMustNotWriteTheValue() {
        XCTAssertEqual(peek(bloomModel(pushing: [1]), 1, errno: 0, out: Layout.pattern(5, 8)), ["lookup:value"])
    }

    func testPushTakesOnlyAny() {
        let m = bloomModel(pushing: [])
        var up = Call(.update); up.flags = BPFUpdateFlags.noExist
        XCTAssertEqual(m.check(1, up, CallResult(), shape: bloom).map(\.signature), ["update:errno"])
    }

    func testRingbufElementCommandsAndMapExtra() {
        let m = ShadowModel(cpus: 2)
        var c = Call(.create); c.type = .ringbuf; c.keySize = 0; c.valueSize = 0; c.maxEntries = 4096
        let rb = MapShape(type: .ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096, flags: 0, cpus: 2)
        XCTAssertEqual(m.check(0, c, CallResult(), shape: rb), [])
        XCTAssertEqual(m.check(1, Call(.update), CallResult(), shape: rb).map(\.signature), ["update:errno"], "ENOTSUPP is due")
        var r = CallResult(); r.errno = ENOTSUPP
        XCTAssertEqual(m.check(2, Call(.lookup), r, shape: rb), [])
        XCTAssertEqual(ShadowModel.createErrors(c, cpus: 2), [])
        c.maxEntries = 4096 * 3
        XCTAssertEqual(ShadowModel.createErrors(c, cpus: 2), [EINVAL], "not a power of 2")
        var h = Call(.create); h.mapExtra = 3
        XCTAssertEqual(ShadowModel.createErrors(h, cpus: 2), [EINVAL], "map_extra on a hash map")
        let hs = MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, cpus: 2)
        XCTAssertEqual(ShadowModel(cpus: 2).check(0, h, CallResult(), shape: hs).map(\.signature), ["create:errno"])
    }
}
