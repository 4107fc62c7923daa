import BPFKit
import CampaignFile
import Foundation
import Scenarios
import XCTest
@testable import StressCore

/// The shipped campaign files parse against the real registry and plan on this machine.
final class CorpusCampaignTests: XCTestCase {
    var campaigns: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../corpora/campaigns").standardized.path
    }

    func testSmokeRunsEverySeedScenarioWithinAMinute() throws {
        let c = try CampaignParser.load(path: campaigns + "/smoke.yaml", schemas: Scenarios.registry.schemas, opKinds: OpKind.deadlineNames)
        XCTAssertEqual(Set(c.scenarios.map(\.name)), Set(Scenarios.all.map { $0.descriptor.name }))
        XCTAssertLessThanOrEqual(c.duration, 45, "smoke must finish (with setup and teardown) within 60 s")
        let rt = KernelRuntime()
        let plan = try RunPlan.make(campaign: c, registry: Scenarios.registry, environment: .probe(runtime: rt),
                                    runtime: rt, seed: 1)
        XCTAssertEqual(plan.skipped.map(\.name), [], "skipped here: \(plan.skipped)")
        XCTAssertEqual(plan.scenarios.first { $0.descriptor.name == "map-parallel" }.map { $0.workers * $0.threads }, 8)
    }

    func testNightlyRunsEverySeedScenarioForHalfAnHourOrMore() throws {
        let c = try CampaignParser.load(path: campaigns + "/nightly.yaml", schemas: Scenarios.registry.schemas, opKinds: OpKind.deadlineNames)
        XCTAssertEqual(Set(c.scenarios.map(\.name)), Set(Scenarios.all.map { $0.descriptor.name }))
        XCTAssertGreaterThanOrEqual(c.duration, 1800)
    }
}
