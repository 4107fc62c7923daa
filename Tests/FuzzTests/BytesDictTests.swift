@testable import Fuzz
import XCTest

/// BytesDict (the shadow model's key -> value table) against Dictionary<Bytes, Bytes> under
/// random operations: inline and long keys and values, keys that differ only in length,
/// overwrites that move an entry between the word table and the dictionary, removals that
/// exercise backward-shift deletion, growth, and copies taken and restored mid-way.
final class BytesDictTests: XCTestCase {
    struct RNG { var x: UInt64; mutating func next() -> UInt64 { x &+= 0x9E37_79B9_7F4A_7C15; var z = x; z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9; z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB; return z ^ (z >> 31) } }

    func bytes(_ r: inout RNG, maxLong: Bool) -> Bytes {
        // Few distinct keys (collisions and reuse), lengths 0...20 with 4 and 8 common.
        let lengths = maxLong ? [0, 1, 4, 4, 8, 8, 12, 16, 17, 20] : [4, 4, 8, 8, 16]
        let n = lengths[Int(r.next() % UInt64(lengths.count))]
        let seed = r.next() % 40
        return Bytes((0..<n).map { UInt8(truncatingIfNeeded: seed &* 31 &+ UInt64($0)) })
    }

    func testAgreesWithDictionary() {
        var r = RNG(x: 7)
        for round in 0..<60 {
            var d = BytesDict(), ref: [Bytes: Bytes] = [:]
            var saved: (BytesDict, [Bytes: Bytes])? = nil
            for step in 0..<1500 {
                let k = bytes(&r, maxLong: true)
                switch r.next() % 10 {
                case 0...3:
                    let v = bytes(&r, maxLong: true)
                    d[k] = v; ref[k] = v
                case 4, 5:
                    XCTAssertEqual(d.removeValue(forKey: k), ref.removeValue(forKey: k), "round \(round) step \(step)")
                case 6:
                    d[k] = nil; ref[k] = nil
                case 7:
                    if saved == nil { saved = (d, ref) } else { (d, ref) = saved!; saved = nil }
                default:
                    XCTAssertEqual(d[k], ref[k], "round \(round) step \(step)")
                    XCTAssertEqual(d.contains(k), ref[k] != nil, "round \(round) step \(step)")
                }
                XCTAssertEqual(d.count, ref.count, "round \(round) step \(step)")
                XCTAssertEqual(d.isEmpty, ref.isEmpty)
            }
            let pairs = Dictionary(d.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in
                XCTFail("a key iterated twice"); return a
            })
            XCTAssertEqual(pairs, ref, "round \(round)")
            XCTAssertEqual(Set(d.keys), Set(ref.keys))
            if let (sd, sref) = saved {
                // A copy taken earlier was not changed by later writes to the original.
                XCTAssertEqual(Dictionary(sd.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }), sref)
            }
        }
    }

    /// Keys of the same bytes but different lengths are different keys; deleting from the
    /// middle of a probe run keeps the rest of the run reachable.
    func testLengthIsPartOfTheKeyAndDeletionKeepsRuns() {
        var d = BytesDict()
        d[Bytes([0, 0, 0, 0])] = Bytes([1])
        d[Bytes([0, 0, 0, 0, 0, 0, 0, 0])] = Bytes([2])
        XCTAssertEqual(d.count, 2)
        XCTAssertEqual(d[Bytes([0, 0, 0, 0])], Bytes([1]))
        for i in 0..<200 { d[Bytes(int: UInt64(i), count: 4)] = Bytes(int: UInt64(i), count: 8) }
        for i in stride(from: 0, to: 200, by: 3) { XCTAssertNotNil(d.removeValue(forKey: Bytes(int: UInt64(i), count: 4))) }
        for i in 0..<200 {
            XCTAssertEqual(d[Bytes(int: UInt64(i), count: 4)], i % 3 == 0 ? nil : Bytes(int: UInt64(i), count: 8), "key \(i)")
        }
        XCTAssertEqual(d[Bytes([0, 0, 0, 0, 0, 0, 0, 0])], Bytes([2]))
    }
}
