import BPFKit
import CampaignFile
import Foundation
import Scenarios
import StressCore
import XCTest

/// The bugbench fault table is the plugin's data; bpfstress only reads it.
final class BugbenchTableTests: XCTestCase {
    func testThePluginsTableNamesTheFourSeedFaultsWithTypedParameters() throws {
        let faults = try Bugbench.faults(pluginPath: try PluginPaths.bugbench, registry: Scenarios.registry)
        XCTAssertEqual(faults.map(\.name), ["epoch-detach", "shared-txn", "abba", "percpu-size"])
        XCTAssertEqual(faults.map(\.scenario), ["extension-restart", "load-attach-v4v6", "lock-contention-abba", "percpu-batch-sizes"])
        XCTAssertEqual(faults.map(\.expectedType), [.hang, .failure, .hang, .crash])
        XCTAssertEqual(faults[0].params["period"], .duration(0.01))
        XCTAssertEqual(faults[0].params["churners"], .int(1))
        XCTAssertEqual(faults[0].params["churn"], .string("cgroup"))
        XCTAssertEqual(faults[3].titleMustContain, ["SIGSEGV in memcpy from bb_lookup_batch_copy_values"])
        XCTAssertEqual(faults[1].culprits, [])
    }

    func testAMalformedTableIsOneLineNamingTheProblem() {
        let r = Scenarios.registry
        XCTAssertThrowsError(try Bugbench.parseFaults("name=x scenario=nope expect=hang workers=1 threads=1", registry: r)) {
            XCTAssertEqual("\($0)", "bugbench fault table line 1: unknown scenario 'nope'")
        }
        XCTAssertThrowsError(try Bugbench.parseFaults("name=x scenario=map-parallel expect=slow workers=1 threads=1", registry: r)) {
            XCTAssertTrue("\($0)".contains("needs name, scenario, expect"), "\($0)")
        }
        XCTAssertThrowsError(try Bugbench.parseFaults("name=x scenario=map-parallel expect=hang workers=1 threads=1 params=rounds:many", registry: r)) {
            XCTAssertTrue("\($0)".contains("bad parameter 'rounds:many' for map-parallel"), "\($0)")
        }
    }

    func testALibraryWithoutTheTableIsNotABugbenchPlugin() throws {
        XCTAssertThrowsError(try Bugbench.faults(pluginPath: try PluginPaths.example, registry: Scenarios.registry)) {
            XCTAssertTrue("\($0)".contains("exports no bpfstress_bugbench_faults table"), "\($0)")
        }
    }
}
