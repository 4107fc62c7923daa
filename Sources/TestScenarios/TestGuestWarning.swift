// Test-only, guests only: a kernel WARNING report on the guest's console, once per boot.
import BPFKit
import Foundation
import StressCore

/// Proves the console path for a report that does not end the guest: the host parses the WARNING
/// from the console into a `kernel` finding while the campaign goes on. Debian's kernels have no
/// LKDTM or fault injection to raise a real WARN from user space, so the report is written as
/// kernel-log records at warning level through /dev/kmsg: the kernel prints them to the console
/// exactly as it prints its own. The guest's kmsg watcher ignores user-space records, so only the
/// host's console parser reports it.
public final class TestGuestWarning: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "test-guest-warning", shortName: "tgwarn", summary: "test fixture (guests only): a WARNING report on the guest console",
        requirements: [.bpfLoad], checks: [], testOnly: true)

    static let record = [
        "------------[ cut here ]------------",
        "WARNING: CPU: 0 PID: 1 at kernel/bpf/syscall.c:1234 bpfstress_test_warning+0x1f/0x40",
        "Modules linked in: overlay 9p netfs 9pnet_virtio",
        "RIP: 0010:bpfstress_test_warning+0x1f/0x40",
        "Call Trace:",
        " <TASK>",
        " bpfstress_test_warning+0x1f/0x40",
        " __sys_bpf+0x1a2/0x2b0",
        " do_syscall_64+0x55/0xb0",
        " entry_SYSCALL_64_after_hwframe+0x6e/0xd8",
        " </TASK>",
        "---[ end trace 0000000000000000 ]---",
    ]

    let map: MapFD

    public init(worker: WorkerContext) throws {
        try GuestOnly.require(Self.descriptor.name)
        map = try worker.runtime.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 64, name: "test_gwarn"))
    }

    public func teardown() { map.close() }

    public func run(thread: ThreadContext) throws {
        // Once per boot, whichever worker gets there first (O_EXCL on the guest's own tmpfs /run).
        let once = open("/run/bpfstress-test-warning", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
        if thread.index == 0 && once >= 0 {
            close(once)
            for l in Self.record { _ = GuestOnly.write("<4>" + l, to: "/dev/kmsg") }
        }
        while thread.keepRunning {
            try thread.op(.mapLookup, UInt64(map.fd), 1) { _ = try map.lookup(UInt32(1), as: UInt64.self) }
            usleep(10_000)
        }
    }
}
