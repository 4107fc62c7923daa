// The campaign file's kernel: and vm: keys.
import XCTest
@testable import CampaignFile

final class CampaignVMTests: XCTestCase {
    let schemas = [ScenarioSchema(name: "map-fuzz", params: [:])]

    func parse(_ yaml: String) throws -> Campaign { try CampaignParser.parse(yaml, file: "c.yaml", schemas: schemas, opKinds: []) }

    func testKernelAndVMKeys() throws {
        let c = try parse("""
        kernel: ../k/vmlinuz-6.1.0-50-amd64
        vm:
          cpus: 4
          memory: 1536M
          count: 2
          accel: tcg-multi
          hang_deadline: 45s
          restarts: 0
          softlockup_panic: true
        scenarios: [map-fuzz]
        """)
        XCTAssertEqual(c.kernel, "../k/vmlinuz-6.1.0-50-amd64")
        XCTAssertEqual(c.vm.cpus, 4)
        XCTAssertEqual(c.vm.memory, "1536M")
        XCTAssertEqual(c.vm.count, 2)
        XCTAssertEqual(c.vm.accel, "tcg-multi")
        XCTAssertEqual(c.vm.hangDeadline, 45)
        XCTAssertEqual(c.vm.restarts, 0)
        XCTAssertEqual(c.vm.softlockupPanic, true)
    }

    func testNoVMKeysMeansTheLocalKernel() throws {
        let c = try parse("scenarios: [map-fuzz]\n")
        XCTAssertNil(c.kernel)
        XCTAssertEqual(c.vm, VMSettings())
    }

    func testBadVMValuesNameFileLineAndKey() {
        let cases: [(String, String)] = [
            ("vm:\n  cpu: 2\nscenarios: [map-fuzz]\n", "c.yaml:2: unknown key 'vm.cpu' (expected one of: cpus, memory, count, accel, hang_deadline, restarts, softlockup_panic)"),
            ("vm:\n  memory: lots\nscenarios: [map-fuzz]\n", "c.yaml:2: 'vm.memory' must be a size like 2G or 1536M (got 'lots')"),
            ("vm:\n  accel: hvf\nscenarios: [map-fuzz]\n", "c.yaml:2: 'vm.accel' must be one of: auto, kvm, tcg, tcg-multi (got 'hvf')"),
            ("vm:\n  cpus: 0\nscenarios: [map-fuzz]\n", "c.yaml:2: 'vm.cpus' must be a positive integer (got '0')"),
            ("vm:\n  restarts: -1\nscenarios: [map-fuzz]\n", "c.yaml:2: 'vm.restarts' must be an integer 0...1000 (got '-1')"),
            ("vm: 3\nscenarios: [map-fuzz]\n", "c.yaml:1: 'vm' must be a mapping with keys: cpus, memory, count, accel, hang_deadline, restarts, softlockup_panic (got '3')"),
            ("kernel: ''\nscenarios: [map-fuzz]\n", "c.yaml:1: 'kernel' must be a non-empty string (got '')"),
        ]
        for (yaml, want) in cases {
            XCTAssertThrowsError(try parse(yaml), yaml) { e in XCTAssertEqual("\(e)", want) }
        }
    }
}
