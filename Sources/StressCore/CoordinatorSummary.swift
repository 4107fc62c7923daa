// The coordinator's view of a run: totals, the status line, the outcome and its summary.
import Basics
import BPFKit
import CBPFStress
import Capture
import Foundation
import Reports

extension Coordinator {
    // MARK: - status and summary

    struct Totals { var ops: UInt64 = 0; var kindOps = [UInt64](repeating: 0, count: Int(BPFS_MAX_KINDS))
        var errnoSeen = [UInt64](repeating: 0, count: Int(BPFS_MAX_ERRNO))
        var errnoTolerated = [UInt64](repeating: 0, count: Int(BPFS_MAX_ERRNO))
        var checkPass = [UInt64](repeating: 0, count: Int(BPFS_MAX_CHECKS))
        var checkFail = [UInt64](repeating: 0, count: Int(BPFS_MAX_CHECKS)) }

    func totals(scenarioIndex: Int?) -> Totals {
        var t = Totals()
        for u in usedSlots where scenarioIndex == nil || u.scenarioIndex == scenarioIndex {
            let n = min(Int(telemetry.slot(u.slot).pointee.nthreads), Int(BPFS_MAX_THREADS))
            for th in 0..<n {
                let s = telemetry.snapshot(slot: u.slot, thread: th)
                t.ops += s.opsTotal
                for i in 0..<t.kindOps.count { t.kindOps[i] += s.kindOps[i] }
                for i in 0..<t.errnoSeen.count { t.errnoSeen[i] += s.errnoSeen[i]; t.errnoTolerated[i] += s.errnoTolerated[i] }
                for i in 0..<t.checkPass.count { t.checkPass[i] += s.checkPass[i]; t.checkFail[i] += s.checkFail[i] }
            }
        }
        return t
    }


    /// "spawning workers N/M": redrawn on a TTY, one plain line (at 0) otherwise.
    func spawnStatus(_ done: Int, of total: Int) {
        if options.quiet { return }
        let line = String(format: "[%5.1fs/%.0fs] spawning workers %d/%d", Date().timeIntervalSince(started),
                          plan.campaign.duration, done, total)
        if options.statusToTTY {
            Stderr.write("\r\u{1B}[K" + line)
        } else if done == 0 {
            Stderr.write("bpfstress: " + line + "\n")
        }
    }

    func printStatus(final: Bool) {
        let elapsed = Date().timeIntervalSince(started)
        let ops = totals(scenarioIndex: nil).ops
        let dt = Date().timeIntervalSince(lastOpsAt)
        let rate = dt > 0 ? Double(ops &- lastOps) / dt : 0
        lastOps = ops; lastOpsAt = Date()
        let line = String(format: "[%5.1fs/%.0fs] ops %llu  ops/s %.0f  workers %d/%d  restarts %d  findings %d",
                          elapsed, plan.campaign.duration, ops, rate, liveWorkers.count,
                          plan.scenarios.map(\.workers).reduce(0, +), restarts, findings.count)
        if options.quiet { return }
        if options.statusToTTY {
            Stderr.write("\r\u{1B}[K" + line + (final ? "\n" : ""))
        } else {
            Stderr.write("bpfstress: " + line + "\n")
        }
        logLines.append(line)
    }

    /// The run as it stands. `final` once everything is torn down; otherwise a snapshot for
    /// the periodic report, which says that it is incomplete.
    func makeOutcome(final: Bool = true) -> RunOutcome {
        if final { attachWorkerState() }
        let ended = Date()
        let wall = max(0.001, ended.timeIntervalSince(started))
        var scenarios: [ScenarioSummary] = []
        for (i, s) in plan.scenarios.enumerated() {
            let t = totals(scenarioIndex: i)
            var byKind: [String: UInt64] = [:]
            for k in OpKind.allCases where k != .none && t.kindOps[Int(k.rawValue)] > 0 { byKind[k.name] = t.kindOps[Int(k.rawValue)] }
            var tolerated: [String: UInt64] = [:]
            for (e, n) in t.errnoTolerated.enumerated() where n > 0 && e > 0 { tolerated[ErrnoName.name(Int32(e))] = n }
            let mine = workers.filter { $0.scenarioIndex == i }
            let checks = s.descriptor.checks.enumerated().map { (ci, c) -> CheckSummary in
                let failedHere = UInt64(findings.filter { $0.scenario == s.descriptor.name && $0.check == c.name }.count)
                // The coordinator is the judge of these two, one evaluation per worker process.
                var passed = t.checkPass[ci]
                if c.name == CheckSpec.workerSurvives.name { passed = UInt64(mine.filter(\.endedClean).count) }
                if c.name == CheckSpec.noHang.name { passed = UInt64(mine.filter { $0.exited && !$0.hung }.count) }
                return CheckSummary(name: c.name, passed: passed, failed: max(t.checkFail[ci], failedHere),
                                    skipReason: skippedChecks[s.descriptor.name + "/" + c.name])
            }
            scenarios.append(ScenarioSummary(name: s.descriptor.name, status: "ran", skipReason: nil, workers: s.workers,
                                             threads: s.threads, ops: t.ops, opsPerSecond: Double(t.ops) / wall,
                                             opsByKind: byKind, toleratedErrnos: tolerated, checks: checks))
            scenarios[scenarios.count - 1].latency = latency(scenarioIndex: i)
            scenarios[scenarios.count - 1].properties = scenarioProperties[s.descriptor.name]
        }
        for sk in plan.skipped {
            scenarios.append(ScenarioSummary(name: sk.name, status: "skipped", skipReason: sk.reason, workers: 0, threads: 0,
                                             ops: 0, opsPerSecond: 0, opsByKind: [:], toleratedErrnos: [:], checks: []))
        }
        let store = BucketStore()
        findings.forEach(store.add)
        let summary = RunSummary(version: BPFStressVersion.string, campaign: plan.campaign.name,
                                 seed: plan.seed, runtime: runtime.name, kernelRelease: environment.kernelRelease,
                                 hostname: environment.hostname, startedAt: started, endedAt: ended,
                                 durationSeconds: wall, workers: plan.scenarios.map(\.workers).reduce(0, +),
                                 threads: plan.campaign.threads, exitCode: 0,
                                 scenarios: scenarios, workerDeaths: deaths, buckets: store.buckets)
        var full = summary
        let signal = bpfs_stop_signal()
        full.interrupted = signal != 0 ? FindingTitles.signalName(signal) : nil
        full.complete = final
        full.campaignChecks = campaignChecks(final: final, wall: wall, interrupted: full.interrupted)
        full.exitCode = !findings.isEmpty ? RunExit.findings : (full.interrupted != nil ? RunExit.interrupted : RunExit.clean)
        full.staleCleaned = staleCleaned.isEmpty ? nil : staleCleaned
        full.timeline = timeline
        var params: [String: String] = ["duration": "\(plan.campaign.duration)s", "workers": "\(full.workers)",
                                        "threads": "\(plan.campaign.threads)", "seed": "\(plan.seed)",
                                        "deadline": "\(plan.defaultDeadline)s", "runtime": runtime.name]
        for (k, v) in plan.deadlines { params["deadline.\(k)"] = "\(v)s" }
        for s in plan.scenarios {
            for (k, v) in s.params { params["\(s.descriptor.name).\(k)"] = v.display }
        }
        for sk in plan.skipped { params["skipped.\(sk.name)"] = sk.reason }
        full.parameters = params
        return RunOutcome(summary: full, findings: findings, log: logLines)
    }
}
