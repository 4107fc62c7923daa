// Test-only: every thread makes `count` findings, to prove that none is lost.
import BPFKit
import Foundation
import StressCore

/// Each thread fails its check `count` times with one title, as fast as it can: far more
/// than the slot's 8-entry mailbox holds, so most findings go through the spill file. The
/// bucket must count exactly threads x count.
public final class TestFindings: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "test-findings", shortName: "tfind", summary: "test fixture: floods the finding mailbox",
        requirements: [],
        parameters: [ParameterSpec("count", .int, default: .int(1000), help: "findings per thread")],
        checks: [flood], testOnly: true)
    static let flood = CheckSpec("flood", "fails on purpose, count times per thread")

    public init(worker: WorkerContext) throws {}
    public func teardown() {}

    public func run(thread: ThreadContext) throws {
        for i in 0..<thread.params.int("count") {
            thread.fail(Self.flood, title: "planted finding in test-findings", detail: "number \(i) of thread \(thread.index)")
        }
        while thread.keepRunning { thread.heartbeat(); usleep(20_000) }
    }
}
