import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Reports

final class RunReportBuilderTests: XCTestCase {
    func bucket(_ sig: String, scenario: String, check: String, type: FindingType = .failure, count: Int = 1) -> FindingBucket {
        FindingBucket(signature: sig, type: type, title: "title \(sig)", scenario: scenario, check: check, count: count,
                      firstSeen: Date(timeIntervalSince1970: 1_795_383_006), lastSeen: Date(timeIntervalSince1970: 1_795_383_007),
                      dumps: ["first dump of \(sig)\n#0 \u{1b}frame", "second"], ops: ["lookup_batch"])
    }

    func summary() -> RunSummary {
        RunSummary(
            version: "0.1.0", campaign: "smoke", seed: 42, runtime: "linux-bpf", kernelRelease: "6.18.0-bpf",
            hostname: "vm", startedAt: Date(timeIntervalSince1970: 1_795_383_005),
            endedAt: Date(timeIntervalSince1970: 1_795_383_025), durationSeconds: 20, workers: 2, threads: 2, exitCode: 1,
            scenarios: [
                ScenarioSummary(name: "percpu-batch", workers: 2, threads: 4, ops: 1000, opsPerSecond: 50,
                                opsByKind: ["update": 600, "lookup_batch": 400], toleratedErrnos: ["ENOENT": 12, "E2BIG": 1],
                                checks: [CheckSummary(name: "values-exact", passed: 10, failed: 0),
                                         CheckSummary(name: "counter-exact", passed: 5, failed: 3),
                                         CheckSummary(name: "no-efault", passed: 9, failed: 1),
                                         CheckSummary(name: "canary", passed: 0, failed: 2)]),
                ScenarioSummary(name: "lock-contention", status: "skipped", skipReason: "no tracefs <here>",
                                workers: 0, threads: 0),
            ],
            workerDeaths: [WorkerDeath(slot: 1, pid: 4242, scenario: "percpu-batch", reason: "SIGSEGV",
                                       at: Date(timeIntervalSince1970: 1_795_383_010))],
            buckets: [
                bucket("s1", scenario: "percpu-batch", check: "counter-exact", count: 2),
                bucket("s2", scenario: "percpu-batch", check: "counter-exact"),
                bucket("s3", scenario: "percpu-batch", check: "no-efault"),
                bucket("s4", scenario: "percpu-batch", check: "worker-alive", type: .crash),
                bucket("s5", scenario: "gone", check: "leak-check", type: .leak),
            ])
    }

    func testSuitesCasesAndNames() {
        let suites = RunReportBuilder.junitSuites(summary: summary(), systemOut: "the log")
        XCTAssertEqual(suites.map(\.name), ["percpu-batch", "lock-contention", "bpfstress"])
        XCTAssertEqual(suites.map(\.id), [0, 1, 2])

        let s = suites[0]
        XCTAssertEqual(s.cases.map(\.name), ["values-exact", "counter-exact [title s1]", "counter-exact [title s2]",
                                             "no-efault", "canary", "worker-alive"])
        XCTAssertEqual(s.cases[0].outcome, .passed)
        guard case let .failed(type, message, text) = s.cases[1].outcome else { return XCTFail("\(s.cases[1])") }
        XCTAssertEqual(type, "failure")
        XCTAssertEqual(message, "title s1 (2 times)")
        XCTAssertTrue(text.hasSuffix("\n\nfirst dump of s1\n#0 \u{1b}frame"), text)
        XCTAssertTrue(text.contains("signature: s1\ncount: 2\nops: lookup_batch\n"), text)
        XCTAssertEqual(s.cases[3].name, "no-efault")  // single bucket keeps the plain check name
        XCTAssertEqual(s.cases[4].outcome, .failed(type: "failure", message: "2 of 2 evaluations failed",
                                                   text: "2 of 2 evaluations failed (no dump was recorded)"))
        if case let .failed(type, _, _) = s.cases[5].outcome { XCTAssertEqual(type, "crash") } else { XCTFail() }
        XCTAssertEqual(s.systemOut, "the log")
        XCTAssertEqual(s.systemErr, "worker slot 1 pid 4242 (percpu-batch) died at 2026-11-22T21:30:10.000Z: SIGSEGV\n")
        XCTAssertEqual(s.properties.map(\.name), ["kernel.release", "seed", "campaign", "runtime", "version", "workers",
                                                  "threads", "duration", "ops", "ops_per_second",
                                                  "ops.lookup_batch", "ops.update", "errno.E2BIG", "errno.ENOENT"])
        XCTAssertEqual(s.properties.map(\.value), ["6.18.0-bpf", "42", "smoke", "linux-bpf", "0.1.0", "2", "4", "20.000",
                                                   "1000", "50.000", "400", "600", "1", "12"])

        XCTAssertEqual(suites[1].cases, [TestCaseResult(name: "lock-contention", classname: "bpfstress.lock-contention",
                                                        outcome: .skipped(message: "no tracefs <here>"))])
        XCTAssertEqual(suites[1].systemOut, "")
        XCTAssertEqual(suites[2].cases.map(\.name), ["leak-check"])
        XCTAssertEqual(suites[2].cases.map(\.classname), ["bpfstress"])
    }

    /// Properties a scenario reported (map-fuzz's kernel facts) follow the counters, by name.
    func testScenarioPropertiesFollowTheCounters() {
        var s = summary()
        s.scenarios[0].properties = ["fact.b": "EPERM", "fact.a": "168"]
        let p = RunReportBuilder.junitSuites(summary: s, systemOut: "").first!.properties
        XCTAssertEqual(Array(p.map(\.name).suffix(6)), ["ops.lookup_batch", "ops.update", "errno.E2BIG", "errno.ENOENT", "fact.a", "fact.b"])
        XCTAssertEqual(p.last?.value, "EPERM")
    }

    func testAttributeCountsEqualTheCasesInRenderedXML() throws {
        let suites = RunReportBuilder.junitSuites(summary: summary(), systemOut: "log \0 line")
        XCTAssertEqual(suites.map(\.tests), [6, 1, 1])
        XCTAssertEqual(suites.map(\.failures), [5, 0, 1])
        XCTAssertEqual(suites.map(\.skipped), [0, 1, 0])
        let xml = JUnitWriter.render(suites)
        let doc = try XMLDocument(data: Data(xml.utf8))
        let suiteEls = try doc.nodes(forXPath: "/testsuites/testsuite") as! [XMLElement]
        XCTAssertEqual(suiteEls.count, 3)
        for el in suiteEls {
            let cases = el.elements(forName: "testcase")
            func attr(_ n: String) -> Int { Int(el.attribute(forName: n)!.stringValue!)! }
            XCTAssertEqual(attr("tests"), cases.count)
            XCTAssertEqual(attr("failures"), cases.filter { !$0.elements(forName: "failure").isEmpty }.count)
            XCTAssertEqual(attr("errors"), cases.filter { !$0.elements(forName: "error").isEmpty }.count)
            XCTAssertEqual(attr("skipped"), cases.filter { !$0.elements(forName: "skipped").isEmpty }.count)
        }
        let dir = try makeTempDir("builder")
        defer { removeTree(dir) }
        try AtomicFile.write(xml, to: dir + "/junit.xml")
        let r = try validateJUnit(dir + "/junit.xml")
        XCTAssertEqual(r.status, 0, r.output)
    }

    func testEmptyRunStillYieldsOneValidSuite() {
        var s = summary()
        s.scenarios = []; s.buckets = []; s.workerDeaths = []
        let suites = RunReportBuilder.junitSuites(summary: s, systemOut: "")
        XCTAssertEqual(suites.count, 1)
        XCTAssertEqual(suites[0].name, "bpfstress")
        XCTAssertEqual(suites[0].tests, 0)
    }

    /// A check the machine cannot run is a skipped testcase with the reason; one that some
    /// thread still evaluated is not hidden by the skip.
    func testSkippedCheckBecomesASkippedTestcase() {
        var s = summary()
        s.buckets = []
        s.scenarios = [ScenarioSummary(name: "extension-restart", workers: 1, threads: 3, ops: 10, opsPerSecond: 1,
                                       opsByKind: [:], toleratedErrnos: [:],
                                       checks: [CheckSummary(name: "structops-churn", passed: 0, failed: 0,
                                                             skipReason: "struct_ops churn skipped: no BTF"),
                                                CheckSummary(name: "netns-churn", passed: 3, failed: 0,
                                                             skipReason: "ignored: it ran")])]
        let suite = RunReportBuilder.junitSuites(summary: s, systemOut: "")[0]
        XCTAssertEqual(suite.cases.map(\.name), ["structops-churn", "netns-churn"])
        XCTAssertEqual(suite.cases[0].outcome, .skipped(message: "struct_ops churn skipped: no BTF"))
        XCTAssertEqual(suite.cases[1].outcome, .passed)
        XCTAssertEqual(suite.skipped, 1)
    }
}
