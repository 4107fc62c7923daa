import Foundation
import StressCore

/// The one list of scenarios. A test checks that every scenario file in this directory
/// is registered here.
public enum Scenarios {
    public static let all: [any Scenario.Type] = [
        LoadAttachV4V6.self,
        PercpuBatchSizes.self,
        MapParallel.self,
        LockContentionABBA.self,
        ExtensionRestart.self,
        MapFuzz.self,
    ]

    /// Fixtures for the harness's own tests; never part of a real campaign.
    public static let testOnly: [any Scenario.Type] = [TestHang.self, TestCrash.self, TestLeak.self, TestFindings.self]

    public static var registry: ScenarioRegistry {
        let includeTests = ProcessInfo.processInfo.environment["BPFSTRESS_TEST_SCENARIOS"] == "1"
        return ScenarioRegistry(all + (includeTests ? testOnly : []))
    }
}
