import Foundation

/// Turns a `RunSummary` into JUnit suites: CI shows one suite per scenario and one testcase per check.
public enum RunReportBuilder {
    /// One testsuite per scenario (index = id), properties first: kernel.release, seed, campaign, workers,
    /// threads, duration, ops, ops_per_second, then ops.<kind> and errno.<NAME> (sorted by name).
    /// Per check: passed (evaluated at least once, never failed); skipped with the reason when it was
    /// evaluated 0 times (a check that did not run is never passed); or one failed testcase per bucket (named "<check> [<title>]" when the check has
    /// several buckets) with the first dump as text; or, failed without any bucket, a failure saying how many.
    /// Buckets whose check the scenario does not list (hangs, crashes) become testcases of their own, and
    /// buckets of no listed scenario go to an extra "bpfstress" suite, so no finding is lost from CI.
    /// Skipped scenarios become one skipped testcase carrying the reason. `systemOut` (the run log) goes
    /// into the first suite only; worker deaths go to the system-err of their scenario's suite.
    public static func junitSuites(summary: RunSummary, systemOut: String) -> [TestSuiteResult] {
        var suites: [TestSuiteResult] = []
        let scenarioNames = Set(summary.scenarios.map(\.name))
        for (i, sc) in summary.scenarios.enumerated() {
            let classname = "bpfstress." + sc.name
            var suite = TestSuiteResult(
                name: sc.name, package: "bpfstress", id: i, timestamp: summary.startedAt,
                hostname: summary.hostname, time: summary.durationSeconds,
                properties: properties(summary, sc))
            if sc.isSkipped {
                suite.cases = [TestCaseResult(name: sc.name, classname: classname, time: 0,
                                              outcome: .skipped(message: sc.skipReason ?? "skipped"))]
            } else {
                let mine = summary.buckets.filter { $0.scenario == sc.name }
                suite.cases = checkCases(sc.checks, buckets: mine, classname: classname)
            }
            suite.systemErr = deaths(summary.workerDeaths.filter { $0.scenario == sc.name })
            suites.append(suite)
        }
        // The campaign's own checks, and findings of no listed scenario, in a "bpfstress" suite.
        let orphans = summary.buckets.filter { !scenarioNames.contains($0.scenario) }
        let orphanDeaths = summary.workerDeaths.filter { !scenarioNames.contains($0.scenario) }
        let campaignChecks = summary.campaignChecks ?? []
        if !orphans.isEmpty || !orphanDeaths.isEmpty || !campaignChecks.isEmpty || suites.isEmpty {
            var suite = TestSuiteResult(
                name: "bpfstress", package: "bpfstress", id: suites.count, timestamp: summary.startedAt,
                hostname: summary.hostname, time: summary.durationSeconds,
                properties: baseProperties(summary, workers: summary.workers, threads: summary.threads))
            suite.cases = checkCases(campaignChecks, buckets: orphans, classname: "bpfstress")
            suite.systemErr = deaths(orphanDeaths)
            suites.append(suite)
        }
        suites[0].systemOut = systemOut
        return suites
    }

    /// One testcase per check (passed, skipped when not run, or one failed case per bucket),
    /// then the buckets of checks not listed (hangs, crashes), so no finding is lost from CI.
    static func checkCases(_ checks: [CheckSummary], buckets: [FindingBucket], classname: String) -> [TestCaseResult] {
        var cases: [TestCaseResult] = []
        for check in checks {
            let mine = buckets.filter { $0.check == check.name }
            if !mine.isEmpty {
                cases += bucketCases(mine, check: check.name, classname: classname)
            } else if check.verdict == .notRun {
                cases.append(TestCaseResult(name: check.name, classname: classname,
                                            outcome: .skipped(message: check.notRunReason)))
            } else if check.failed == 0 {
                cases.append(TestCaseResult(name: check.name, classname: classname, outcome: .passed))
            } else {
                let total = check.passed + check.failed
                let msg = check.detail ?? "\(check.failed) of \(total) evaluations failed"
                cases.append(TestCaseResult(
                    name: check.name, classname: classname,
                    outcome: .failed(type: FindingType.failure.rawValue, message: msg,
                                     text: msg + (check.detail == nil ? " (no dump was recorded)" : ""))))
            }
        }
        let listed = Set(checks.map(\.name))
        let unlisted = buckets.filter { !listed.contains($0.check) }
        for check in orderedUnique(unlisted.map(\.check)) {
            cases += bucketCases(unlisted.filter { $0.check == check }, check: check, classname: classname)
        }
        return cases
    }

    static func bucketCases(_ buckets: [FindingBucket], check: String, classname: String) -> [TestCaseResult] {
        buckets.map { b in
            let name = buckets.count > 1 ? "\(check) [\(b.title)]" : check
            let message = b.count == 1 ? b.title : "\(b.title) (\(b.count) times)"
            var text = "\(b.title)\nsignature: \(b.signature)\ncount: \(b.count)\n"
            if let ops = b.ops, !ops.isEmpty { text += "ops: \(ops.joined(separator: ", "))\n" }
            text += "\n" + (b.dumps.first ?? "(no dump)")
            return TestCaseResult(name: name, classname: classname,
                                  outcome: .failed(type: b.type.rawValue, message: message, text: text))
        }
    }

    static func baseProperties(_ s: RunSummary, workers: Int, threads: Int) -> [(name: String, value: String)] {
        [("kernel.release", s.kernelRelease), ("seed", String(s.seed)), ("campaign", s.campaign),
         ("runtime", s.runtime), ("version", s.version),
         ("workers", String(workers)), ("threads", String(threads)),
         ("duration", JUnitWriter.decimal(s.durationSeconds))]
    }

    static func properties(_ s: RunSummary, _ sc: ScenarioSummary) -> [(name: String, value: String)] {
        var p = baseProperties(s, workers: sc.workers, threads: sc.threads)
        p.append(("ops", String(sc.ops)))
        p.append(("ops_per_second", JUnitWriter.decimal(sc.opsPerSecond)))
        for k in sc.opsByKind.keys.sorted() { p.append(("ops.\(k)", String(sc.opsByKind[k]!))) }
        for k in sc.toleratedErrnos.keys.sorted() { p.append(("errno.\(k)", String(sc.toleratedErrnos[k]!))) }
        for (k, v) in (sc.properties ?? [:]).sorted(by: { $0.key < $1.key }) { p.append((k, v)) }
        for l in sc.latency ?? [] {
            p.append(("latency.\(l.kind).p50_us", JUnitWriter.decimal(l.p50Us)))
            p.append(("latency.\(l.kind).p99_us", JUnitWriter.decimal(l.p99Us)))
        }
        return p
    }

    static func deaths(_ ds: [WorkerDeath]) -> String {
        ds.map { "worker slot \($0.slot) pid \($0.pid) (\($0.scenario)) died at \(RunLog.stamp($0.at)): \($0.reason)\n" }
            .joined()
    }

    static func orderedUnique(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }
}
