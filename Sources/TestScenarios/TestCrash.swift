// Test-only: one thread dies by SIGSEGV in a memcpy past a guard page, for the crash capture tests.
import BPFKit
import CTestFixtures
import Foundation
import StressCore

/// Test-only: after a few map ops, thread 0 overruns a buffer against a guard page with
/// memcpy inside a `test_crash` op. Proves the crash path: handler, capture, finding, restart.
public final class TestCrash: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "test-crash", shortName: "tcrash", summary: "test fixture: one thread dies by SIGSEGV inside memcpy",
        requirements: [.bpfLoad], checks: [], testOnly: true)

    let map: MapFD

    public init(worker: WorkerContext) throws {
        map = try worker.runtime.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 64, name: "test_crash"))
    }

    public func teardown() { map.close() }

    public func run(thread: ThreadContext) throws {
        for i in 0..<3 {
            try thread.op(.mapUpdate, UInt64(map.fd), UInt64(i)) { try map.update(UInt32(i), UInt64(i)) }
        }
        // Only the first generation crashes, so the restarted worker proves the fleet recovers.
        if thread.index == 0 && thread.worker.spec.generation == 0 {
            usleep(300_000)
            try thread.op(.testCrash, label: "memcpy past guard page") { fixture_overrun_guard_page() }
        }
        while thread.keepRunning {
            try thread.op(.mapLookup, UInt64(map.fd), 1) { _ = try map.lookup(UInt32(1), as: UInt64.self) }
            usleep(1000)
        }
    }
}
