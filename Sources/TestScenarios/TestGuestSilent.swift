// Test-only, guests only: stops the guest agent (SIGSTOP) so heartbeats cease while the kernel is fine.
import BPFKit
import Foundation
import StressCore

/// Proves the guest-hang path: no heartbeat for the hang deadline, then QMP inject-nmi makes
/// every vCPU print its backtrace, `info registers -a`, and qemu is killed by pid.
public final class TestGuestSilent: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "test-guest-silent", shortName: "tgsil", summary: "test fixture (guests only): the guest agent stops heartbeating",
        requirements: [.bpfLoad],
        parameters: [ParameterSpec("after_ms", .int, default: .int(1500), help: "delay before the agent is stopped"),
                     ParameterSpec("on_boot", .int, default: .int(1), help: "which boot goes silent (0: every boot)")],
        checks: [], testOnly: true)

    let map: MapFD

    public init(worker: WorkerContext) throws {
        try GuestOnly.require(Self.descriptor.name)
        map = try worker.runtime.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 64, name: "test_gsilent"))
    }

    public func teardown() { map.close() }

    public func run(thread: ThreadContext) throws {
        let onBoot = thread.params.int("on_boot")
        var armed = thread.index == 0 && thread.worker.spec.generation == 0 && (onBoot == 0 || onBoot == GuestOnly.boot)
        let start = Date()
        var silent = false
        while thread.keepRunning {
            // Once the agent is stopped the guest idles, so its NMI backtraces show a quiet kernel.
            if silent { usleep(100_000); continue }
            try thread.op(.mapLookup, UInt64(map.fd), 1) { _ = try map.lookup(UInt32(1), as: UInt64.self) }
            if armed && Date().timeIntervalSince(start) * 1000 >= Double(thread.params.int("after_ms")) {
                armed = false
                silent = true
                let text = (try? String(contentsOfFile: "/run/bpfstress-agent.pid", encoding: .utf8)) ?? ""
                if let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 { kill(pid, SIGSTOP) }
            }
            usleep(10_000)
        }
    }
}
