import Foundation
import Scenarios
import TestScenarios
import XCTest
@testable import StressCore

final class RegistryTests: XCTestCase {
    /// Every file in Sources/Scenarios declares one scenario type named after the file, and that
    /// type is in the product's list; every Test*.swift in Sources/TestScenarios is in the test list.
    func testEveryScenarioFileIsRegistered() throws {
        for (dirName, list) in [("Scenarios", Scenarios.all), ("TestScenarios", TestScenarios.all)] {
            let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../Sources/\(dirName)").standardized.path
            let files = try FileManager.default.contentsOfDirectory(atPath: dir)
                .filter { $0.hasSuffix(".swift") && $0 != "Registry.swift" && $0 != "Install.swift" && !$0.hasPrefix("Support") }
            XCTAssertFalse(files.isEmpty)
            let registered = Set(list.map { String(describing: $0) })
            for f in files {
                XCTAssertTrue(registered.contains(String(f.dropLast(6))), "\(dirName)/\(f) declares a scenario that is not registered")
            }
        }
    }

    /// The product registers no test scenario until bpfstress-selftest installs them.
    func testOnlySelftestInstallsTheTestScenarios() {
        XCTAssertTrue(Scenarios.all.allSatisfy { !$0.descriptor.testOnly })
        TestScenarios.install(environment: [:])
        XCTAssertEqual(Scenarios.testOnly.map { $0.descriptor.name }, TestScenarios.all.map { $0.descriptor.name })
    }

    func testDescriptorsAreWellFormed() {
        let ds = (Scenarios.all + TestScenarios.all).map { $0.descriptor }
        XCTAssertEqual(Set(ds.map(\.name)).count, ds.count, "duplicate scenario names")
        for d in ds {
            XCTAssertLessThanOrEqual(d.shortName.count, 6, d.name)
            XCTAssertEqual(Set(d.checks.map(\.name)).count, d.checks.count, "duplicate checks in \(d.name)")
            XCTAssertLessThanOrEqual(d.checks.count, 16, d.name)
            XCTAssertEqual(Array(d.checks.prefix(3).map(\.name)), ["setup", "worker-survives", "no-hang"])
            XCTAssertFalse(d.summary.isEmpty)
        }
        XCTAssertTrue(Scenarios.all.allSatisfy { !$0.descriptor.testOnly })
        XCTAssertTrue(TestScenarios.all.allSatisfy { $0.descriptor.testOnly })
    }
}
