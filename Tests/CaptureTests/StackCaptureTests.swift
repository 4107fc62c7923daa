import Capture
import Foundation
import Reports
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class StackCaptureTests: XCTestCase {
    static let futexWaitFrames: Set<String> = ["futex_wait", "futex_do_wait", "futex_wait_queue", "__futex_wait"]

    func functions(_ t: ThreadCapture) -> [String] { t.userStack.compactMap(\.function) }

    /// Starts the ABBA fixture and waits until both lockers sleep in futex.
    func startABBA() throws -> FixtureProcess {
        let bin = try Fixtures.build("abba", Fixtures.abba)
        let p = try FixtureProcess([bin])
        let ok = waitUntil(5) {
            StackCapture.capture(pid: p.pid, userStacks: false).threads.filter { $0.syscall?.name == "futex" }.count >= 2
        }
        XCTAssertTrue(ok, "ABBA threads never blocked")
        return p
    }

    func testABBADeadlockStacksTitleAndStableSignature() throws {
        var signatures: [String] = []
        for run in 0..<2 {
            let p = try startABBA()
            defer { p.stop() }
            let cap = StackCapture.capture(pid: p.pid)
            XCTAssertEqual(cap.pid, p.pid)
            XCTAssertEqual(cap.threads.count, 3)
            let ab = cap.threads.first { functions($0).contains("lock_a_then_b") }
            let ba = cap.threads.first { functions($0).contains("lock_b_then_a") }
            XCTAssertNotNil(ab, "run \(run): lock_a_then_b missing:\n\(CaptureFormatter.dump([cap], header: ""))")
            XCTAssertNotNil(ba)
            guard let ab, let ba else { return }
            XCTAssertNotEqual(ab.tid, ba.tid)
            XCTAssertFalse(functions(ab).contains("lock_b_then_a"))
            // The lockers wait inside glibc's mutex lock, in the kernel's futex wait.
            for t in [ab, ba] {
                XCTAssertTrue(functions(t).contains { $0.contains("lll_lock_wait") || $0.contains("pthread_mutex_lock") },
                              "\(functions(t))")
                XCTAssertFalse(Set(t.kernelStack).isDisjoint(with: Self.futexWaitFrames), "\(t.kernelStack)")
                XCTAssertEqual(t.syscall?.name, "futex")
                XCTAssertEqual(t.syscall?.number, 202)
                XCTAssertTrue(t.syscall?.decoded.contains("FUTEX_WAIT") ?? false, t.syscall?.decoded ?? "")
                XCTAssertEqual(t.state, "S (sleeping)")
                XCTAssertNil(t.error)
            }
            // Each owns the mutex the other waits for.
            XCTAssertEqual(ab.futexOwner, ba.tid)
            XCTAssertEqual(ba.futexOwner, ab.tid)
            let main = cap.threads.first { $0.tid == p.pid }!
            XCTAssertTrue(functions(main).contains("main"))
            XCTAssertEqual(main.userStack.first { $0.function == "main" }?.module, "abba")
            let h = FindingTitles.hang([cap])
            XCTAssertEqual(h.title, "deadlock in pthread_mutex_lock from lock_a_then_b and lock_b_then_a")
            XCTAssertEqual(Set(h.culpritFrames.map { $0.first ?? "" }), ["lock_a_then_b", "lock_b_then_a"])
            signatures.append(Signature.compute(title: h.title, frames: h.culpritFrames))
            let dump = CaptureFormatter.dump([cap], header: h.title)
            XCTAssertTrue(dump.contains("lock_a_then_b+0x"))
            XCTAssertTrue(dump.contains("user stack:"))
            XCTAssertTrue(dump.contains("kernel stack:"))
            // Nothing left stopped or traced.
            let ts = traceStatus(p.pid)
            XCTAssertEqual(ts.tracer, "0")
            XCTAssertFalse(ts.state.hasPrefix("t"), ts.state)
            for t in cap.threads {
                let s = (try? String(contentsOfFile: "/proc/\(p.pid)/task/\(t.tid)/stat", encoding: .utf8)) ?? ""
                XCTAssertFalse(s.contains(") t "), s)
            }
        }
        XCTAssertEqual(signatures.count, 2)
        XCTAssertEqual(signatures[0], signatures[1])
        XCTAssertEqual(signatures[0].count, 16)
    }

    func testPipePeersDeadlockAcrossProcesses() throws {
        let bin = try Fixtures.build("pipes", Fixtures.pipePeers)
        let p = try FixtureProcess([bin])
        defer { p.stop() }
        var caps: [ProcessCapture] = []
        let ok = waitUntil(5) {
            caps = StackCapture.captureTree(root: p.pid)
            return caps.count == 2 && caps.allSatisfy { $0.threads.first?.syscall?.name == "read" }
        }
        XCTAssertTrue(ok, "\(caps.map { $0.threads.map { $0.syscall?.decoded ?? "-" } })")
        XCTAssertEqual(caps.map(\.pid).first, p.pid)
        for c in caps {
            let t = c.threads[0]
            XCTAssertTrue(functions(t).contains("wait_for_peer"), "\(functions(t))")
            XCTAssertTrue(t.kernelStack.contains("pipe_read") || t.kernelStack.contains("anon_pipe_read"), "\(t.kernelStack)")
        }
        XCTAssertEqual(FindingTitles.hang(caps).title, "hang in wait_for_peer")
        // The child is not our child: kill it by its pid (found in the capture).
        for c in caps where c.pid != p.pid {
            XCTAssertEqual(traceStatus(c.pid).tracer, "0")
            kill(c.pid, SIGKILL)
        }
    }

    func testThreadBlockedInPipeRead() throws {
        let bin = try Fixtures.build("reader", Fixtures.blockedReader)
        let p = try FixtureProcess([bin])
        defer { p.stop() }
        // Both settled: the reader in read(2), and the main thread past clone3, waiting in the join.
        XCTAssertTrue(waitUntil(5) {
            let threads = StackCapture.capture(pid: p.pid, userStacks: false).threads
            return threads.contains { $0.syscall?.name == "read" } && threads.contains { $0.tid == p.pid && $0.syscall?.name == "futex" }
        })
        let cap = StackCapture.capture(pid: p.pid)
        let reader = try XCTUnwrap(cap.threads.first { $0.syscall?.name == "read" })
        XCTAssertNotEqual(reader.tid, p.pid)
        XCTAssertEqual(reader.syscall?.number, 0)
        XCTAssertEqual(reader.syscall?.args[2], 1) // count
        XCTAssertTrue(reader.syscall!.decoded.hasPrefix("read(3, 0x"), reader.syscall!.decoded)
        XCTAssertTrue(reader.syscall!.decoded.hasSuffix(", 1)"), reader.syscall!.decoded)
        XCTAssertTrue(reader.wchan.contains("pipe_read"), reader.wchan)
        XCTAssertEqual(reader.userStack.first { !Culprit.isPlumbing($0.function ?? "") }?.function, "blocked_reader")
        XCTAssertTrue(reader.kernelStack.contains("pipe_read") || reader.kernelStack.contains("anon_pipe_read"))
        XCTAssertFalse(reader.kernelStack.contains { $0.contains("+0x") || $0.contains("[<") })
        let main = try XCTUnwrap(cap.threads.first { $0.tid == p.pid })
        XCTAssertTrue(functions(main).contains { $0.contains("pthread_join") || $0.contains("pthread_clockjoin") },
                      "\(functions(main))")
        // The reader beats the joiner: a join only waits for someone else.
        XCTAssertEqual(FindingTitles.hang([cap]).title, "hang in blocked_reader")
        XCTAssertEqual(traceStatus(p.pid).tracer, "0")
    }

    func testCaptureWithoutUserStacksStopsNothing() throws {
        let bin = try Fixtures.build("reader", Fixtures.blockedReader)
        let p = try FixtureProcess([bin])
        defer { p.stop() }
        XCTAssertTrue(waitUntil(5) { ProcFSProbe.threads(p.pid) == 2 })
        let cap = StackCapture.capture(pid: p.pid, userStacks: false)
        XCTAssertEqual(cap.threads.count, 2)
        XCTAssertTrue(cap.threads.allSatisfy { $0.userStack.isEmpty })
        XCTAssertEqual(cap.comm, "reader")
    }

    func testCaptureOfMissingProcessIsEmpty() {
        let cap = StackCapture.capture(pid: 999_999_99)
        XCTAssertTrue(cap.threads.isEmpty)
    }

    /// The C crash handler, linked straight into a fixture: record, wait while we capture,
    /// then death by the same signal.
    func testCrashHandlerReportsWaitsAndDiesBySignal() throws {
        let bin = try Fixtures.build("segv_handler", Fixtures.segv,
                                     extra: ["-DWITH_HANDLER", "-I", Fixtures.cshimDir + "/include",
                                             Fixtures.cshimDir + "/bpfs_crash.c"])
        let (mine, theirs) = try Spawn.socketPair()
        defer { close(mine) }
        let p = try FixtureProcess([bin], extraFDs: [theirs], captureStdout: true)
        close(theirs)
        defer { p.stop() }
        let line = try XCTUnwrap(readLine(p.stdoutRead, timeout: 5))
        let parts = line.split(separator: " ")
        let guardPage = try XCTUnwrap(UInt64(parts[1].dropFirst(2), radix: 16))
        let pageSize = try XCTUnwrap(UInt64(parts[2]))
        let bytes = try XCTUnwrap(readExactly(mine, CrashRecord.size, timeout: 5))
        let rec = try XCTUnwrap(CrashRecord.parse(bytes))
        XCTAssertEqual(rec.signo, SIGSEGV)
        XCTAssertEqual(rec.code, 2) // SEGV_ACCERR: mapped but PROT_NONE
        XCTAssertEqual(rec.pid, p.pid)
        XCTAssertEqual(rec.tid, p.pid)
        XCTAssertTrue(rec.address >= guardPage && rec.address < guardPage + pageSize,
                      "fault \(String(rec.address, radix: 16)) guard \(String(guardPage, radix: 16))")
        XCTAssertEqual(rec.registers.count, 18)
        XCTAssertNotEqual(rec.registers["rip"], 0)
        XCTAssertNil(CrashRecord.parse(Array(bytes.dropLast())))
        // The handler is waiting: capture every thread of the live process.
        let cap = StackCapture.capture(pid: p.pid)
        let t = try XCTUnwrap(cap.threads.first { $0.tid == rec.tid })
        XCTAssertTrue(functions(t).contains("copy_values"), CaptureFormatter.dump([cap], header: ""))
        XCTAssertTrue(functions(t).contains("bpfs_crash_handler"))
        // The IFUNC variant is a LOCAL symbol: only the build-id debug file of libc names it.
        let top = try XCTUnwrap(functions(t).first { $0.contains("mem") })
        XCTAssertTrue(top.hasPrefix("__memcpy_") || top.hasPrefix("__memmove_"), top)
        XCTAssertEqual(FindingTitles.crash(signal: rec.signo, thread: t), "SIGSEGV in memcpy from copy_values",
                       CaptureFormatter.dump([cap], header: ""))
        XCTAssertEqual(traceStatus(p.pid).tracer, "0")
        // Release: the process now dies by SIGSEGV, not by an exit code.
        var one: [UInt8] = [1]
        XCTAssertEqual(write(mine, &one, 1), 1)
        let st = try XCTUnwrap(p.waitExit(timeout: 5))
        XCTAssertTrue(WaitStatus(st).signaled)
        XCTAssertEqual(WaitStatus(st).termSignal, SIGSEGV)
    }
}

enum ProcFSProbe {
    static func threads(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"))?.count ?? 0
    }
}
