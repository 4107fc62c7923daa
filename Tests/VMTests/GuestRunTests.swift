// End to end: bpfstress run --kernel on a Debian kernel in QEMU, through the guest panic, hang and
// WARNING paths, two guests and SIGINT. Skipped (with the reason) only when no kernel could be fetched.
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Reports
import TestSupport
import XCTest

final class GuestRunTests: XCTestCase {
    static var repoRoot: String { Built.repoRoot }

    /// The guest scenarios are test-only, so the host and the guest run bpfstress-selftest.
    static var binary: String { Built.selftest }

    /// BPFSTRESS_TEST_KERNEL (scripts/test fetches linux-image-6.1.0-50-amd64 and sets it), else the
    /// get-kernel cache. No kernel is a skip naming the reason, never a pass.
    func kernel() throws -> String {
        let env = ProcessInfo.processInfo.environment
        if let k = env["BPFSTRESS_TEST_KERNEL"], !k.isEmpty {
            guard FileManager.default.fileExists(atPath: k) else { throw XCTSkip("BPFSTRESS_TEST_KERNEL=\(k) does not exist: \(env["BPFSTRESS_TEST_KERNEL_WHY"] ?? "")") }
            return k
        }
        if let why = env["BPFSTRESS_TEST_KERNEL_WHY"], !why.isEmpty { throw XCTSkip("no Debian kernel for the VM tests: \(why)") }
        let home = env["HOME"] ?? "/root"
        let k = home + "/.cache/bpfstress/kernels/linux-image-6.1.0-50-amd64/boot/vmlinuz-6.1.0-50-amd64"
        guard FileManager.default.fileExists(atPath: k) else {
            throw XCTSkip("no Debian kernel for the VM tests: run scripts/get-kernel linux-image-6.1.0-50-amd64 (scripts/test does)")
        }
        return k
    }

    struct Run { var status: Int32; var stdout: String; var stderr: String; var report: String }

    /// Each run's temp directory (reports, stdout, stderr), removed after the test.
    var temps: [String] = []
    override func tearDown() {
        for t in temps { try? FileManager.default.removeItem(atPath: t) }
        temps = []
        super.tearDown()
    }

    /// Runs bpfstress with stdout/stderr in files; `whenLog` is polled with the stderr so far and may
    /// signal the process (returns true once it acted).
    func run(_ args: [String], timeout: Double = 400, whenLog: ((String, Int32) -> Bool)? = nil) throws -> Run {
        let tmp = NSTemporaryDirectory() + "vmtest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        temps.append(tmp)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = args + ["--report-dir", tmp + "/reports"]
        p.currentDirectoryURL = URL(fileURLWithPath: Self.repoRoot)
        var env = ProcessInfo.processInfo.environment
        env["BPFSTRESS_TEST_SCENARIOS"] = "1"
        p.environment = env
        FileManager.default.createFile(atPath: tmp + "/out", contents: nil)
        FileManager.default.createFile(atPath: tmp + "/err", contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp + "/out"))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp + "/err"))
        try p.run()
        let end = Date().addingTimeInterval(timeout)
        var acted = false
        while p.isRunning && Date() < end {
            if !acted, let w = whenLog, let e = try? String(contentsOfFile: tmp + "/err", encoding: .utf8) {
                acted = w(e, p.processIdentifier)
            }
            usleep(200_000)
        }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit(); XCTFail("bpfstress did not finish in \(timeout) s") }
        p.waitUntilExit()
        let out = (try? String(contentsOfFile: tmp + "/out", encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: tmp + "/err", encoding: .utf8)) ?? ""
        let report = out.split(separator: "\n").first { $0.hasPrefix("report: ") }.map { String($0.dropFirst(8)) } ?? ""
        return Run(status: p.terminationStatus, stdout: out, stderr: err, report: report)
    }

    func summary(_ r: Run) throws -> RunSummary {
        let d = try XCTUnwrap(FileManager.default.contents(atPath: r.report + "/summary.json"), "no summary.json\n\(r.stderr)")
        return try ReportJSON.decoder().decode(RunSummary.self, from: d)
    }

    /// junit.xml parses and every finding bucket is a failed testcase in it.
    func checkJUnit(_ r: Run, _ s: RunSummary) throws {
        let xml = try String(contentsOfFile: r.report + "/junit.xml", encoding: .utf8)
        XCTAssertTrue(XMLParser(data: Data(xml.utf8)).parse(), "junit.xml is not well-formed")
        for b in s.buckets { XCTAssertTrue(xml.contains(b.title), "junit.xml lacks \(b.title)") }
        XCTAssertTrue(FileManager.default.fileExists(atPath: r.report + "/index.html"))
    }

    /// Every qemu the run started (its pids are the vm worker deaths and the log) is gone.
    func checkNoQemuLeft(_ r: Run) {
        let pids = r.stderr.split(separator: "\n").compactMap { l -> Int32? in
            guard let a = l.range(of: "qemu pid ") else { return nil }
            return Int32(l[a.upperBound...].prefix(while: { $0.isNumber }))
        }
        XCTAssertFalse(pids.isEmpty, "no qemu pid in the log")
        for p in pids {
            let alive = (try? String(contentsOfFile: "/proc/\(p)/comm", encoding: .utf8))?.hasPrefix("qemu") ?? false
            XCTAssertFalse(alive, "qemu pid \(p) still running")
        }
    }

    func testGuestPanicGivesAFindingAndTheCampaignGoesOnInARebootedGuest() throws {
        let k = try kernel()
        let r = try run(["run", "--kernel", k, "corpora/campaigns/vm/guest-panic.yaml"])
        XCTAssertEqual(r.status, 1, r.stderr)
        let s = try summary(r)
        let panic = try XCTUnwrap(s.buckets.first { $0.check == "no-guest-panic" }, "\(s.buckets.map(\.title))")
        XCTAssertEqual(panic.title, "kernel panic: sysrq triggered crash")
        XCTAssertEqual(panic.type, .kernel)
        XCTAssertTrue(panic.dumps[0].contains("sysrq_handle_crash"), panic.dumps[0])
        XCTAssertTrue(panic.dumps[0].hasPrefix("guest: vm1 boot 1"))
        XCTAssertEqual(s.parameters["vm.restarts"], "1")
        // Both boots went through the PVH entry, and the campaign-started marker timed each one
        // after its agent's start (never the RTC fallback: the guest's first boot leaves no summary).
        XCTAssertEqual(s.parameters["vm.boot"], "pvh")
        let agents = (s.parameters["vm.boot_seconds"] ?? "").split(separator: ",").compactMap { Double($0) }
        let firstOps = (s.parameters["vm.first_op_seconds"] ?? "").split(separator: ",").compactMap { Double($0) }
        XCTAssertEqual(agents.count, 2, s.parameters.description)
        XCTAssertEqual(firstOps.count, 2, s.parameters.description)
        for (a, f) in zip(agents, firstOps) { XCTAssertGreaterThanOrEqual(f, a) }
        // The second boot ran the scenario to the end and reported it.
        let sc = try XCTUnwrap(s.scenarios.first { $0.name == "test-guest-panic" })
        XCTAssertGreaterThan(sc.ops, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: r.report + "/guests/vm1-boot2/job/result.json"))
        try checkJUnit(r, s)
        checkNoQemuLeft(r)
    }

    func testSilentGuestGetsEveryVCPUsNMIBacktraceAndRegistersThenQemuIsKilled() throws {
        let k = try kernel()
        let r = try run(["run", "--kernel", k, "corpora/campaigns/vm/guest-silent.yaml"])
        XCTAssertEqual(r.status, 1, r.stderr)
        let s = try summary(r)
        let hang = try XCTUnwrap(s.buckets.first { $0.check == "no-guest-hang" }, "\(s.buckets.map(\.title))")
        XCTAssertEqual(hang.type, .hang)
        // The kernel is fine: the NMIs find the idle task, or a campaign thread that still runs.
        XCTAssertTrue(hang.title.hasPrefix("guest hang"), hang.title)
        let dump = hang.dumps[0]
        XCTAssertTrue(dump.contains("2 vCPU NMI backtrace(s) captured"), dump)
        XCTAssertTrue(dump.contains("NMI backtrace for cpu 0"))
        XCTAssertTrue(dump.contains("NMI backtrace for cpu 1"))
        XCTAssertTrue(dump.contains("--- info registers -a ---"))
        XCTAssertTrue(dump.contains("CPU#0") && dump.contains("CPU#1"), "registers of both vCPUs")
        XCTAssertEqual(s.parameters["vm.restarts"], "0")
        try checkJUnit(r, s)
        checkNoQemuLeft(r)
    }

    func testTwoGuestsWarningAndSIGINTLeaveACompleteMergedReport() throws {
        let k = try kernel()
        let r = try run(["run", "--kernel", k, "--vms", "2", "--duration", "300s", "corpora/campaigns/vm/guest-warning.yaml"]) { err, pid in
            // Both guests are running the campaign and have printed their WARNING: interrupt the host.
            let warned = err.components(separatedBy: "kernel report on the console: WARNING").count - 1
            guard warned >= 2 else { return false }
            kill(pid, SIGINT)
            return true
        }
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("stopped early on signal 2"), r.stderr)
        let s = try summary(r)
        let warn = try XCTUnwrap(s.buckets.first { $0.title == "WARNING in bpfstress_test_warning" }, "\(s.buckets.map(\.title))")
        XCTAssertEqual(warn.type, .kernel)
        XCTAssertEqual(warn.count, 2)
        XCTAssertEqual(Set(warn.dumps.map { String($0.prefix(10)) }), ["guest: vm1", "guest: vm2"])
        XCTAssertEqual(s.parameters["vm.count"], "2")
        let seeds = (s.parameters["vm.guest_seeds"] ?? "").split(separator: ",")
        XCTAssertEqual(seeds.count, 2)
        XCTAssertNotEqual(seeds.first?.split(separator: "=").last, seeds.last?.split(separator: "=").last)
        // Both guests stopped on request and wrote their own results.
        for g in 1...2 { XCTAssertTrue(FileManager.default.fileExists(atPath: r.report + "/guests/vm\(g)-boot1/job/result.json")) }
        try checkJUnit(r, s)
        checkNoQemuLeft(r)
    }
}
