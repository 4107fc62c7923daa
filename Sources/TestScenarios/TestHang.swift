// Test-only: one thread blocks in a pipe read inside an op, for the watchdog and capture tests.
import BPFKit
import CTestFixtures
import Foundation
import StressCore

/// Test-only: thread 0 does a few map ops, then blocks in a pipe read inside a `test_hang`
/// op (released after `block_seconds`); the other threads keep working. Proves the watchdog
/// names the op in flight, its flight recorder and the blocked frames.
public final class TestHang: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "test-hang", shortName: "thang", summary: "test fixture: one thread hangs in a pipe read inside an op",
        requirements: [.bpfLoad],
        parameters: [ParameterSpec("block_seconds", .int, default: .int(30), help: "how long the read blocks")],
        checks: [], testOnly: true)

    let map: MapFD

    public init(worker: WorkerContext) throws {
        map = try worker.runtime.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 64, name: "test_hang"))
    }

    public func teardown() { map.close() }

    public func run(thread: ThreadContext) throws {
        for i in 0..<5 {
            try thread.op(.mapUpdate, UInt64(map.fd), UInt64(i)) { try map.update(UInt32(i), UInt64(i)) }
        }
        // Only the first generation hangs, so the restarted worker proves the fleet recovers.
        if thread.index == 0 && thread.worker.spec.generation == 0 {
            let seconds = Int32(thread.params.int("block_seconds"))
            _ = try thread.op(.testHang, label: "pipe read") { fixture_block_in_pipe_read(seconds) }
        }
        while thread.keepRunning {
            try thread.op(.mapLookup, UInt64(map.fd), 1) { _ = try map.lookup(UInt32(1), as: UInt64.self) }
            usleep(1000)
        }
    }
}
