// Merging guest run directories and guest outcomes into the host's summary.
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Reports
import XCTest
@testable import VM

final class MergeTests: XCTestCase {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func bucket(_ sig: String, count: Int, dump: String) -> FindingBucket {
        FindingBucket(signature: sig, type: .failure, title: "t" + sig, scenario: "map-fuzz", check: "oracle-agrees",
                      count: count, firstSeen: t0, lastSeen: t0.addingTimeInterval(Double(count)), dumps: [dump], ops: ["map_freeze"])
    }

    func testBucketsMergeBySignatureAndSayWhichGuest() {
        var all: [FindingBucket] = []
        GuestMerge.mergeBuckets(&all, [bucket("a", count: 2, dump: "d1")], guest: "vm1 boot 1")
        GuestMerge.mergeBuckets(&all, [bucket("a", count: 3, dump: "d2"), bucket("b", count: 1, dump: "d3")], guest: "vm2 boot 1")
        XCTAssertEqual(all.map(\.signature), ["a", "b"])
        XCTAssertEqual(all[0].count, 5)
        XCTAssertEqual(all[0].dumps, ["guest: vm1 boot 1\nd1", "guest: vm2 boot 1\nd2"])
        XCTAssertEqual(all[0].lastSeen, t0.addingTimeInterval(3))
        XCTAssertEqual(all[1].dumps, ["guest: vm2 boot 1\nd3"])
    }

    func testScenarioCountsAddUp() {
        var s: [ScenarioSummary] = []
        GuestMerge.mergeScenarios(&s, [ScenarioSummary(name: "x", workers: 1, threads: 1, ops: 10, opsByKind: ["map_update": 10],
                                                       checks: [CheckSummary(name: "c", passed: 4, failed: 1)])])
        GuestMerge.mergeScenarios(&s, [ScenarioSummary(name: "x", workers: 1, threads: 1, ops: 5, opsByKind: ["map_update": 5],
                                                       checks: [CheckSummary(name: "c", passed: 2, failed: 0)])])
        XCTAssertEqual(s.count, 1)
        XCTAssertEqual(s[0].ops, 15)
        XCTAssertEqual(s[0].opsByKind, ["map_update": 15])
        XCTAssertEqual(s[0].checks, [CheckSummary(name: "c", passed: 6, failed: 1)])
    }

    /// A guest that died while writing summary.json leaves a torn temp file; its renamed finding.json files still count.
    func testTornGuestSummaryFallsBackToFindingFiles() throws {
        let root = NSTemporaryDirectory() + "vmmerge-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let run = root + "/20261201T000000Z-1"
        try FileManager.default.createDirectory(atPath: run + "/findings/abc", withIntermediateDirectories: true)
        try "{\"tool\": \"bpfstress\", \"sce".write(toFile: run + "/summary.json", atomically: false, encoding: .utf8)
        try ReportJSON.encode(bucket("abc", count: 4, dump: "d")).write(to: URL(fileURLWithPath: run + "/findings/abc/finding.json"))
        try "{ torn".write(toFile: run + "/findings/abc/../torn.json", atomically: false, encoding: .utf8)
        let r = GuestMerge.read(reportsDir: root)
        XCTAssertNil(r.summary)
        XCTAssertEqual(r.buckets.map(\.signature), ["abc"])
        XCTAssertEqual(r.buckets.first?.count, 4)
        XCTAssertTrue(GuestMerge.read(reportsDir: root + "/missing").buckets.isEmpty)
    }

    func outcome(_ end: GuestEnd, console: String = "", reports: [TriageReport] = []) -> GuestOutcome {
        GuestOutcome(end: end, console: console, reports: reports, bootSeconds: 10, seconds: 40, dump: "DUMP", qemuPid: 4242)
    }

    func config() -> VMRunConfig {
        VMRunConfig(kernel: KernelImage(image: "/k/vmlinuz-6.1.0-50-amd64", release: "6.1.0-50-amd64", modules: nil),
                    shape: VMShape(), duration: 30, seed: 7, campaignName: "smoke", guestArguments: ["run"],
                    reportRoot: "/tmp", executable: "/bin/true")
    }

    func testGuestPanicThenRebootMakesOneKernelFindingAndCountsTheRestart() throws {
        let warn = TriageReport(file: "console.log", type: "warning", title: "WARNING in bpf_check", frame: "bpf_check", text: "WARNING: ...")
        let panicTitle = "kernel panic: sysrq triggered crash"
        let same = TriageReport(file: "console.log", type: "bug", title: panicTitle, frame: "")
        let recs = [
            BootRecord(guest: 0, boot: 0, seed: 7, outcome: outcome(.panic(title: panicTitle), reports: [warn, same]),
                       report: GuestReport(summary: nil, buckets: [], runDir: nil), campaignSeconds: 20),
            BootRecord(guest: 0, boot: 1, seed: 9, outcome: outcome(.result(GuestResult(exitCode: 0))),
                       report: GuestReport(summary: nil, buckets: [], runDir: nil), campaignSeconds: 10),
        ]
        let s = VMReport.summary(cfg: config(), records: recs, started: t0, ended: t0.addingTimeInterval(90))
        XCTAssertEqual(s.buckets.map(\.title), [panicTitle, "WARNING in bpf_check"])
        XCTAssertEqual(s.buckets.map(\.check), ["no-guest-panic", "kernel-console"])
        XCTAssertEqual(s.buckets.map(\.type), [.kernel, .kernel])
        XCTAssertTrue(s.buckets[0].dumps[0].hasPrefix("guest: vm1 boot 1 (seed 7"))
        XCTAssertEqual(s.parameters["vm.restarts"], "1")
        XCTAssertEqual(s.parameters["vm.boots"], "2")
        XCTAssertEqual(s.exitCode, 1)
        XCTAssertEqual(s.workerDeaths.map(\.pid), [4242])
        let vm = try XCTUnwrap(s.scenarios.first { $0.name == "vm" })
        XCTAssertEqual(vm.checks.first { $0.name == "no-guest-panic" }, CheckSummary(name: "no-guest-panic", passed: 1, failed: 1))
        // The JUnit has the vm suite with the failed check and validates structurally.
        let xml = JUnitWriter.render(RunReportBuilder.junitSuites(summary: s, systemOut: "log"))
        XCTAssertTrue(xml.contains("name=\"no-guest-panic\""))
        XCTAssertTrue(XMLParser(data: Data(xml.utf8)).parse(), "junit.xml is not well-formed")
    }

    func testCleanGuestRunExitsZero() {
        let recs = [BootRecord(guest: 0, boot: 0, seed: 7, outcome: outcome(.result(GuestResult(exitCode: 0))),
                               report: GuestReport(summary: nil, buckets: [], runDir: nil), campaignSeconds: 30)]
        let s = VMReport.summary(cfg: config(), records: recs, started: t0, ended: t0.addingTimeInterval(50))
        XCTAssertEqual(s.exitCode, 0)
        XCTAssertTrue(s.buckets.isEmpty)
        XCTAssertEqual(s.parameters["vm.restarts"], "0")
    }

    func testGuestSeedsAreDisjointAndTheFirstIsTheCampaignSeed() {
        XCTAssertEqual(VMCoordinator.seed(campaign: 42, guest: 0, boot: 0), 42)
        var seen = Set<UInt64>()
        for g in 0..<4 { for b in 0..<4 { seen.insert(VMCoordinator.seed(campaign: 42, guest: g, boot: b)) } }
        XCTAssertEqual(seen.count, 16)
    }
}
