// Bad input to every subcommand: one line, a documented exit code, never a crash or a usage dump.
import Foundation
import XCTest

final class CLIRobustnessTests: XCTestCase {
    /// Asserts exactly one stderr line, equal to `line` (or starting with `prefix`), and `status`.
    func assertOneLine(_ args: [String], status: Int32 = 2, line: String? = nil, prefix: String? = nil,
                       file: StaticString = #filePath, at: UInt = #line) throws {
        let r = try Harness.run(args, timeout: 60)
        XCTAssertEqual(r.status, status, "\(args): \(r.stderr)", file: file, line: at)
        XCTAssertEqual(r.stderr.split(separator: "\n", omittingEmptySubsequences: false).count, 2,
                       "\(args) must print one line: \(r.stderr)", file: file, line: at)
        if let line { XCTAssertEqual(r.stderr, "bpfstress: " + line + "\n", "\(args)", file: file, line: at) }
        if let prefix { XCTAssertTrue(r.stderr.hasPrefix("bpfstress: " + prefix), "\(args): \(r.stderr)", file: file, line: at) }
        XCTAssertEqual(r.stdout, "", "\(args)", file: file, line: at)
    }

    /// ArgumentParser alone exits 64 with a usage text of many lines.
    func testUnknownFlagIsOneLineExitTwoForEverySubcommand() throws {
        let commands: [[String]] = [["run"], ["list"], ["supervise"], ["bench", "ops"], ["bench", "capture"],
                                    ["bench", "fuzz"], ["bugbench"], ["fuzz"], ["fuzz-timers"], []]
        for c in commands {
            try assertOneLine(c + ["--no-such-flag"], line: "Unknown option '--no-such-flag'")
        }
        // A missing required argument is named before the unknown flag.
        try assertOneLine(["triage", "--no-such-flag"], line: "Missing expected argument '<paths> ...'")
        try assertOneLine(["worker", "--no-such-flag"], line: "Missing expected argument '--spec <spec>'")
        try assertOneLine(["nosuch"], line: "Unexpected argument 'nosuch'")
        try assertOneLine(["triage"], line: "Missing expected argument '<paths> ...'")
        try assertOneLine(["run", "--workers", "abc"], line: "The value 'abc' is invalid for '--workers <workers>'")
        try assertOneLine(["run", "--duration"], prefix: "Missing value for '--duration <duration>'")
    }

    func testHelpAndVersionStillExitZero() throws {
        for c in [["--help"], ["run", "--help"], ["fuzz", "--help"], ["bench", "ops", "--help"], ["help", "triage"]] {
            let r = try Harness.run(c)
            XCTAssertEqual(r.status, 0, "\(c): \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("USAGE: bpfstress"), "\(c): \(r.stdout)")
        }
        let v = try Harness.run(["--version"])
        XCTAssertEqual(v.status, 0)
        XCTAssertFalse(v.stdout.isEmpty)
    }

    /// `--duration 99999999h` trapped converting seconds to UInt64 nanoseconds; `--workers 100000`
    /// started 100,000 processes; `--seed -1` was a multi-line usage error.
    func testOutOfRangeDurationsCountsAndSeedsAreOneLineExitTwo() throws {
        try assertOneLine(["run", "--scenario", "map-parallel", "--duration", "99999999h"],
                          line: "--duration must be at most 30d (got '99999999h')")
        try assertOneLine(["run", "--scenario", "map-parallel", "--workers", "100000"],
                          line: "--workers must be 1...1024 (got 100000)")
        try assertOneLine(["run", "--scenario", "map-parallel", "--workers", "0"], line: "--workers must be 1...1024 (got 0)")
        try assertOneLine(["run", "--scenario", "map-parallel", "--threads", "65"], line: "--threads must be 1...64 (got 65)")
        try assertOneLine(["run", "--scenario", "map-parallel", "--seed", "-1"],
                          line: "--seed must be an unsigned 64-bit integer, 0...18446744073709551615 or 0x-hex (got '-1')")
        try assertOneLine(["run", "--scenario", "map-parallel", "--seed", "18446744073709551616"],
                          prefix: "--seed must be an unsigned 64-bit integer")
        try assertOneLine(["fuzz", "--duration", "99999999h"], line: "--duration must be at most 30d (got '99999999h')")
        try assertOneLine(["fuzz", "--workers", "100000"], line: "--workers must be 0...64 (got 100000)")
        try assertOneLine(["fuzz", "--seed", "-1"], prefix: "--seed must be an unsigned 64-bit integer")
        try assertOneLine(["bugbench", "--limit", "1e12"], line: "--limit must be at most 30d (got 1000000000000.0s)")
        try assertOneLine(["bugbench", "--seed", "-1"], prefix: "--seed must be an unsigned 64-bit integer")
        try assertOneLine(["bugbench", "--control-duration", "nan"], prefix: "--control-duration must be zero or more seconds")
        try assertOneLine(["supervise", "--timeout", "1e300", "--", "/bin/true"], line: "--timeout must be at most 30d (got 1e+300s)")
        try assertOneLine(["bench", "ops", "--rounds", "0"], line: "--rounds must be 1...1000 (got 0)")
        try assertOneLine(["bench", "capture", "--threads", "100000"], line: "--threads must be 1...1024 (got 100000)")
        try assertOneLine(["bench", "fuzz", "--calls", "0"], line: "--calls must be 1...100000000 (got 0)")
    }

    func testDuplicateScenarioOnTheCommandLineIsAnError() throws {
        try assertOneLine(["run", "--scenario", "map-parallel", "--scenario", "map-parallel", "--duration", "1s"],
                          line: "--scenario map-parallel given more than once")
    }

    func testMisspeltDeadlineOpKindInACampaignFileIsAnError() throws {
        let dir = Harness.tempDir("deadline-key")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try Harness.campaign("deadlines:\n  prog_atach: 5s\nscenarios: [load-attach-v4v6]\n", in: dir)
        try assertOneLine(["run", path], prefix: "\(path):2: unknown op kind 'prog_atach' in deadlines (expected one of: map_create, ")
        let dup = try Harness.campaign("scenarios:\n  - map-parallel\n  - map-parallel\n", in: dir, name: "dup.yaml")
        try assertOneLine(["run", dup], line: "\(dir)/dup.yaml:3: duplicate scenario 'map-parallel' (first listed on line 2)")
    }

    /// The report directory used to be checked only after the campaign had run (a raw NSError).
    func testUnusableReportDirIsRefusedBeforeAnyWorkerStarts() throws {
        let dir = Harness.tempDir("reportdir")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/a-file"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let commands: [[String]] = [["run", "--scenario", "map-parallel", "--duration", "30s", "--report-dir", file],
                                    ["fuzz", "--duration", "30s", "--report-dir", file],
                                    ["bugbench", "--report-dir", file],
                                    ["supervise", "--report-dir", file, "--", "/bin/true"]]
        for cmd in commands {
            let r = try Harness.run(cmd)
            XCTAssertEqual(r.status, 2, "\(cmd): \(r.stderr)")
            XCTAssertEqual(r.stderr, "bpfstress: --report-dir \(file) is not a directory\n", "\(cmd)")
            XCTAssertEqual(r.workers, [], "\(cmd) started workers")
        }
        try assertOneLine(["run", "--scenario", "map-parallel", "--report-dir", file + "/sub"],
                          line: "--report-dir \(file)/sub: \(file) is not a directory")
        try assertOneLine(["run", "--scenario", "map-parallel", "--report-dir", "/proc/self/reports"],
                          prefix: "--report-dir /proc/self/reports: cannot create /proc/self/reports: ")
    }
}
