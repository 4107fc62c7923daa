import Foundation
import XCTest

/// supervise never passes a command that did not pass: a death by any signal fails it, and a
/// command that cannot start is a usage error.
final class SuperviseVerdictTests: XCTestCase {
    func testADeathBySIGKILLOrSIGTERMOrSIGPIPEIsAFailureNotAPass() throws {
        let dir = Harness.tempDir("supervise-sig")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (sig, name) in [("KILL", "SIGKILL"), ("TERM", "SIGTERM"), ("PIPE", "SIGPIPE")] {
            let r = try Harness.run(["supervise", "--report-dir", dir, "--name", "victim", "--", "/bin/sh", "-c", "kill -\(sig) $$"])
            XCTAssertEqual(r.status, 1, "\(name): \(r.stdout) \(r.stderr)")
            let buckets = try Harness.json(dir + "/latest/summary.json")["buckets"] as? [[String: Any]] ?? []
            XCTAssertEqual(buckets.map { $0["title"] as? String }, ["victim killed by \(name)"])
            let junit = try String(contentsOfFile: dir + "/latest/junit.xml", encoding: .utf8)
            XCTAssertTrue(junit.contains("victim killed by \(name)"), junit)
        }
    }

    func testACommandThatCannotStartExits2WithOneLine() throws {
        let dir = Harness.tempDir("supervise-nostart")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(["supervise", "--report-dir", dir, "--", "/nonexistent/bpfstress-no-such-command"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertEqual(r.stderr, "bpfstress: cannot start /nonexistent/bpfstress-no-such-command: no executable file of that name\n")
    }
}
