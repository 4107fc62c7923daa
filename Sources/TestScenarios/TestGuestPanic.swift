// Test-only, guests only: thread 0 panics the guest kernel with sysrq `c` on the chosen boot.
import BPFKit
import Foundation
import StressCore

/// Proves the guest-panic path: the host sees `Kernel panic - not syncing: sysrq triggered crash`
/// on the console, makes a finding, and boots a fresh guest for the rest of the campaign.
public final class TestGuestPanic: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "test-guest-panic", shortName: "tgpan", summary: "test fixture (guests only): sysrq c panics the guest kernel",
        requirements: [.bpfLoad],
        parameters: [ParameterSpec("after_ms", .int, default: .int(1500), help: "delay before the panic"),
                     ParameterSpec("on_boot", .int, default: .int(1), help: "which boot of the guest panics (0: every boot)")],
        checks: [], testOnly: true)

    let map: MapFD

    public init(worker: WorkerContext) throws {
        try GuestOnly.require(Self.descriptor.name)
        map = try worker.runtime.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 64, name: "test_gpanic"))
    }

    public func teardown() { map.close() }

    public func run(thread: ThreadContext) throws {
        let onBoot = thread.params.int("on_boot")
        let panicsHere = thread.index == 0 && thread.worker.spec.generation == 0 && (onBoot == 0 || onBoot == GuestOnly.boot)
        let start = Date()
        while thread.keepRunning {
            try thread.op(.mapUpdate, UInt64(map.fd), 1) { try map.update(UInt32(1), UInt64(1)) }
            if panicsHere && Date().timeIntervalSince(start) * 1000 >= Double(thread.params.int("after_ms")) {
                _ = GuestOnly.write("c", to: "/proc/sysrq-trigger")
            }
            usleep(10_000)
        }
    }
}
