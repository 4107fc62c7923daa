import Foundation
import TestSupport
import XCTest

/// Runs the built `bpfstress` binary the way a user does and inspects what it leaves behind.
enum Harness {
    static var repoRoot: String { Built.repoRoot }

    /// The shipped bpfstress executable next to this test bundle.
    static var binary: String { Built.product }

    /// bpfstress-selftest, which alone has the test-only scenarios and fixtures.
    static var selftest: String { Built.selftest }

    struct Result {
        var status: Int32; var stdout: String; var stderr: String; var pid: Int32
        /// Worker processes (comm bpfs.*) this bpfstress was seen to spawn.
        var workers: [Int32] = []
        /// Those of `workers` still alive now (not zombies): leaked by this run.
        var leakedWorkers: [Int32] {
            workers.filter { w in
                guard let st = try? String(contentsOfFile: "/proc/\(w)/stat", encoding: .utf8) else { return false }
                return Harness.comm(w).hasPrefix("bpfs.") && !st.contains(") Z ")
            }
        }
    }

    /// Starts bpfstress with `args`; `during` runs while it is alive (with its pid).
    static func run(_ args: [String], timeout: Double = 120, env: [String: String] = [:], executable: String? = nil,
                    during: ((Int32) -> Void)? = nil) throws -> Result {
        let p = Process()
        // A run that asks for the test-only scenarios needs the binary that has them.
        p.executableURL = URL(fileURLWithPath: executable ?? (env["BPFSTRESS_TEST_SCENARIOS"] == "1" ? selftest : binary))
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, new in new }
        p.currentDirectoryURL = URL(fileURLWithPath: repoRoot)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        Started.shared.add(p.processIdentifier)
        final class Sink: @unchecked Sendable { var data = Data() }
        let outSink = Sink(), errSink = Sink()
        let group = DispatchGroup()
        group.enter(); DispatchQueue.global().async { outSink.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter(); DispatchQueue.global().async { errSink.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        // Track the workers it spawns, so a test can check that exactly those are gone after.
        final class Seen: @unchecked Sendable { var pids = Set<Int32>(); let lock = NSLock() }
        let seen = Seen()
        let root = p.processIdentifier
        group.enter()
        DispatchQueue.global().async {
            while p.isRunning {
                let kids = Harness.children(of: root).filter { Harness.comm($0).hasPrefix("bpfs.") }
                seen.lock.lock(); seen.pids.formUnion(kids); seen.lock.unlock()
                usleep(50_000)
            }
            group.leave()
        }
        during?(p.processIdentifier)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); XCTFail("bpfstress \(args) did not finish in \(timeout)s") }
        p.waitUntilExit()
        group.wait()
        return Result(status: p.terminationStatus, stdout: String(decoding: outSink.data, as: UTF8.self),
                      stderr: String(decoding: errSink.data, as: UTF8.self), pid: p.processIdentifier,
                      workers: seen.pids.sorted())
    }

    static func tempDir(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "bpfstress-test-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// scripts/validate-junit: junitparser and xunitparser (from scripts/bootstrap's .build/venv)
    /// always, and xmllint against both schemas in ../shared/junit when they are there.
    static func validateJUnit(_ path: String, file: StaticString = #filePath, line: UInt = #line) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [repoRoot + "/scripts/validate-junit", path]
        let out = Pipe()
        p.standardError = out
        p.standardOutput = out
        XCTAssertNoThrow(try p.run(), file: file, line: line)
        let msg = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, msg, file: file, line: line)
        XCTAssertTrue(msg.contains("ok: junitparser") && msg.contains("ok: xunitparser"), msg, file: file, line: line)
    }

    /// Campaign cgroups (named bpfstress.*) left under the cgroup2 mount by coordinators these
    /// tests started.
    static func leftoverCgroups() -> [String] {
        // Only the campaign cgroups of coordinators these tests started (bpfstress.<pid>.<seed>):
        // another campaign running on the machine at the same time is not ours to judge.
        let ours = Started.shared.pids
        return allCampaignCgroups().filter { e in
            Int32(e.dropFirst("bpfstress.".count).prefix { $0.isNumber }).map(ours.contains) ?? false
        }
    }

    /// Every campaign cgroup (bpfstress.*) under the cgroup2 mount, whoever made it.
    static func allCampaignCgroups() -> [String] {
        guard let info = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        var mount: String?
        for line in info.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if let dash = parts.firstIndex(of: "-"), dash + 1 < parts.count, parts[dash + 1] == "cgroup2" {
                mount = String(parts[4]); break
            }
        }
        guard let m = mount, let entries = try? FileManager.default.contentsOfDirectory(atPath: m) else { return [] }
        return entries.filter { $0.hasPrefix("bpfstress.") }
    }

    /// Direct children of `pid` (from /proc/PID/task/*/children).
    static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { t -> [Int32] in
            let s = (try? String(contentsOfFile: "/proc/\(pid)/task/\(t)/children", encoding: .utf8)) ?? ""
            return s.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    static func comm(_ pid: Int32) -> String {
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension Harness {
    /// The test-hang fixture campaign: one worker whose thread 0 blocks in a pipe read inside a
    /// `test_hang` op with a 2 s deadline (run with BPFSTRESS_TEST_SCENARIOS=1).
    static func hangCampaign(duration: String, name: String = "hang-test") -> String {
        """
        name: \(name)
        duration: \(duration)
        workers: 1
        threads: 2
        deadlines:
          test_hang: 2s
        scenarios:
          - name: test-hang
            params:
              block_seconds: 30
        """
    }

    /// Writes a campaign file into `dir` and returns its path.
    static func campaign(_ yaml: String, in dir: String, name: String = "c.yaml") throws -> String {
        let path = dir + "/" + name
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// "t (tracing stop)" or TracerPid != 0: a process some capture forgot to detach from.
    static func isPtraceStopped(_ pid: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        let tracer = status.split(separator: "\n").first { $0.hasPrefix("TracerPid:") }?
            .split(separator: "\t").last.map(String.init) ?? "0"
        return status.contains("t (tracing stop)") || tracer.trimmingCharacters(in: .whitespaces) != "0"
    }

    /// Every process whose comm starts with "bpfs." (bpfstress workers).
    static func workerProcesses() -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { comm($0).hasPrefix("bpfs.") }
    }
}

/// Pids of every bpfstress these tests started (their leftovers are the tests' to judge).
final class Started: @unchecked Sendable {
    static let shared = Started()
    private let lock = NSLock()
    private var set = Set<Int32>()
    func add(_ pid: Int32) { lock.lock(); set.insert(pid); lock.unlock() }
    var pids: Set<Int32> { lock.lock(); defer { lock.unlock() }; return set }
}
