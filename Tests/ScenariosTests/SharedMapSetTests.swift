import BPFKit
import XCTest
@testable import Scenarios

/// Cross-process sharing by name: two opens of the same set converge on the same maps.
final class SharedMapSetTests: XCTestCase {
    func testSecondOpenFindsTheFirstSetAndNamesFit() throws {
        let rt = KernelRuntime()
        let token = SharedMapSet.token(scenario: "test", variant: "\(UInt64.random(in: 0...UInt64.max))")
        XCTAssertEqual(token.count, 6)
        let specs = ["a", "lru"].map {
            MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, name: SharedMapSet.name(token: token, suffix: $0))
        }
        XCTAssertTrue(specs.allSatisfy { $0.name.utf8.count <= 15 })
        let first = try SharedMapSet.open(specs, runtime: rt)
        let second = try SharedMapSet.open(specs, runtime: rt)
        defer { (first + second).forEach { $0.close() } }
        let ids1 = try first.map { try rt.mapInfo($0).id }
        let ids2 = try second.map { try rt.mapInfo($0).id }
        XCTAssertEqual(ids1, ids2)
        XCTAssertNotEqual(ids1[0], ids1[1])
        XCTAssertEqual(try rt.mapInfo(first[1]).name, specs[1].name)
    }
}
