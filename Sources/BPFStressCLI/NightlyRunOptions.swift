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
    var thresholds = Regression.Thresholds()
    var shard: ShardSpec?

    /// Checks every flag and the campaign's `baseline:`/`*regression_threshold:`; one line, exit 2, on bad input.
    static func prepare(campaign: Campaign, baseline: String?, threshold: String?, p99Threshold: String?,
                        shard: String?) -> NightlyRunOptions {
        var o = NightlyRunOptions()
        o.thresholds.opsPercent = percent(threshold, flag: "--regression-threshold") ?? campaign.regressionThresholdPercent
            ?? Regression.defaultOpsThresholdPercent
        o.thresholds.p99Percent = percent(p99Threshold, flag: "--p99-regression-threshold") ?? campaign.p99RegressionThresholdPercent
            ?? Regression.defaultP99ThresholdPercent
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

    /// A positive percentage flag (`40` or `40%`); nil when not given.
    static func percent(_ text: String?, flag: String) -> Double? {
        guard let t = text else { return nil }
        var v = t.trimmingCharacters(in: .whitespaces)
        if v.hasSuffix("%") { v.removeLast() }
        guard let d = Double(v), d.isFinite, d > 0, d <= 100_000 else {
            die("\(flag) takes a positive percentage, e.g. 60 (got '\(t)')", ExitCodes.usage)
        }
        return d
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
                                       thresholds: thresholds)
        outcome.log.append("baseline \(dir): \(regs.count) regression(s) (thresholds: ops/s -\(thresholds.opsPercent)%, p99 +\(thresholds.p99Percent)%)")
        for f in regs { outcome.log.append("finding [regression] \(f.title)") }
        guard !regs.isEmpty else { return }
        outcome.findings += regs
        let store = BucketStore()
        outcome.findings.forEach(store.add)
        outcome.summary.buckets = store.buckets
        outcome.summary.exitCode = 1
    }
}
