// The registry of the product's scenarios; test-only ones are added by bpfstress-selftest.
import Foundation
import StressCore

/// The one list of scenarios. A test checks that every scenario file in this directory
/// (and every test scenario in Sources/TestScenarios) is registered.
public enum Scenarios {
    public static let all: [any Scenario.Type] = [
        LoadAttachV4V6.self,
        PercpuBatchSizes.self,
        MapParallel.self,
        LockContentionABBA.self,
        LockContentionFentry.self,
        ExtensionRestart.self,
        MapFuzz.self,
    ]

    /// Fixtures for the harness's own tests; never part of a real campaign. Empty in the product:
    /// only bpfstress-selftest links the TestScenarios module and fills it in before main runs.
    nonisolated(unsafe) public static var testOnly: [any Scenario.Type] = []

    /// The product's scenarios, plus the test-only ones when BPFSTRESS_TEST_SCENARIOS=1 (and the
    /// binary is bpfstress-selftest, the only one that has them).
    public static var registry: ScenarioRegistry {
        let includeTests = ProcessInfo.processInfo.environment["BPFSTRESS_TEST_SCENARIOS"] == "1"
        return ScenarioRegistry(all + (includeTests ? testOnly : []))
    }
}
