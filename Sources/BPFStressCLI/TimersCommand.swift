// `bpfstress fuzz-timers`: arms bpf_timer fields and checks that freeing the field cancels them.
import ArgumentParser
import BPFKit
import Scenarios

/// Runs the armed-timer rounds (SupportTimerOracle.swift) against the running kernel, e.g. in a
/// guest with `vm-exec`: timers of deleted, overwritten and LRU-evicted elements and of closed
/// maps never fire, the left-alone controls fire once, and closed maps leave no id behind.
/// Then the kptr round (SupportKptrStash.swift), or its skip line where the kernel has no local kptrs.
struct TimersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz-timers",
        abstract: "Arm bpf_timer fields and stash local kptrs in hash, LRU and array maps; check that delete, update, eviction and close free them.",
        discussion: "Exit: 0 no findings, 1 findings, 2 usage, 3 environment (not root, or the kernel refuses the timer program: the check is skipped with the verifier's reason).")

    @Option(name: .customLong("delay"), help: "Timer delay, e.g. 200ms (1ms...10s).") var delay: String = "200ms"
    @Option(help: "Rounds of each kind (1...100).") var rounds: Int = 1

    func run() throws {
        let secs = Bounds.duration(delay, "--delay")
        guard secs >= 0.001 && secs <= 10 else { die("--delay must be 1ms...10s (got '\(delay)')", ExitCodes.usage) }
        _ = Bounds.count(rounds, "--rounds", 1...100)
        guard Probes.isRoot() else { die("needs root (CAP_BPF) to load programs", ExitCodes.environment) }
        let plan = TimerRounds(delayNs: UInt64(secs * 1e9))
        var findings: [String] = []
        var skipped = 0
        do {
            for i in 1...rounds {
                let o = try FieldRounds.run(plan, label: "round \(i) ")
                if let why = o.timerSkip {
                    Stderr.write("bpfstress: fuzz-timers skipped: \(why)\n")
                    throw ExitCode(ExitCodes.environment)
                }
                o.lines.forEach { print($0) }
                findings += o.timerFindings + o.kptrFindings
                if o.kptrSkip != nil { skipped += 1 }
            }
        } catch let skip as ExitCode {
            throw skip
        } catch {
            die("fuzz-timers: \(error)", ExitCodes.internalError)
        }
        for f in findings { print("finding: \(f)") }
        let skips = skipped == 0 ? "" : ", \(skipped) kptr round(s) skipped"
        print((findings.isEmpty ? "fuzz-timers: no findings" : "fuzz-timers: \(findings.count) finding(s)") + skips)
        throw ExitCode(findings.isEmpty ? ExitCodes.clean : ExitCodes.findings)
    }
}
