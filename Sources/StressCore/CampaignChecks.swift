// The checks of a campaign as a whole: no leaks, a clean kernel log, a run that finished.
import Reports

extension CheckSpec {
    public static let noLeaks = CheckSpec("no-leaks", "after teardown nothing the campaign created is still alive (ownership ledger)")
    public static let kernelLog = CheckSpec("kernel-log", "the kernel logged no report (WARNING, BUG, lockdep, stall, ...) during the campaign")
    public static let campaignComplete = CheckSpec("campaign-complete", "the campaign ran its whole duration and its report is final")
    public static let campaign: [CheckSpec] = [noLeaks, kernelLog, campaignComplete]
}

extension Coordinator {
    /// Verdicts of the campaign checks, tri-state like the scenarios' own: a check that could
    /// not run says why instead of passing.
    func campaignChecks(final: Bool, wall: Double, interrupted: String?) -> [CheckSummary] {
        func verdict(_ c: CheckSpec, ran: Bool, notRun: String) -> CheckSummary {
            let failed = UInt64(findings.filter { $0.check == c.name }.count)
            if failed > 0 { return CheckSummary(name: c.name, passed: 0, failed: failed) }
            return ran ? CheckSummary(name: c.name, passed: 1, failed: 0)
                       : CheckSummary(name: c.name, passed: 0, failed: 0, skipReason: notRun)
        }
        let leaks = verdict(.noLeaks, ran: leakCheckRan,
                            notRun: leakCheckSkipped ?? "not run yet: the leak check runs after teardown")
        let kernel = verdict(.kernelLog, ran: final && kernelLog != nil,
                             notRun: kernelLogSkipped ?? (final ? "the kernel log was not watched"
                                                              : "not final yet: the kernel log is read to the end after teardown"))
        var complete: CheckSummary
        if !final {
            complete = CheckSummary(name: CheckSpec.campaignComplete.name, passed: 0, failed: 1, detail: String(
                format: "report incomplete: a snapshot taken %.1f s into a %.0f s campaign; the coordinator had not finished when it was written (still running, or killed)",
                wall, plan.campaign.duration))
        } else if let sig = interrupted {
            complete = CheckSummary(name: CheckSpec.campaignComplete.name, passed: 0, failed: 1, detail: String(
                format: "interrupted by %@ after %.1f s of %.0f s: the report is complete for what ran", sig, wall,
                plan.campaign.duration))
        } else {
            complete = CheckSummary(name: CheckSpec.campaignComplete.name, passed: 1, failed: 0)
        }
        return [leaks, kernel, complete]
    }
}
