// The coordinator outlives a closed stderr pipe and a campaign that ends as it starts.
import Foundation
import XCTest

final class CoordinatorSurvivalTests: XCTestCase {
    /// Runs `command` under bash and returns (bpfstress's own exit status, what bash printed).
    func pipeline(_ command: String) throws -> (status: Int32?, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", command + "; echo \"rc=${PIPESTATUS[0]}\""]
        p.currentDirectoryURL = URL(fileURLWithPath: Harness.repoRoot)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        let rc = text.split(separator: "\n").last { $0.hasPrefix("rc=") }.flatMap { Int32($0.dropFirst(3)) }
        return (rc, text)
    }

    /// `run ... 2>&1 | head -1`: head exits after one line, and every later log line used to hit
    /// EPIPE inside FileHandle.write, which traps: no report, the cgroup and state left behind.
    func testClosedStderrPipeDoesNotKillRun() throws {
        try XCTSkipUnless(getuid() == 0, "needs root")
        let dir = Harness.tempDir("epipe-run")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let seed = UInt64.random(in: 1...UInt64(UInt32.max))
        let r = try pipeline("\(Harness.binary) run --scenario load-attach-v4v6 --duration 2s --workers 1 --seed \(seed) "
                             + "--report-dir \(dir) 2>&1 | head -1")
        XCTAssertTrue(r.output.hasPrefix("bpfstress: campaign adhoc, seed \(seed)"), r.output)
        let status = try XCTUnwrap(r.status, r.output)
        XCTAssertTrue(status == 0 || status == 1, "coordinator died: exit \(status)")
        let summary = try Harness.json(dir + "/latest/summary.json")
        XCTAssertEqual(summary["seed"] as? UInt64, seed)
        XCTAssertEqual(Harness.allCampaignCgroups().filter { $0.hasSuffix("." + String(seed, radix: 16)) }, [])
    }

    func testClosedStderrPipeDoesNotKillFuzz() throws {
        try XCTSkipUnless(getuid() == 0, "needs root")
        let dir = Harness.tempDir("epipe-fuzz")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try pipeline("\(Harness.binary) fuzz --duration 2s --workers 1 --seed 77 --corpus \(dir)/corpus "
                             + "--report-dir \(dir)/reports 2>&1 | head -1")
        XCTAssertTrue(r.output.hasPrefix("bpfstress: fuzz, seed 77"), r.output)
        let status = try XCTUnwrap(r.status, r.output)
        XCTAssertTrue(status == 0 || status == 1, "fuzz coordinator died: exit \(status)")
        let summary = try Harness.json(dir + "/reports/latest/summary.json")
        XCTAssertEqual(summary["seed"] as? UInt64, 77)
    }

    /// A closed stdout (`| head -1` on the report lines) must not kill it either.
    func testClosedStdoutPipeDoesNotKillList() throws {
        let r = try pipeline("\(Harness.binary) list | head -1")
        XCTAssertEqual(r.status, 0, r.output)
    }

    /// Campaigns of 10 ms or less gave `worker killed by SIGTERM` crash findings: the TERM at
    /// the end arrived before the worker had its stop handler (it is now spawned with the stop
    /// signals blocked). Then a worker spawned after the end computed a negative remaining time
    /// and trapped, and shared maps freed by a worker that had already exited "vanished".
    func testTinyDurationsGiveNoFalseFindings() throws {
        try XCTSkipUnless(getuid() == 0, "needs root")
        let dir = Harness.tempDir("tiny")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for d in ["1ms", "10ms", "5ms"] {
            let r = try Harness.run(["run", "--scenario", "map-parallel", "--scenario", "percpu-batch-sizes",
                                     "--duration", d, "--workers", "4", "--report-dir", dir, "--quiet"])
            XCTAssertTrue(r.status == 0 || r.status == 1, r.stderr)
            let summary = try Harness.json(dir + "/latest/summary.json")
            let deaths = try XCTUnwrap(summary["workerDeaths"] as? [[String: Any]], "summary has no workerDeaths")
            XCTAssertEqual(deaths.count, 0, "\(d): \(deaths)")
            let findings = r.stdout.split(separator: "\n").filter { $0.hasPrefix("FINDING") }
            // Leaks of other campaigns on this machine are the leak check's business, not ours.
            XCTAssertEqual(findings.filter { !$0.hasPrefix("FINDING [leak]") }, [], "\(d): \(r.stdout)")
            XCTAssertEqual(r.leakedWorkers, [])
        }
    }
}

/// Two campaigns on one machine (two CI jobs, or a user's run beside a nightly) must not see
/// each other's objects, cgroups or workers. Passes fully once leaks are attributed by id.
final class ConcurrentCampaignTests: XCTestCase {
    func testACampaignInTheBackgroundChangesNothingForTheForegroundOne() throws {
        try XCTSkipUnless(getuid() == 0, "needs root")
        let dir = Harness.tempDir("concurrent")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bg = Process()
        bg.executableURL = URL(fileURLWithPath: Harness.binary)
        bg.arguments = ["run", "--scenario", "map-parallel", "--scenario", "load-attach-v4v6", "--duration", "12s",
                        "--workers", "2", "--seed", "31", "--report-dir", dir + "/bg", "--quiet"]
        bg.standardOutput = FileHandle.nullDevice
        bg.standardError = FileHandle.nullDevice
        try bg.run()
        defer { if bg.isRunning { kill(bg.processIdentifier, SIGTERM) }; bg.waitUntilExit() }
        usleep(1_500_000)  // let the background fleet spawn and attach first
        let r = try Harness.run(["run", "--scenario", "map-parallel", "--scenario", "load-attach-v4v6", "--duration", "6s",
                                 "--workers", "2", "--seed", "32", "--report-dir", dir + "/fg", "--quiet"])
        XCTAssertTrue(bg.isRunning, "the background campaign ended before the foreground one")
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").filter { $0.hasPrefix("FINDING") }, [])
        bg.waitUntilExit()
        XCTAssertEqual(bg.terminationStatus, 0, "background campaign: see \(dir)/bg/latest")
        Harness.validateJUnit(dir + "/fg/latest/junit.xml")
        XCTAssertEqual(r.leakedWorkers, [])
    }
}

/// How a worker's death is named: a kill from outside, and the OOM killer.
final class WorkerDeathNameTests: XCTestCase {
    /// Waits (bounded) for a live worker of `pid` and returns it.
    func firstWorker(of pid: Int32) -> Int32? {
        for _ in 0..<200 {
            if let w = Harness.children(of: pid).first(where: { Harness.comm($0).hasPrefix("bpfs.") && !Harness.comm($0).hasSuffix(".s") }) {
                return w
            }
            usleep(50_000)
        }
        return nil
    }

    func testSegvSentWithKillIsNamedWithTheSender() throws {
        try XCTSkipUnless(getuid() == 0, "needs root")
        let dir = Harness.tempDir("sigsegv-kill")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var victim: Int32?
        let r = try Harness.run(["run", "--scenario", "map-parallel", "--duration", "4s", "--workers", "1",
                                 "--report-dir", dir, "--quiet"]) { pid in
            victim = self.firstWorker(of: pid)
            usleep(300_000)
            if let v = victim { kill(v, SIGSEGV) }
        }
        let v = try XCTUnwrap(victim, "no worker seen")
        XCTAssertTrue(r.stdout.contains("FINDING [crash] killed by SIGSEGV from pid \(getpid()) in map-parallel x1"), r.stdout)
        let summary = try Harness.json(dir + "/latest/summary.json")
        let deaths = try XCTUnwrap(summary["workerDeaths"] as? [[String: Any]])
        XCTAssertEqual(deaths.first { ($0["pid"] as? Int).map(Int32.init) == v }?["reason"] as? String,
                       "killed by SIGSEGV (crash captured: killed by SIGSEGV from pid \(getpid()))")
        let dumps = try FileManager.default.subpathsOfDirectory(atPath: dir + "/latest/findings").filter { $0.hasSuffix("dump-1.txt") }
        let dump = try dumps.map { try String(contentsOfFile: dir + "/latest/findings/" + $0, encoding: .utf8) }
            .first { $0.contains("CRASH: worker") } ?? ""
        XCTAssertTrue(dump.contains("si_code 0 sent by pid \(getpid()) to thread \(v)"), dump)
        XCTAssertFalse(dump.contains("fault address"), dump)
    }

    /// The kernel's OOM line, written here from user space (BPFSTRESS_KMSG_INCLUDE_USER=1, as
    /// the kernel-log tests do; KernelOOMTests has a real memcg OOM), then the KILL it announces.
    func testAnOOMKilledWorkerIsNamedFromTheKernelLog() throws {
        try XCTSkipUnless(getuid() == 0, "needs root")
        let dir = Harness.tempDir("oom")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var victim: Int32?
        var comm = ""
        let r = try Harness.run(["run", "--scenario", "map-parallel", "--duration", "4s", "--workers", "1",
                                 "--report-dir", dir, "--quiet"], env: ["BPFSTRESS_KMSG_INCLUDE_USER": "1"]) { pid in
            victim = self.firstWorker(of: pid)
            guard let v = victim else { return }
            comm = Harness.comm(v)
            let fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC)
            let line = "<3>Out of memory: Killed process \(v) (\(comm)) total-vm:1024kB, anon-rss:512kB\n"
            _ = line.withCString { write(fd, $0, strlen($0)) }
            close(fd)
            kill(v, SIGKILL)
        }
        let v = try XCTUnwrap(victim, "no worker seen")
        XCTAssertTrue(r.stdout.contains("FINDING [crash] worker killed by the OOM killer in map-parallel x1"), r.stdout)
        let summary = try Harness.json(dir + "/latest/summary.json")
        let deaths = try XCTUnwrap(summary["workerDeaths"] as? [[String: Any]])
        let reason = deaths.first { ($0["pid"] as? Int).map(Int32.init) == v }?["reason"] as? String
        XCTAssertEqual(reason, "killed by SIGKILL (OOM killer: Out of memory: Killed process \(v) (\(comm)))")
        XCTAssertTrue(comm.hasPrefix("bpfs."), comm)
    }
}

/// Nothing used to print between the campaign line and the first tick, however long a big
/// fleet took to spawn.
final class SpawnStatusTests: XCTestCase {
    func testSpawnProgressIsShownBeforeTheFirstTick() throws {
        try XCTSkipUnless(getuid() == 0, "needs root")
        let dir = Harness.tempDir("spawn-status")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = ["run", "--scenario", "map-parallel", "--duration", "1s", "--workers", "3", "--report-dir", dir]
        let plain = try Harness.run(args)
        let lines = plain.stderr.split(separator: "\n").map(String.init)
        let spawning = try XCTUnwrap(lines.firstIndex { $0.hasSuffix("] spawning workers 0/3") }, plain.stderr)
        let firstWorker = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("bpfstress: worker slot 0 pid ") }, plain.stderr)
        let firstTick = try XCTUnwrap(lines.firstIndex { $0.contains("] ops ") }, plain.stderr)
        XCTAssertLessThan(spawning, firstWorker)
        XCTAssertLessThan(firstWorker, firstTick)
        // On a terminal (script(1) gives it one) the line is redrawn as each worker starts.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qec", ([Harness.binary] + args).joined(separator: " "), "/dev/null"]
        p.currentDirectoryURL = URL(fileURLWithPath: Harness.repoRoot)
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let tty = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let redraw = "\r\u{1B}[K["
        for n in 0...3 { XCTAssertTrue(tty.contains("] spawning workers \(n)/3" + redraw), "\(n): \(tty.debugDescription)") }
        let last = try XCTUnwrap(tty.range(of: "] spawning workers 3/3"))
        let tick = try XCTUnwrap(tty.range(of: "] ops "))
        XCTAssertLessThan(last.lowerBound, tick.lowerBound)
    }
}
