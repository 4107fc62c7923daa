// The host's report of a guest campaign: every guest finding, guest-level findings, the `vm` suite.
import Foundation
import Reports

enum VMReport {
    /// The JUnit suite (and summary scenario) that holds guest-level results.
    static let scenario = "vm"
    static let checks = ["guest-boot", "no-guest-panic", "no-guest-hang", "guest-result", "kernel-console"]

    /// `interrupted`: the signal that stopped the host early ("SIGINT"), nil when the campaign ran its course.
    static func summary(cfg: VMRunConfig, records: [BootRecord], started: Date, ended: Date,
                        interrupted: String? = nil) -> RunSummary {
        var scenarios: [ScenarioSummary] = []
        var buckets: [FindingBucket] = []
        var deaths: [WorkerDeath] = []
        var counts = Dictionary(uniqueKeysWithValues: checks.map { ($0, (pass: UInt64(0), fail: UInt64(0))) })
        var guestCodes: [Int32] = []
        var vmFindings: [Finding] = []
        for r in records.sorted(by: { ($0.guest, $0.boot) < ($1.guest, $1.boot) }) {
            let label = "vm\(r.guest + 1) boot \(r.boot + 1) (seed \(r.seed), kernel \(cfg.kernel.release))"
            if let s = r.report.summary { GuestMerge.mergeScenarios(&scenarios, s.scenarios) }
            GuestMerge.mergeBuckets(&buckets, r.report.buckets, guest: label)
            let o = r.outcome
            func mark(_ check: String, _ ok: Bool) {
                if ok { counts[check]!.pass += 1 } else { counts[check]!.fail += 1 }
            }
            var guestTitle: String?
            func guestFinding(_ type: FindingType, _ check: String, _ title: String, _ reason: String) {
                guestTitle = title
                vmFindings.append(Finding(type: type, title: title, signature: Signature.compute(title: title, frames: []),
                                          scenario: scenario, check: check, worker: r.guest + 1, op: "guest",
                                          time: started.addingTimeInterval(o.seconds), dump: "guest: \(label)\n" + o.dump))
                deaths.append(WorkerDeath(slot: r.guest + 1, pid: o.qemuPid, scenario: scenario, reason: reason,
                                          at: started.addingTimeInterval(o.seconds)))
            }
            mark("guest-boot", o.bootSeconds != nil)
            switch o.end {
            case .result(let res):
                guestCodes.append(res.exitCode)
                for c in ["no-guest-panic", "no-guest-hang", "guest-result"] { mark(c, true) }
            case .panic(let t):
                mark("no-guest-panic", false); mark("no-guest-hang", true); mark("guest-result", true)
                guestFinding(.kernel, "no-guest-panic", t, "guest panic: \(t)")
            case .hang(let t):
                mark("no-guest-panic", true); mark("no-guest-hang", false); mark("guest-result", true)
                guestFinding(.hang, "no-guest-hang", t, "guest hang: \(t)")
            case .noResult(let w):
                mark("no-guest-panic", true); mark("no-guest-hang", true); mark("guest-result", false)
                guestFinding(.crash, "guest-result", "guest exited without a result", w)
            case .bootFailed(let w):
                guestFinding(.failure, "guest-boot", "guest did not boot \(cfg.kernel.release)", w)
            }
            // Every console report is a kernel finding, unless the guest's own run (its kmsg watcher)
            // or the guest-level finding above already reported it under the same title.
            let seenInGuest = Set(r.report.buckets.filter { $0.type == .kernel }.map(\.title))
            var clean = true
            for rep in o.reports where rep.title != guestTitle && !seenInGuest.contains(rep.title) {
                clean = false
                vmFindings.append(Finding(type: .kernel, title: rep.title, signature: rep.signature, scenario: scenario,
                                          check: "kernel-console", worker: r.guest + 1, op: rep.type,
                                          time: started.addingTimeInterval(o.seconds),
                                          dump: "guest: \(label)\nconsole: \(rep.file)\n"
                                              + (rep.corrupted ? "(report cut off or interleaved)\n" : "") + "\n" + rep.text))
            }
            mark("kernel-console", clean)
        }
        let store = BucketStore()
        for f in vmFindings { store.add(f) }
        buckets = store.buckets + buckets
        // Ops/s: each guest's ops over the seconds its own runs measured them in (the guest
        // summaries' rates), added across guests that ran at once.
        var rate: [String: Double] = [:]
        for (_, boots) in Dictionary(grouping: records, by: \.guest) {
            var ops: [String: Double] = [:], secs: [String: Double] = [:]
            for r in boots { for sc in r.report.summary?.scenarios ?? [] where sc.opsPerSecond > 0 {
                ops[sc.name, default: 0] += Double(sc.ops); secs[sc.name, default: 0] += Double(sc.ops) / sc.opsPerSecond
            } }
            for (n, o) in ops where secs[n]! > 0 { rate[n, default: 0] += o / secs[n]! }
        }
        for i in scenarios.indices { scenarios[i].opsPerSecond = rate[scenarios[i].name] ?? 0 }
        let vmChecks = checks.map { CheckSummary(name: $0, passed: counts[$0]!.pass, failed: counts[$0]!.fail) }
        scenarios.append(ScenarioSummary(name: scenario, workers: cfg.guests, threads: cfg.shape.cpus,
                                         ops: UInt64(records.count), opsPerSecond: 0,
                                         opsByKind: ["guest_boot": UInt64(records.count)], checks: vmChecks))
        let worstGuest = guestCodes.filter { $0 >= 2 }.max()
        // As on the host: findings 1; a guest's own usage/environment/internal error; interrupted 5.
        // A guest's 5 is our own stop request, not its error.
        let exit: Int32
        if !buckets.isEmpty { exit = 1 }
        else if let g = worstGuest, g != 5 { exit = g }
        else if records.isEmpty { exit = 4 }
        else if interrupted != nil { exit = 5 }
        else { exit = 0 }
        let first = records.first?.report.summary
        var s = RunSummary(version: first?.version ?? "", campaign: cfg.campaignName, seed: cfg.seed,
                           runtime: "linux-bpf in qemu guest", kernelRelease: cfg.kernel.release,
                           hostname: ProcessInfo.processInfo.hostName, startedAt: started, endedAt: ended,
                           durationSeconds: ended.timeIntervalSince(started),
                           workers: first?.workers ?? 0, threads: first?.threads ?? 0, exitCode: exit,
                           scenarios: scenarios, workerDeaths: deaths, buckets: buckets)
        s.interrupted = interrupted
        s.complete = true
        let boots = records.compactMap(\.outcome.bootSeconds)
        s.parameters = [
            "kernel": cfg.kernel.image, "kernel.release": cfg.kernel.release,
            "vm.accel": (try? QEMULaunch.accelerator(cfg.shape.accel).arg) ?? cfg.shape.accel,
            "vm.cpus": String(cfg.shape.cpus), "vm.memory": cfg.shape.memory, "vm.count": String(cfg.guests),
            "vm.boots": String(records.count), "vm.restarts": String(records.filter { $0.boot > 0 }.count),
            "vm.restart_budget": String(cfg.restarts), "vm.hang_deadline": String(format: "%.0fs", cfg.hangDeadline),
            "vm.boot": Array(Set(records.map(\.outcome.bootMethod))).sorted().joined(separator: ","),
            "vm.boot_seconds": boots.map { String(format: "%.1f", $0) }.joined(separator: ","),
            "vm.guest_seeds": records.map { "vm\($0.guest + 1)/\($0.boot + 1)=\($0.seed)" }.joined(separator: ","),
        ]
        // Launch to the guest campaign's start (its run directory appeared: workers spawn right
        // after), on the host's clock; the guest's startedAt (whole seconds of its RTC) as a fallback.
        let firstOps = records.compactMap { r in
            r.outcome.campaignSeconds ?? r.report.summary.map { $0.startedAt.timeIntervalSince(r.outcome.launchedAt) }
        }
        s.parameters["vm.first_op_seconds"] = firstOps.map { String(format: "%.1f", $0) }.joined(separator: ",")
        if let probed = first?.parameters { for (k, v) in probed where s.parameters[k] == nil { s.parameters["guest." + k] = v } }
        return s
    }

    /// summary.json, junit.xml, run.log, index.html and findings/, each renamed into place; then `latest`.
    static func write(summary: RunSummary, log: [String], to dir: RunDirectory) throws {
        do {
            try dir.writeFindings(summary.buckets)
            try dir.write("summary.json", data: try ReportJSON.encode(summary))
            let text = log.joined(separator: "\n") + "\n"
            try dir.write("junit.xml", JUnitWriter.render(RunReportBuilder.junitSuites(summary: summary, systemOut: text)))
            try dir.write("run.log", text)
            try dir.write("index.html", HTMLReport.render(summary: summary, log: text))
            try dir.updateLatestLink()
        } catch { throw VMError.io("writing report: \(error)") }
    }
}

