// Shared by the test-only guest scenarios: refuse to run outside a bpfstress guest, read the boot number.
import BPFKit
import Foundation
import StressCore

enum GuestOnly {
    struct NotInGuest: Error, CustomStringConvertible {
        let scenario: String
        var description: String { "\(scenario) runs only inside a bpfstress guest (kernel command line has no bpfstress.guest=1)" }
    }

    /// The host's kernel command line never carries bpfstress.guest=1 (QEMULaunch.cmdline adds it),
    /// so a scenario that breaks the kernel cannot break the machine that runs the coordinator.
    static func require(_ scenario: String) throws {
        guard Probes.inBPFStressGuest() else {
            throw NotInGuest(scenario: scenario)
        }
    }

    /// Which boot of its guest this is (1 = first); the agent exports it.
    static var boot: Int { Int(ProcessInfo.processInfo.environment["BPFSTRESS_GUEST_BOOT"] ?? "1") ?? 1 }

    /// Writes `s` to `path` with one write(2) (sysrq-trigger, /dev/kmsg records).
    static func write(_ s: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return s.withCString { Foundation.write(fd, $0, strlen($0)) } == s.utf8.count
    }
}
