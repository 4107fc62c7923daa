// `run --baseline/--regression-threshold/--shard`: validated before the campaign, applied to its outcome.
import CampaignFile
import Foundation
import Nightly
import Reports
import StressCore

/// What `run` does for nightly use: compare with a baseline, run as one shard.
struct NightlyRunOptions {
    var baselineDir: String?
    var baseline: RunSummary?
    var thresholdPercent = Regression.defaultThresholdPercent
    var shard: ShardSpec?

    /// Checks every flag and the campaign's `baseline:`/`regression_threshold:`; one line, exit 2, on bad input.
    static func prepare(campaign: Campaign, baseline: String?, threshold: String?, shard: String?) -> NightlyRunOptions {
        var o = NightlyRunOptions()
        if let t = threshold {
            var text = t.trimmingCharacters(in: .whitespaces)
            if text.hasSuffix("%") { text.removeLast() }
            guard let v = Double(text), v.isFinite, v > 0, v <= 1000 else {
                die("--regression-threshold takes a positive percentage, e.g. 40 (got '\(t)')", ExitCodes.usage)
            }
            o.thresholdPercent = v
        } else if let v = campaign.regressionThresholdPercent {
            o.thresholdPercent = v
        }
        if let dir = baseline ?? campaign.baseline {
            do { o.baseline = try Regression.loadBaseline(dir, campaign: campaign.name) } catch {
                die("--baseline: \(error)", ExitCodes.usage)
            }
            o.baselineDir = dir
        }
        if let s = shard {
            do { o.shard = try ShardSpec.parse(s) } catch { die("\(error)", ExitCodes.usage) }
        }
        return o
    }

    /// Gives the plan this shard's slot range (exit 2 when the campaign needs more slots than a shard has).
    func apply(to plan: inout RunPlan, options: RunOptions) {
        guard let s = shard else { return }
        do { try s.check(slotsNeeded: Coordinator.slotsNeeded(plan: plan, options: options)) } catch {
            die("\(error)", ExitCodes.usage)
        }
        plan.firstSlot = s.firstSlot
    }

    /// Records the shard and adds regression findings against the baseline to a finished run.
    func apply(to outcome: inout RunOutcome, coordinator: Coordinator) {
        if let s = shard {
            outcome.summary.shard = ShardInfo(index: s.index, count: s.count, firstSlot: s.firstSlot,
                                              slotSpan: ShardSpec.slotSpan, workerSeeds: coordinator.workerSeeds)
        }
        guard let b = baseline, let dir = baselineDir else { return }
        outcome.summary.baseline = dir
        let regs = Regression.findings(current: outcome.summary, baseline: b, baselinePath: dir,
                                       thresholdPercent: thresholdPercent)
        outcome.log.append("baseline \(dir): \(regs.count) regression(s) at threshold \(thresholdPercent)%")
        for f in regs { outcome.log.append("finding [regression] \(f.title)") }
        guard !regs.isEmpty else { return }
        outcome.findings += regs
        let store = BucketStore()
        outcome.findings.forEach(store.add)
        outcome.summary.buckets = store.buckets
        outcome.summary.exitCode = 1
    }
}
