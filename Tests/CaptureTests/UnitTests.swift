@testable import Capture
import Foundation
import Reports
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class SignatureAndCulpritTests: XCTestCase {
    func testSignatureIsStableOrderFreeAndSensitive() {
        let a = Signature.compute(title: "hang in f", frames: [["f", "g"], ["h"]])
        XCTAssertEqual(a, Signature.compute(title: "hang in f", frames: [["h"], ["f", "g"]]))
        XCTAssertEqual(a, Signature.compute(title: "hang in f", frames: [["h"], ["f", "g"], ["h"]]))
        XCTAssertNotEqual(a, Signature.compute(title: "hang in g", frames: [["f", "g"], ["h"]]))
        XCTAssertNotEqual(a, Signature.compute(title: "hang in f", frames: [["f", "x"], ["h"]]))
        // Only the top 5 frames count.
        XCTAssertEqual(Signature.compute(title: "t", frames: [["1", "2", "3", "4", "5", "6"]]),
                       Signature.compute(title: "t", frames: [["1", "2", "3", "4", "5", "7"]]))
        XCTAssertEqual(a.count, 16)
        XCTAssertTrue(a.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        // FNV-1a 64 reference values.
        XCTAssertEqual(Signature.fnv1a64([]), 0xcbf29ce484222325)
        XCTAssertEqual(Signature.fnv1a64(Array("a".utf8)), 0xaf63dc4c8601ec8c)
        XCTAssertEqual(Signature.compute(title: "", frames: []), "cbf29ce484222325")
    }

    func testStringFunctionNormalization() {
        XCTAssertEqual(Culprit.stringFunction("__memmove_avx_unaligned_erms"), "memmove")
        XCTAssertEqual(Culprit.stringFunction("__memcpy_evex_unaligned_erms"), "memcpy")
        XCTAssertEqual(Culprit.stringFunction("__mempcpy_avx_unaligned_erms"), "mempcpy")
        XCTAssertEqual(Culprit.stringFunction("__strlen_avx2"), "strlen")
        XCTAssertEqual(Culprit.stringFunction("__GI_memcpy"), "memcpy")
        XCTAssertNil(Culprit.stringFunction("memcpy_values"))
        XCTAssertNil(Culprit.stringFunction("copy_values"))
    }

    func testPlumbingAndShortNames() {
        for p in ["__futex_abstimed_wait_common", "__lll_lock_wait", "___pthread_mutex_lock", "pthread_mutex_lock",
                  "syscall", "read", "__GI___libc_read", "clone3", "start_thread", "epoll_wait", "__nanosleep",
                  "bpfs_wait_for_command", "swift_task_switch", "_dispatch_worker_thread2", "__restore_rt",
                  "Swift._assertionFailure(_: Swift.StaticString) -> Swift.Never",
                  "StressCore.Worker.bpfsWaitForCommand() -> ()", "??", "",
                  "closure #1 (Swift.UnsafeBufferPointer<Swift.UInt8>) -> () in closure #1 (Swift.UnsafeBufferPointer<Swift.UInt8>) -> () in Swift._assertionFailure(_: Swift.StaticString, _: Swift.StaticString, file: Swift.StaticString, line: Swift.UInt, flags: Swift.UInt32) -> Swift.Never",
                  "merged generic specialization <Swift.UInt64> of Swift.Array.subscript.getter : (Swift.Int) -> A"] {
            XCTAssertTrue(Culprit.isPlumbing(p), p)
        }
        for m in ["lock_a_then_b", "main", "wait_for_peer", "poll_events", "Scenarios.LockScenario.run(worker: Swift.Int) throws -> ()",
                  "closure #2 () -> () in Scenarios.Lock.run() -> ()", "crash.explode(Swift.Array<Swift.Int>, Swift.Int) -> Swift.Int"] {
            XCTAssertFalse(Culprit.isPlumbing(m), m)
        }
        XCTAssertEqual(Culprit.shortName("Scenarios.LockScenario.run(worker: Swift.Int) throws -> ()"), "Scenarios.LockScenario.run")
        XCTAssertEqual(Culprit.shortName("closure #1 (Swift.Int) -> () in Foo.bar(x: Swift.Int) -> Swift.Int"),
                       "closure #1 in Foo.bar")
        XCTAssertEqual(Culprit.shortName("Foo<Swift.Int>.baz()"), "Foo.baz")
        XCTAssertEqual(Culprit.shortName("plain_c"), "plain_c")
    }

    func testCrashTitles() {
        XCTAssertEqual(Culprit.crashTitle(signalName: "SIGSEGV",
                                          functions: ["__memmove_avx_unaligned_erms", "copy_values", "main", "__libc_start_call_main"]),
                       "SIGSEGV in memmove from copy_values")
        XCTAssertEqual(Culprit.crashTitle(signalName: "SIGABRT",
                                          functions: ["__pthread_kill_implementation", "raise", "abort", "check_counter", "main"]),
                       "SIGABRT in check_counter")
        // Frames above the signal trampoline (a handler) do not name the crash.
        XCTAssertEqual(Culprit.crashTitle(signalName: "SIGSEGV",
                                          functions: ["__poll", "crash_handler", "__restore_rt", "bad_store", "main"]),
                       "SIGSEGV in bad_store")
        XCTAssertEqual(Culprit.crashTitle(signalName: "SIGSEGV",
                                          functions: ["write", "crash_handler", "<signal handler called>", "__strlen_avx2", "parse_name"]),
                       "SIGSEGV in strlen from parse_name")
        XCTAssertEqual(Culprit.crashTitle(signalName: "SIGILL", functions: [nil, "??"]), "SIGILL")
        XCTAssertEqual(Culprit.failureTitle(function: "bpf_map_lookup_batch", errnoName: "EFAULT", scenario: "percpu-batch"),
                       "bpf_map_lookup_batch failed: EFAULT in percpu-batch")
    }

    func thread(_ tid: Int32, _ fns: [String], syscall: String? = nil, owner: Int32? = nil) -> ThreadCapture {
        let sc = syscall.map { SyscallState(number: 0, name: $0, args: [0, 0, 0, 0, 0, 0], decoded: "\($0)()") }
        return ThreadCapture(tid: tid, comm: "t", state: "S (sleeping)", wchan: "", syscall: sc, kernelStack: [],
                             userStack: fns.map { StackFrame(pc: 1, function: $0, offset: 0, module: "m") }, error: nil,
                             futexOwner: owner)
    }

    func testHangTitlePrefersBpfThenLocksAndIgnoresOrder() {
        let joiner = thread(1, ["__futex_abstimed_wait_common", "pthread_join", "main"], syscall: "futex")
        let locker = thread(2, ["__lll_lock_wait", "pthread_mutex_lock", "update_stats", "start_thread"], syscall: "futex")
        let bpf = thread(3, ["syscall", "bpf_map_update_elem", "stress_update"], syscall: "bpf")
        XCTAssertEqual(FindingTitles.hang([ProcessCapture(pid: 1, comm: "w", cmdline: "", threads: [joiner, locker], durationSeconds: 0)]).title,
                       "hang in update_stats")
        let h = FindingTitles.hang([ProcessCapture(pid: 1, comm: "w", cmdline: "", threads: [bpf, joiner, locker], durationSeconds: 0)])
        XCTAssertEqual(h.title, "hang in bpf_map_update_elem")
        XCTAssertEqual(h.culpritFrames, [["bpf_map_update_elem", "stress_update"]])
        let x = thread(5, ["__lll_lock_wait", "zeta"], syscall: "futex"), y = thread(4, ["__lll_lock_wait", "alpha"], syscall: "futex")
        let p1 = ProcessCapture(pid: 1, comm: "w", cmdline: "", threads: [x, y], durationSeconds: 0)
        let p2 = ProcessCapture(pid: 1, comm: "w", cmdline: "", threads: [y, x], durationSeconds: 0)
        XCTAssertEqual(FindingTitles.hang([p1]).title, "hang in alpha")
        XCTAssertEqual(Signature.compute(title: "hang in alpha", frames: FindingTitles.hang([p1]).culpritFrames),
                       Signature.compute(title: "hang in alpha", frames: FindingTitles.hang([p2]).culpritFrames))
        // A cycle of mutex owners is a deadlock.
        let d1 = thread(7, ["__lll_lock_wait", "take_b"], syscall: "futex", owner: 8)
        let d2 = thread(8, ["__lll_lock_wait", "take_a"], syscall: "futex", owner: 7)
        // Titled by triage's deadlock rule: the lock call and its callers, sorted.
        XCTAssertEqual(FindingTitles.hang([ProcessCapture(pid: 1, comm: "w", cmdline: "", threads: [d1, d2], durationSeconds: 0)]).title,
                       "deadlock in lll_lock_wait from take_a and take_b")
        XCTAssertEqual(FindingTitles.hang([ProcessCapture(pid: 1, comm: "w", cmdline: "", threads: [d2, d1], durationSeconds: 0)]).title,
                       "deadlock in lll_lock_wait from take_a and take_b")
        // One caller on both sides names no pair: the caller alone.
        let s1 = thread(7, ["__lll_lock_wait", "take_a"], syscall: "futex", owner: 8)
        XCTAssertEqual(FindingTitles.hang([ProcessCapture(pid: 1, comm: "w", cmdline: "", threads: [s1, d2], durationSeconds: 0)]).title,
                       "deadlock in take_a")
        XCTAssertEqual(FindingTitles.hang([]).title, "hang")
    }
}

final class ParsingTests: XCTestCase {
    func testSyscallFileParsing() {
        let bpf = Syscalls.parse("321 0x8 0x7ffd1234 0x90 0x0 0x0 0x0 0x7ffd0000 0x7f0000001000\n")
        XCTAssertEqual(bpf?.name, "bpf")
        XCTAssertEqual(bpf?.decoded, "bpf(BPF_PROG_ATTACH)")
        XCTAssertEqual(bpf?.args, [8, 0x7ffd1234, 0x90, 0, 0, 0])
        XCTAssertEqual(Syscalls.parse("321 0x18 0x1 0x2 0x0 0x0 0x0 0x1 0x2")?.decoded, "bpf(BPF_MAP_LOOKUP_BATCH)")
        XCTAssertEqual(Syscalls.parse("202 0x55aa10 0x80 0x2 0x0 0x0 0x0 0x1 0x2")?.decoded, "futex(0x55aa10, FUTEX_WAIT_PRIVATE, 2)")
        XCTAssertEqual(Syscalls.parse("202 0x10 0x189 0x0 0x0 0x0 0xffffffff 0x1 0x2")?.decoded,
                       "futex(0x10, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 0)")
        XCTAssertEqual(Syscalls.parse("0 0x3 0x7ffc10 0x1 0x0 0x0 0x0 0x1 0x2")?.decoded, "read(3, 0x7ffc10, 1)")
        XCTAssertEqual(Syscalls.parse("230 0x0 0x0 0x7ffc 0x7ffc 0x0 0x0 0x1 0x2")?.name, "clock_nanosleep")
        XCTAssertEqual(Syscalls.parse("61 0xffffffffffffffff 0x0 0x0 0x0 0x0 0x0 0x1 0x2")?.decoded, "wait4(-1, 0, ...)")
        XCTAssertEqual(Syscalls.parse("999 0x0 0x0 0x0 0x0 0x0 0x0 0x1 0x2")?.name, "syscall_999")
        XCTAssertNil(Syscalls.parse("running\n"))
        XCTAssertNil(Syscalls.parse("-1 0x7ffd0000 0x7f0000001000\n"))
    }

    func testCrashRecordParse() {
        var b = [UInt8](repeating: 0, count: CrashRecord.size)
        func put32(_ o: Int, _ v: UInt32) { for i in 0..<4 { b[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xff) } }
        func put64(_ o: Int, _ v: UInt64) { for i in 0..<8 { b[o + i] = UInt8((v >> (8 * UInt64(i))) & 0xff) } }
        put32(0, 0x48435342); put32(4, UInt32(CrashRecord.size)); put32(8, 11); put32(12, 2)
        put64(16, 0xdead_b000); put32(24, 100); put32(28, 101)
        for i in 0..<18 { put64(32 + 8 * i, UInt64(i + 1)) }
        let r = CrashRecord.parse(b)
        XCTAssertEqual(r?.signo, 11)
        XCTAssertEqual(r?.code, 2)
        XCTAssertEqual(r?.address, 0xdead_b000)
        XCTAssertEqual(r?.pid, 100)
        XCTAssertEqual(r?.tid, 101)
        XCTAssertEqual(r?.registers["rip"], 1)
        XCTAssertEqual(r?.registers["r15"], 17)
        XCTAssertEqual(r?.registers["eflags"], 18)
        XCTAssertEqual(CrashRecord.size, 184)
        XCTAssertNil(r?.senderPID, "a fault (si_code 2) has no sender")
        put32(12, 0); put32(176, 4242)
        XCTAssertEqual(CrashRecord.parse(b)?.senderPID, 4242, "SI_USER carries the sender pid")
        b[0] = 0
        XCTAssertNil(CrashRecord.parse(b))
    }

    func testKernelLogParserTitles() {
        var p = KernelLogParser()
        let warning = [
            "------------[ cut here ]------------",
            "WARNING: CPU: 1 PID: 4242 at kernel/bpf/hashtab.c:123 htab_map_update_elem+0x1a/0x40",
            "Modules linked in:",
            "RIP: 0010:htab_map_update_elem+0x1a/0x40",
            "Call Trace:",
            " <TASK>",
            " ? __warn+0x80/0x120",
            " bpf_map_update_value+0x100/0x200",
            " __sys_bpf+0x300/0x400",
            " </TASK>",
            "---[ end trace 0000000000000000 ]---",
        ]
        var r = p.feed(warning)
        XCTAssertEqual(r.count, 1)
        XCTAssertEqual(r.first?.type, "warning")
        XCTAssertEqual(r.first?.title, "WARNING in htab_map_update_elem")
        XCTAssertTrue(r.first?.text.contains("bpf_map_update_value+0x100/0x200") ?? false)
        XCTAssertFalse(r.first?.text.contains("cut here") ?? true)
        // 6.18 format: "WARNING: file:line at func+off/size, CPU#n: comm/pid".
        r = p.feed(["WARNING: kernel/bpf/syscall.c:99 at map_create+0x5/0x10, CPU#0: w/1", "RIP: 0010:map_create+0x5/0x10",
                    "Call Trace:", " <TASK>", " __sys_bpf+0x1/0x2", " __x64_sys_bpf+0x1/0x2", "---[ end trace 0 ]---"])
        XCTAssertEqual(r.first?.title, "WARNING in map_create")
        let hung = [
            "INFO: task worker:1234 blocked for more than 122 seconds.",
            "      Not tainted 6.18.0 #1",
            "Call Trace:",
            " <TASK>",
            " __schedule+0x2e0/0x900",
            " schedule+0x27/0x80",
            " schedule_preempt_disabled+0x15/0x20",
            " __mutex_lock.constprop.0+0x3a0/0x700",
            " bpf_prog_attach_cgroup+0x42/0x90",
            " __sys_bpf+0x300/0x400",
        ]
        XCTAssertEqual(p.feed(hung), [])
        // A stall is titled from the interrupted code: after the timer interrupt, its RIP, then the frames down to the syscall.
        r = p.feed(["rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:", "Call Trace:", " <IRQ>", " sysvec_apic_timer_interrupt+0x1/0x2",
                    " </IRQ>", " <TASK>", " asm_sysvec_apic_timer_interrupt+0x1/0x2", "RIP: 0010:htab_lock_bucket+0x10/0x50",
                    " htab_map_update_elem+0x1/0x2", " __sys_bpf+0x1/0x2", " do_syscall_64+0x1/0x2"])
        XCTAssertEqual(r.count, 1) // the hung-task report ended at the next header
        XCTAssertEqual(r.first?.type, "hang")
        XCTAssertEqual(r.first?.title, "INFO: task hung in bpf_prog_attach_cgroup")
        r = p.flush(quiet: 0)
        XCTAssertEqual(r.first?.title, "INFO: rcu detected stall in bpf") // the frame inside do_syscall_64: __sys_bpf
        r = p.feed(["watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [w:77]", "RIP: 0010:queued_spin_lock_slowpath+0x1/0x2",
                    "Call Trace:", " _raw_spin_lock+0x1/0x2", " htab_map_delete_elem+0x3/0x4",
                    " process_one_work+0x1/0x2"]) + p.flush()
        // The spin-lock slow path is waiting plumbing: the culprit is the map op that spun.
        XCTAssertEqual(r.first?.title, "BUG: soft lockup in htab_map_delete_elem")
        r = p.feed(["BUG: kernel NULL pointer dereference, address: 0000000000000008", "RIP: 0010:bpf_link_put+0x1/0x2"]) + p.flush()
        XCTAssertEqual(r.first?.title, "BUG: unable to handle kernel NULL pointer dereference in bpf_link_put")
        r = p.feed(["BUG: KASAN: slab-use-after-free in bpf_map_free+0x10/0x20", "Read of size 8"]) + p.flush()
        XCTAssertEqual(r.first?.title, "KASAN: slab-use-after-free Read in bpf_map_free")
        r = p.feed(["WARNING: possible circular locking dependency detected", "6.18.0 Not tainted",
                    "w/12 is trying to acquire lock:", "ffff888 (&htab->lock){....}-{2:2}, at: htab_map_update_elem+0x1/0x2",
                    "", "but task is already holding lock:"]) + p.flush()
        XCTAssertEqual(r.first?.type, "lockdep")
        XCTAssertEqual(r.first?.title, "possible deadlock in htab_map_update_elem")
        r = p.feed(["Oops: general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] SMP",
                    "RIP: 0010:bpf_prog_free+0x1/0x2"]) + p.flush()
        XCTAssertEqual(r.first?.title, "general protection fault in bpf_prog_free")
        r = p.feed(["NMI watchdog: Watchdog detected hard LOCKUP on cpu 1", "RIP: 0010:htab_lock_bucket+0x1/0x2", "Call Trace:",
                    " htab_map_update_elem+0x1/0x2", " do_syscall_64+0x1/0x2"]) + p.flush()
        XCTAssertEqual(r.first?.title, "BUG: hard lockup in htab_map_update_elem")
        // Ordinary lines outside a report are ignored; a quiet report is only flushed after the quiet time.
        XCTAssertEqual(p.feed(["eth0: link up", "audit: type=1334"]), [])
        _ = p.feed(["WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2", "RIP: 0010:f+0x1/0x2"], now: Date())
        XCTAssertEqual(p.flush(quiet: 5, now: Date()), [])
        XCTAssertEqual(p.flush(quiet: 5, now: Date().addingTimeInterval(6)).first?.title, "WARNING in f")
    }

    func testKernelLogWatcherSeesOnlyNewMessages() throws {
        let kmsg = open("/dev/kmsg", O_WRONLY | O_CLOEXEC)
        guard kmsg >= 0 else { throw XCTSkip("/dev/kmsg not writable") }
        defer { close(kmsg) }
        func log(_ s: String) { var b = Array(s.utf8); _ = write(kmsg, &b, b.count) }
        let tag = "bpfstress_selftest_\(getpid())"
        log("<4>WARNING: CPU: 0 PID: 1 at selftest.c:1 \(tag)_old+0x1/0x2\n")
        let w = try KernelLogWatcher()
        w.includeUserMessages = true
        w.quietSeconds = 0
        // A whole report, with its call trace: a WARNING without one is cut off ("in corrupted").
        log("<4>WARNING: CPU: 0 PID: 1 at selftest.c:2 \(tag)_new+0x1/0x2\n")
        for line in ["Call Trace:", " <TASK>", " \(tag)_new+0x1/0x2", " bpf_map_update_value+0x100/0x200", " </TASK>"] {
            log("<4>\(line)\n")  // one record a line, as the kernel logs them
        }
        log("<4>---[ end trace 0000000000000000 ]---\n")
        let r = w.poll()
        XCTAssertEqual(r.map(\.title), ["WARNING in \(tag)_new"])
        // Default: user-space messages are not kernel reports.
        let strict = try KernelLogWatcher()
        log("<4>WARNING: CPU: 0 PID: 1 at selftest.c:3 \(tag)_user+0x1/0x2\n")
        XCTAssertEqual(strict.finish(), [])
    }

    func testSymbolizerOnOwnProcess() throws {
        let maps = MapEntry.read(pid: getpid())
        // getpid has the alias __getpid at the same address: the GLOBAL, shorter name wins.
        let sym = try XCTUnwrap(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getpid"))
        let pc = UInt64(UInt(bitPattern: sym)) + 4
        let f = Symbolizer.shared.frame(pc: pc, maps: maps, isReturnAddress: false)
        XCTAssertEqual(f.function, "getpid")
        XCTAssertEqual(f.offset, 4)
        XCTAssertEqual(f.module, "libc.so.6")
        // This test method, from our own return addresses: PIE bias and demangling.
        let names = Thread.callStackReturnAddresses.map {
            Symbolizer.shared.frame(pc: $0.uint64Value, maps: maps, isReturnAddress: true).function ?? "??"
        }
        XCTAssertTrue(names.contains("CaptureTests.ParsingTests.testSymbolizerOnOwnProcess() throws -> ()"), "\(names)")
        XCTAssertNil(Symbolizer.shared.frame(pc: 8, maps: maps, isReturnAddress: false).function)
        XCTAssertEqual(Demangler.demangle("$sSi"), "Swift.Int")
        XCTAssertEqual(Demangler.demangle("plain_c"), "plain_c")
    }
}
