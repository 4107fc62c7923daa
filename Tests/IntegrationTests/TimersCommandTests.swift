// `bpfstress fuzz-timers` end to end: its lines, exit codes and bad input.
import Foundation
import XCTest

final class TimersCommandTests: XCTestCase {
    func testCleanRunPrintsEachRoundAndExitsZero() throws {
        try XCTSkipUnless(getuid() == 0, "needs root")
        let r = try Harness.run(["fuzz-timers", "--delay", "50ms"], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(Array(lines.prefix(3)), ["round 1 elements: 10 armed (5 left alone), fires 0,0,0,0,0,0,1,1,1,1,1, 0 finding(s)",
                                                "round 1 eviction: 4 armed (3 left alone), fires 0,0,1,1,1, 0 finding(s)",
                                                "round 1 close: 3 armed, fires 0,0,0,0, 0 finding(s)"])
        let kptr = lines.dropFirst(3).first ?? ""
        if kptr.hasPrefix("round 1 kptrs: skipped: ") {
            XCTAssertEqual(lines.last, "fuzz-timers: no findings, 1 kptr round(s) skipped")
        } else {
            XCTAssertEqual(kptr, "round 1 kptrs: 8 elements peeked, 0 finding(s)")
            XCTAssertEqual(lines.last, "fuzz-timers: no findings")
        }
        XCTAssertEqual(lines.count, 5, r.stdout)
    }

    func testBadFlagsAreOneLineExitTwo() throws {
        for (args, line) in [(["--rounds", "0"], "--rounds must be 1...100 (got 0)"),
                             (["--delay", "20s"], "--delay must be 1ms...10s (got '20s')"),
                             (["--no-such-flag"], "Unknown option '--no-such-flag'")] {
            let r = try Harness.run(["fuzz-timers"] + args, timeout: 60)
            XCTAssertEqual(r.status, 2, "\(args)")
            XCTAssertEqual(r.stderr, "bpfstress: \(line)\n", "\(args)")
            XCTAssertEqual(r.stdout, "")
        }
    }
}
