// The fault-injection probe and setup: fail-nth, the injectors' debugfs knobs, and whether the fuzzer's fail_nth calls can run.
import BPFKit
import Foundation
import Glibc

/// Fail-the-n-th-allocation checks need the kernel's fault injection: the per-task
/// `fail-nth` file (CONFIG_FAULT_INJECTION) and the slab and page-allocator injectors
/// (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC) with their debugfs knobs. A per-injector knob
/// wins over fail-nth: failslab's `ignore-gfp-wait` defaults to Y, which exempts every
/// sleeping (GFP_KERNEL) allocation, nearly all that bpf(2) makes. The fuzzer's `fail_nth`
/// calls run only where the knobs let them fail; otherwise the check is skipped with the
/// reason, never passed.
public enum FaultInjection {
    public struct Probe: Sendable, Equatable {
        /// debugfs fail* entries found (empty: none, or debugfs not mounted).
        public var debugfsEntries: [String]
        public var failNth: Bool
        /// fail_nth calls inject faults that bpf(2)'s allocations see.
        public var ready: Bool
        /// Why the check does not run (nil when ready).
        public var skipReason: String?
        /// Knobs this probe set (inside a bpfstress guest only), as "file=value".
        public var changed: [String] = []
    }

    /// The knobs that must read N for fail-nth to reach sleeping allocations, and the value
    /// syzkaller's executor also writes; `verbose` 1 prints one line per injected fault (2
    /// adds a stack dump per fault, slow on an emulated UART).
    static let knobs: [(file: String, want: String)] = [
        ("failslab/ignore-gfp-wait", "N"), ("fail_page_alloc/ignore-gfp-wait", "N"),
        ("failslab/verbose", "1"), ("fail_page_alloc/verbose", "1"),
    ]

    /// Probes fault injection. `setKnobs`: write the knobs that differ (the fuzzer does this
    /// only inside a bpfstress guest, whose kernel is its own; on a host the knobs are the
    /// machine owner's, and a wrong one is the skip reason).
    public static func probe(debugfs: String = "/sys/kernel/debug", task: String = "/proc/thread-self",
                             setKnobs: Bool = Probes.inBPFStressGuest()) -> Probe {
        let mounted = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8))?
            .split(separator: "\n").contains { $0.split(separator: " ").dropFirst(4).first.map(String.init) == debugfs } ?? false
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: debugfs)) ?? []).filter { $0.hasPrefix("fail") }.sorted()
        let nth = access(task + "/fail-nth", F_OK) == 0
        var p = Probe(debugfsEntries: entries, failNth: nth, ready: false, skipReason: nil)
        if entries.isEmpty && !nth {
            p.skipReason = "this kernel has no fault injection: no \(task)/fail-nth (CONFIG_FAULT_INJECTION) and no \(debugfs)/fail* " +
                (mounted ? "(CONFIG_FAULT_INJECTION_DEBUG_FS)" : "(debugfs is not mounted at \(debugfs))")
            return p
        }
        guard nth else { p.skipReason = "no \(task)/fail-nth (CONFIG_FAULT_INJECTION without per-task fail-nth)"; return p }
        guard entries.contains("failslab") else {
            p.skipReason = "no \(debugfs)/failslab (CONFIG_FAILSLAB and CONFIG_FAULT_INJECTION_DEBUG_FS, with debugfs mounted): the slab injector's knobs cannot be read"
            return p
        }
        for k in knobs {
            let path = debugfs + "/" + k.file
            guard let have = read(path) else {
                // failslab's knob decides whether bpf(2)'s allocations can fail; fail_page_alloc is optional.
                if k.file == "failslab/ignore-gfp-wait" { p.skipReason = "cannot read \(path)"; return p }
                continue
            }
            if have == k.want { continue }
            if setKnobs, case .success = FileUtil.write(path, k.want) { p.changed.append("\(k.file)=\(k.want)"); continue }
            if k.file.hasSuffix("ignore-gfp-wait") {
                p.skipReason = "\(path) is \(have): the injector exempts sleeping allocations, nearly all that bpf(2) makes; " +
                    "bpfstress sets it to \(k.want) only inside its own guests"
                return p
            }
        }
        p.ready = true
        return p
    }

    /// A knob's value, trimmed.
    static func read(_ path: String) -> String? {
        FileUtil.read(path)?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
