import Capture
import Foundation
import Reports
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class SupervisorTests: XCTestCase {
    func testHangOnABBAIsCapturedAndKilled() throws {
        let bin = try Fixtures.build("abba", Fixtures.abba)
        let idle = 1.5
        let t0 = Date()
        let r = Supervisor.run(command: [bin], timeout: 30, idleTimeout: idle, name: "abba")
        let elapsed = Date().timeIntervalSince(t0)
        XCTAssertNil(r.error)
        let f = try XCTUnwrap(r.finding)
        XCTAssertEqual(f.type, .hang)
        XCTAssertEqual(f.title, "deadlock in pthread_mutex_lock from lock_a_then_b and lock_b_then_a")
        XCTAssertEqual(f.scenario, "abba")
        XCTAssertEqual(f.signature.count, 16)
        XCTAssertTrue(f.dump.contains("lock_a_then_b"))
        XCTAssertTrue(f.dump.contains("lock_b_then_a"))
        XCTAssertTrue(r.idleTimedOut)
        XCTAssertFalse(r.timedOut)
        XCTAssertEqual(r.stdout, "ready\n")
        XCTAssertEqual(r.signal, SIGTERM)
        // Not declared hung before the idle timeout (how soon after is a benchmark's business).
        XCTAssertGreaterThanOrEqual(elapsed, idle)
        // Gone: no zombie, no leftover.
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/proc/\(r.pid)/status"))
        // Same bug, same bucket on a second run.
        let r2 = Supervisor.run(command: [bin], timeout: 30, idleTimeout: idle, name: "abba")
        XCTAssertEqual(r2.finding?.signature, f.signature)
    }

    func testSegfaultInMemcpyIsCapturedAtDelivery() throws {
        let bin = try Fixtures.build("segv", Fixtures.segv)
        let r = Supervisor.run(command: [bin], timeout: 20, idleTimeout: 10, name: "segv")
        XCTAssertNil(r.error)
        XCTAssertEqual(r.signal, SIGSEGV)
        XCTAssertNil(r.exitCode)
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first)
        let parts = line.split(separator: " ")
        let guardPage = try XCTUnwrap(UInt64(parts[1].dropFirst(2), radix: 16))
        let pageSize = try XCTUnwrap(UInt64(parts[2]))
        let c = try XCTUnwrap(r.crash)
        XCTAssertEqual(c.signal, SIGSEGV)
        XCTAssertEqual(c.code, 2)
        XCTAssertEqual(c.pid, r.pid)
        XCTAssertTrue(c.address >= guardPage && c.address < guardPage + pageSize)
        let f = try XCTUnwrap(r.finding)
        XCTAssertEqual(f.type, .crash)
        XCTAssertEqual(f.title, "SIGSEGV in memcpy from copy_values")
        XCTAssertTrue(f.dump.contains("copy_values+0x"), f.dump)
        XCTAssertTrue(f.dump.contains("address 0x\(String(c.address, radix: 16))"))
        XCTAssertEqual(f.signature, Signature.compute(title: f.title, frames: [["copy_values", "main"]]))
    }

    /// A process with the crash handler but nobody on its notify fd: the handler gives up at
    /// once, re-faults into the default action, and that second delivery is captured.
    func testCrashHandlerUnderSupervisorStillDiesBySignalAndIsCaptured() throws {
        let bin = try Fixtures.build("segv_handler", Fixtures.segv,
                                     extra: ["-DWITH_HANDLER", "-I", Fixtures.cshimDir + "/include",
                                             Fixtures.cshimDir + "/bpfs_crash.c"])
        // fd 3 is closed in the child: the handler's write fails with EBADF.
        let r = Supervisor.run(command: [bin], timeout: 20, idleTimeout: 10, name: "segv")
        XCTAssertEqual(r.signal, SIGSEGV)
        XCTAssertEqual(r.crash?.signal, SIGSEGV)
        XCTAssertEqual(r.finding?.title, "SIGSEGV in memcpy from copy_values")
        XCTAssertFalse(r.timedOut)
        XCTAssertFalse(r.idleTimedOut)
    }

    func testCleanCommandHasNoFinding() {
        let r = Supervisor.run(command: ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], timeout: 10, idleTimeout: 5)
        XCTAssertNil(r.error)
        XCTAssertNil(r.finding)
        XCTAssertEqual(r.exitCode, 3)
        XCTAssertEqual(r.stdout, "out\n")
        XCTAssertEqual(r.stderr, "err\n")
    }

    func testTotalTimeoutWithSteadyOutputIsAHang() {
        // Prints every 100 ms, so only the total timeout can fire.
        let r = Supervisor.run(command: ["/bin/sh", "-c", "while :; do echo tick; sleep 0.1; done"],
                               timeout: 1.5, idleTimeout: 10)
        XCTAssertTrue(r.timedOut)
        XCTAssertFalse(r.idleTimedOut)
        XCTAssertEqual(r.finding?.type, .hang)
        XCTAssertEqual(r.captures.first?.pid, r.pid)
        XCTAssertTrue(r.stdout.hasPrefix("tick\n"))
        XCTAssertNotNil(r.signal)
    }

    func testMissingCommandIsAnError() {
        let r = Supervisor.run(command: ["/nonexistent/bpfstress-nope"], timeout: 5, idleTimeout: 5)
        XCTAssertNil(r.finding)
        // Either spawn refuses it or the child exits 127 after execve fails.
        XCTAssertTrue(r.error != nil || r.exitCode == 127, "\(String(describing: r.error)) \(String(describing: r.exitCode))")
    }
}

final class SentSignalTests: XCTestCase {
    /// si_addr overlays si_pid: a SIGSEGV sent with kill used to show the sender's pid as the
    /// fault address and a "crash in" whatever frame the thread was in.
    func testSegvSentWithKillNamesTheSender() throws {
        let r = Supervisor.run(command: ["/bin/sh", "-c", "kill -SEGV $$; sleep 5"], timeout: 20, idleTimeout: 10, name: "kill")
        XCTAssertEqual(r.signal, SIGSEGV)
        let c = try XCTUnwrap(r.crash)
        XCTAssertEqual(c.senderPID, r.pid, "the shell sent it to itself")
        XCTAssertEqual(c.address, 0)
        XCTAssertLessThanOrEqual(c.code, 0)
        let f = try XCTUnwrap(r.finding)
        XCTAssertEqual(f.title, "killed by SIGSEGV from pid \(r.pid)")
        XCTAssertTrue(f.dump.contains("sent by pid \(r.pid)"), f.dump)
        XCTAssertFalse(f.dump.contains("address 0x"), f.dump)
        XCTAssertEqual(f.signature, FindingTitles.sentSignalSignature(SIGSEGV))
    }
}
