// One pass of the armed-timer and kptr rounds, shared by `bpfstress fuzz-timers` and map-fuzz's checks.
import BPFKit
import StressCore

/// What one pass of the rounds gave: a line per round, and the findings per field kind.
public struct FieldRoundsOutcome {
    public var lines: [String] = []
    public var timerFindings: [String] = []
    public var kptrFindings: [String] = []
    /// The kernel refused the timer program (the verifier's reason); no timer round ran.
    public var timerSkip: String?
    /// The kernel has no local kptrs (the reason); the kptr round did not run.
    public var kptrSkip: String?
}

public enum FieldRounds {
    /// Element, eviction and close rounds of armed timers, then the kptr round. `around` wraps
    /// each round (map-fuzz records each as one op, so that no round outlives the op deadline).
    public static func run(_ plan: TimerRounds, label: String = "",
                           around: (String, () throws -> Void) throws -> Void = { _, body in try body() }) throws -> FieldRoundsOutcome {
        var out = FieldRoundsOutcome()
        func instance() throws -> TimerArming? {
            switch try TimerArming.load() {
            case .supported(let t): return t
            case .unsupported(let why): out.timerSkip = why; return nil
            }
        }
        try around("timer element round") {
            guard let t = try instance() else { return }
            defer { t.close() }
            let e = try plan.elementRound(t)
            out.lines.append("\(label)elements: \(e.model.timers.count) armed (\(e.model.leftAlone.count) left alone), fires \(e.fires.map(String.init).joined(separator: ",")), \(e.findings.count) finding(s)")
            out.timerFindings += e.findings
        }
        if out.timerSkip != nil { return out }
        try around("timer eviction round") {
            guard let v = try instance() else { return }
            defer { v.close() }
            let ev = try plan.evictionRound(v)
            out.lines.append("\(label)eviction: \(ev.model.timers.count) armed (\(ev.model.leftAlone.count) left alone), fires \(ev.fires.map(String.init).joined(separator: ",")), \(ev.findings.count) finding(s)")
            out.timerFindings += ev.findings
        }
        try around("timer close round") {
            guard let a = try instance() else { return }
            defer { a.close() }
            guard let b = try instance() else { return }
            defer { b.close() }
            let c = try plan.closeRound(victim: a, sentinel: b)
            out.lines.append("\(label)close: \(c.model.timers.count) armed, fires \(c.fires.map(String.init).joined(separator: ",")), \(c.findings.count) finding(s)")
            out.timerFindings += c.findings
        }
        try around("kptr round") {
            switch try KptrStash.load() {
            case .supported(let k):
                defer { k.close() }
                let kr = try KptrRounds().round(k)
                out.lines.append("\(label)kptrs: \(kr.model.count) elements peeked, \(kr.findings.count) finding(s)")
                out.kptrFindings += kr.findings
            case .unsupported(let why):
                out.lines.append("\(label)kptrs: skipped: \(why)")
                out.kptrSkip = why
            }
        }
        return out
    }

    /// map-fuzz's `armed-timers` and `kptr-fields` checks: one pass by a worker's first thread,
    /// after its first programs. The waits are capped at 8 s, under the 10 s op deadline, so that
    /// a timer that never fires is this check's failure, not a hang; a stop ends them at once.
    /// Slow machines are covered by the oracle's `tooLate` rule, not by a longer delay.
    static func judge(_ thread: ThreadContext, scenario: String) {
        var plan = TimerRounds(delayNs: 200_000_000)
        plan.waitSeconds = 8
        plan.keepRunning = { thread.keepRunning }
        let outcome: FieldRoundsOutcome
        do {
            outcome = try run(plan) { what, body in
                try thread.op(.check, label: what) { try body() }
            }
        } catch is TimerRoundsStopped {
            let why = "the campaign stopped before the rounds finished"
            thread.worker.skipCheck("armed-timers", reason: why)
            thread.worker.skipCheck("kptr-fields", reason: why)
            return
        } catch {
            thread.fail("armed-timers", title: "armed-timer rounds could not run in \(scenario)", detail: "\(error)")
            return
        }
        if let why = outcome.timerSkip {
            thread.worker.skipCheck("armed-timers", reason: why)
        } else if outcome.timerFindings.isEmpty {
            thread.pass("armed-timers")
        }
        for f in outcome.timerFindings {
            thread.fail("armed-timers", title: "armed bpf_timer not cancelled when its field was freed in \(scenario)", detail: f)
        }
        if let why = outcome.timerSkip ?? outcome.kptrSkip {
            thread.worker.skipCheck("kptr-fields", reason: why)
        } else if outcome.kptrFindings.isEmpty {
            thread.pass("kptr-fields")
        }
        for f in outcome.kptrFindings {
            thread.fail("kptr-fields", title: "local kptr not freed with its element in \(scenario)", detail: f)
        }
    }
}
