// Titles for guest-level findings, made from what the console says (syzbot's style).
import Foundation
import Reports

public enum GuestTitles {
    /// Frames that only say "this CPU is idle" or "this CPU is handling our NMI".
    static let idle: Set<String> = [
        "native_safe_halt", "pv_native_safe_halt", "safe_halt", "default_idle", "default_idle_call", "arch_cpu_idle",
        "do_idle", "cpu_startup_entry", "start_secondary", "rest_init", "arch_call_rest_init", "start_kernel",
        "x86_64_start_reservations", "x86_64_start_kernel", "secondary_startup_64", "secondary_startup_64_no_verify",
        "cpuidle_idle_call", "acpi_idle_do_entry", "acpi_safe_halt", "mwait_idle", "intel_idle", "halt",
        "unknown_nmi_error", "nmi_panic", "panic", "common_startup_64", "do_nmi",
    ]

    /// One `NMI backtrace for cpu N` section per CPU: (cpu, frames innermost first: RIP then trace).
    public static func nmiBacktraces(_ console: String) -> [(cpu: Int, frames: [String])] {
        var out: [(Int, [String])] = []
        var cur: (Int, [String])?
        for raw in console.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = ConsoleLine.strip(String(raw))
            let t = line.trimmingCharacters(in: .whitespaces)
            if let r = t.range(of: "NMI backtrace for cpu ") {
                if let c = cur { out.append(c) }
                cur = (Int(t[r.upperBound...].prefix(while: { $0.isNumber })) ?? -1, [])
                continue
            }
            guard cur != nil else { continue }
            if t.hasPrefix("RIP: 0010:"), let f = ConsoleLine.functionWithOffset(t) { cur!.1.append(f); continue }
            if t.hasPrefix("RIP: ") { continue }  // user-space RIP (0033) names nothing in the kernel
            if let f = ConsoleLine.traceFrame(t), f.reliable, line.hasPrefix(" ") { cur!.1.append(f.function) }
            if t.hasPrefix("---[ end") || t.hasPrefix("Kernel Offset") { out.append(cur!); cur = nil }
        }
        if let c = cur { out.append(c) }
        return out
    }

    /// The frame a hang is named after: the first frame of any CPU's NMI backtrace that is neither
    /// idle nor skipped by the kernel report rules (locking, scheduling, entry, NMI machinery).
    public static func hangCulprit(_ backtraces: [(cpu: Int, frames: [String])]) -> String? {
        for bt in backtraces {
            for f in bt.frames {
                var bare = Substring(f)
                while bare.hasPrefix("_") { bare = bare.dropFirst() }
                if idle.contains(f) || idle.contains(String(bare)) { continue }
                if KernelFormats.isSkippedFrame(f) { continue }
                return f
            }
        }
        return nil
    }

    /// A guest that stopped heartbeating: the console's own hang report when it printed one before
    /// the NMI, else `guest hang in FRAME` from the NMI backtraces, else a frameless title.
    public static func hang(reportsBeforeNMI: [TriageReport], nmiConsole: String, seconds: Int) -> String {
        if let r = reportsBeforeNMI.last(where: { $0.type == "hang" }) { return r.title }
        let bts = nmiBacktraces(nmiConsole)
        if let f = hangCulprit(bts) { return "guest hang in \(f)" }
        if bts.isEmpty { return "guest hang: no heartbeat and no NMI backtrace" }
        return "guest hang: no heartbeat, every vCPU idle"
    }

    /// A panic: the report the panic ended (a soft lockup with softlockup_panic, an oops with
    /// oops=panic) when there is one, else syzkaller's `kernel panic: REASON`.
    public static func panic(reason: String, reports: [TriageReport]) -> String {
        if let r = reports.last { return r.title }
        let cleaned = reason.trimmingCharacters(in: .whitespaces)
        return "kernel panic: " + (cleaned.isEmpty ? "unknown reason" : cleaned)
    }
}
