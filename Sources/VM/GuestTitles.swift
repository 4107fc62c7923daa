// Titles for guest-level findings, made from what the console says (syzbot's style).
import Foundation
import Reports

public enum GuestTitles {
    /// `func+0x12/0x40` anywhere in a line -> `func` (compiler suffixes such as .cold dropped).
    static let offsetToken = Pattern(#"([A-Za-z_][A-Za-z0-9_$]*)(\.[a-z]+(\.[0-9]+)*)*\+0x[0-9a-fA-F]+/0x[0-9a-fA-F]+"#)
    /// Frames that never name a hang: the parser's generic skip list plus its hang list
    /// (unanchored, as syzkaller matches them).
    static let skip = Pattern((KernelSkipLists.generic + KernelSkipLists.hangSkip).map { "(\($0))" }.joined(separator: "|"))

    static func functionWithOffset(_ s: String) -> String? { offsetToken.groups(s).map { $0[1] } }

    /// A trace line ` func+0x1/0x2` or ` ? func+0x1/0x2` -> (func, reliable).
    static func traceFrame(_ line: String) -> (function: String, reliable: Bool)? {
        var t = Substring(line.trimmingCharacters(in: .whitespaces))
        if t.hasPrefix("[<"), let close = t.range(of: ">]") { t = t[close.upperBound...].drop(while: { $0 == " " }) }
        var reliable = true
        if t.hasPrefix("? ") { reliable = false; t = t.dropFirst(2) }
        guard let g = offsetToken.groups(String(t)), t.hasPrefix(g[1]) else { return nil }
        return (g[1], reliable)
    }

    /// Frames that only say "this CPU is idle" or "this CPU is handling our NMI".
    static let idle: Set<String> = [
        "native_safe_halt", "pv_native_safe_halt", "safe_halt", "default_idle", "default_idle_call", "arch_cpu_idle",
        "do_idle", "cpu_startup_entry", "start_secondary", "rest_init", "arch_call_rest_init", "start_kernel",
        "x86_64_start_reservations", "x86_64_start_kernel", "secondary_startup_64", "secondary_startup_64_no_verify",
        "cpuidle_idle_call", "acpi_idle_do_entry", "acpi_safe_halt", "mwait_idle", "intel_idle", "halt",
        "unknown_nmi_error", "nmi_panic", "panic", "common_startup_64", "do_nmi", "amd_e400_idle", "end_repeat_nmi",
        "repeat_nmi", "default_enter_idle", "(idle task)", "cpuidle_enter", "cpuidle_enter_state", "poll_idle",
    ]

    /// One `NMI backtrace for cpu N` section per CPU: (cpu, frames innermost first: the interrupted
    /// RIP, then the task's trace). Frames between <NMI> and </NMI> are the NMI handler itself and
    /// are dropped; `NMI backtrace for cpu N skipped: idling at F` stands for [F].
    public static func nmiBacktraces(_ console: String) -> [(cpu: Int, frames: [String])] {
        var out: [(Int, [String])] = []
        var cur: (Int, [String])?
        var inNMI = false, idleSection = false
        // Serial consoles end lines with CRLF, which Swift reads as one Character: split on scalars.
        for raw in console.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map({ String(String.UnicodeScalarView($0)) }) {
            let line = ConsoleLine.strip(String(raw))
            let t = line.trimmingCharacters(in: .whitespaces)
            if let r = t.range(of: "NMI backtrace for cpu ") {
                if let c = cur { out.append(c) }
                let rest = t[r.upperBound...]
                cur = (Int(rest.prefix(while: { $0.isNumber })) ?? -1, [])
                inNMI = false; idleSection = false
                if let at = rest.range(of: "idling at "), let f = functionWithOffset(String(rest[at.upperBound...])) {
                    cur!.1.append(f); out.append(cur!); cur = nil
                }
                continue
            }
            guard cur != nil else { continue }
            // The idle task (PID 0, swapper/N) names nothing, whatever clock or tick code it was in.
            if t.hasPrefix("CPU: "), t.contains(" PID: 0 ") { cur!.1 = ["(idle task)"]; cur = (cur!.0, cur!.1); idleSection = true; continue }
            if idleSection { if t.hasPrefix("---[ end") || t.hasPrefix("Kernel Offset") || t == "</TASK>" { out.append(cur!); cur = nil; idleSection = false }; continue }
            if t == "<NMI>" { inNMI = true; continue }
            if t == "</NMI>" { inNMI = false; continue }
            if t.hasPrefix("RIP: 0010:"), let f = functionWithOffset(t) { cur!.1.append(f); continue }
            if t.hasPrefix("RIP: ") || t.hasPrefix("Sending NMI") { continue }
            if !inNMI, let f = traceFrame(t), f.reliable, line.hasPrefix(" ") { cur!.1.append(f.function) }
            if t.hasPrefix("---[ end") || t.hasPrefix("Kernel Offset") || t == "</TASK>" { out.append(cur!); cur = nil }
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
                if skip.matches(f) { continue }
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
