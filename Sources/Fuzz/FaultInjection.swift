// The fault-injection probe: which of the kernel's failure injectors (debugfs fail*, fail-nth) this kernel offers.
import Foundation
import Glibc

/// Fail-the-n-th-allocation checks need the kernel's fault injection: debugfs `fail*`
/// directories (CONFIG_FAULT_INJECTION_DEBUG_FS, e.g. failslab, fail_page_alloc) and the
/// per-task `fail-nth` file (CONFIG_FAULT_INJECTION). The check that would use them is
/// reported as skipped with this probe's reason; it never passes without running.
public enum FaultInjection {
    public struct Probe: Sendable, Equatable {
        /// debugfs fail* entries found (empty: none, or debugfs not mounted).
        public var debugfsEntries: [String]
        public var failNth: Bool
        /// Why the check does not run (there is always one: the injecting check is not built).
        public var skipReason: String
    }

    public static func probe(debugfs: String = "/sys/kernel/debug", task: String = "/proc/thread-self") -> Probe {
        let mounted = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8))?
            .split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first.map(String.init) == debugfs } ?? false
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: debugfs)) ?? []).filter { $0.hasPrefix("fail") }.sorted()
        let nth = access(task + "/fail-nth", F_OK) == 0
        let reason: String
        if entries.isEmpty && !nth {
            reason = "this kernel has no fault injection: no \(task)/fail-nth (CONFIG_FAULT_INJECTION) and no \(debugfs)/fail* " +
                (mounted ? "(CONFIG_FAULT_INJECTION_DEBUG_FS)" : "(debugfs is not mounted at \(debugfs))")
        } else {
            reason = "fault injection is present (\((entries + (nth ? ["fail-nth"] : [])).joined(separator: ", "))) but the check that fails the n-th allocation in create, update and batch calls is not built yet"
        }
        return Probe(debugfsEntries: entries, failNth: nth, skipReason: reason)
    }
}
