// How a console log is cut into reports: caller contexts, panic tails, the text after an end marker.

import Reports
import XCTest

final class KernelSplitterTests: XCTestCase {
    func testContextOfAConsoleLine() {
        XCTAssertEqual(ConsoleLine.context("[  312.801234][ T5012] BUG: KASAN: x"), "T5012")
        XCTAssertEqual(ConsoleLine.context("[  312.801234][    C0] rcu: INFO: x"), "C0")
        XCTAssertEqual(ConsoleLine.context("<4>[  312.801234] WARNING: x"), "console")
        XCTAssertEqual(ConsoleLine.context("** 12 printk messages dropped ** [ 1.5][T7] x"), "T7")
        XCTAssertEqual(ConsoleLine.context("[  OK  ] Started foo.service"), "")
        XCTAssertEqual(ConsoleLine.context("plain line"), "")
    }

    static let hung = [
        "[ 10.000001][  T28] INFO: task a:100 blocked for more than 143 seconds.",
        "[ 10.000002][  T28] Call Trace:",
        "[ 10.000003][  T28]  <TASK>",
        "[ 10.000004][  T28]  __schedule+0x1/0x2",
        "[ 10.000005][ T101]  other_task_frame+0x1/0x2",
        "[ 10.000006][  T28]  the_culprit+0x1/0x2",
        "[ 10.000007][  T28]  do_syscall_64+0x1/0x2",
        "[ 10.000008][  T28]  </TASK>",
    ]

    /// Another task's frame printed in the middle of a trace is not the report's.
    func testLinesOfAnotherTaskAreNotPartOfTheReport() {
        let r = KernelConsoleParser.parse(Self.hung.joined(separator: "\n"))
        XCTAssertEqual(r.map(\.title), ["INFO: task hung in the_culprit"])
        XCTAssertFalse(r[0].text.contains("other_task_frame"))
        // Without caller ids the same lines are one context: the interleaved frame is taken (as syzkaller does).
        let plain = Self.hung.map { $0.replacingOccurrences(of: #"\]\[ *T\d+\]"#, with: "]", options: .regularExpression) }
        XCTAssertEqual(KernelConsoleParser.parse(plain.joined(separator: "\n")).map(\.title), ["INFO: task hung in other_task_frame"])
    }

    /// A panic shortly after the end marker is the report's tail; one long after it is a report of its own.
    func testPanicTailAndALaterPanic() {
        let filler = (0..<80).map { "[ 11.\(String(format: "%06d", $0))][  T28] some later message \($0)" }
        let panic = "[ 12.000000][  T28] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"
        let near = KernelConsoleParser.parse((Self.hung + [panic]).joined(separator: "\n"))
        XCTAssertEqual(near.map(\.title), ["INFO: task hung in the_culprit"])
        let far = KernelConsoleParser.parse((Self.hung + filler + [panic]).joined(separator: "\n"))
        XCTAssertEqual(far.map(\.title), ["INFO: task hung in the_culprit",
                                          "kernel panic: VFS: Unable to mount root fs on unknown-block(NUM,NUM)"])
    }

    /// Frames after the first `</TASK>` still belong to the report (an RCU stall's interrupted stack).
    func testReportContinuesPastTheFirstEndMarker() {
        let log = [
            "[ 1.000001][    C0] rcu: INFO: rcu_preempt self-detected stall on CPU",
            "[ 1.000002][    C0] Call Trace:", "[ 1.000003][    C0]  <TASK>", "[ 1.000004][    C0]  rcu_gp_kthread+0x1/0x2",
            "[ 1.000005][    C0]  </TASK>", "[ 1.000006][    C0] NMI backtrace for cpu 0", "[ 1.000007][    C0] Call Trace:",
            "[ 1.000008][    C0]  <IRQ>", "[ 1.000009][    C0]  sysvec_apic_timer_interrupt+0x1/0x2", "[ 1.000010][    C0]  </IRQ>",
            "[ 1.000011][    C0]  <TASK>", "[ 1.000012][    C0]  asm_sysvec_apic_timer_interrupt+0x1/0x2",
            "[ 1.000013][    C0] RIP: 0010:spinning_func+0x1/0x2", "[ 1.000014][    C0]  __sys_bpf+0x1/0x2",
            "[ 1.000015][    C0]  __x64_sys_bpf+0x1/0x2", "[ 1.000016][    C0]  do_syscall_64+0x1/0x2", "[ 1.000017][    C0]  </TASK>",
        ]
        XCTAssertEqual(KernelConsoleParser.parse(log.joined(separator: "\n")).map(\.title), ["INFO: rcu detected stall in sys_bpf"])
    }

    /// Two tasks' reports printed at the same time are two reports, each with its own frames.
    func testInterleavedReportsOfTwoTasks() {
        let log = [
            "[ 2.000001][ T500] WARNING: CPU: 0 PID: 500 at kernel/a.c:1 alpha+0x1/0x2",
            "[ 2.000002][ T600] WARNING: CPU: 1 PID: 600 at kernel/b.c:2 beta+0x1/0x2",
            "[ 2.000003][ T500] RIP: 0010:alpha+0x1/0x2", "[ 2.000004][ T600] RIP: 0010:beta+0x1/0x2",
            "[ 2.000005][ T500] Call Trace:", "[ 2.000006][ T600] Call Trace:",
            "[ 2.000007][ T500]  caller_a+0x1/0x2", "[ 2.000008][ T600]  caller_b+0x1/0x2",
        ]
        let r = KernelConsoleParser.parse(log.joined(separator: "\n"))
        XCTAssertEqual(r.map(\.title), ["WARNING in alpha", "WARNING in beta"])
        XCTAssertFalse(r[0].text.contains("caller_b"))
        XCTAssertFalse(r[1].text.contains("caller_a"))
    }

    /// syzkaller's executor names are not part of a title.
    func testExecutorNamesAreReplaced() {
        XCTAssertEqual(KernelConsoleParser.sanitize("kernel panic: syz-executor.3/5012 killed"), "kernel panic: syz-executor killed")
        XCTAssertEqual(KernelConsoleParser.sanitize("BUG: in syzkaller0"), "BUG: in syzkaller")
    }

    /// arm64's `Internal error:` is a report of its own, and the tail of an `Unable to handle kernel` one.
    func testArmInternalError() {
        let alone = ["[ 3.000001][ T9] Internal error: synchronous external abort: 0000000096000010 [#1] PREEMPT SMP",
                     "[ 3.000002][ T9] pc : foo_read+0x1/0x2", "[ 3.000003][ T9] Call trace:", "[ 3.000004][ T9]  foo_read+0x1/0x2"]
        XCTAssertEqual(KernelConsoleParser.parse(alone.joined(separator: "\n")).map(\.title), ["Internal error in foo_read"])
        let tail = ["[ 3.000000][ T9] Unable to handle kernel paging request at virtual address ffff800008000000"] + alone
        XCTAssertEqual(KernelConsoleParser.parse(tail.joined(separator: "\n")).map(\.title),
                       ["BUG: unable to handle kernel paging request in foo_read"])
    }

    /// 6.15+ hung-task reports name the blocker after the stack: still one report, titled by the hung task.
    func testHungTaskBlockerLineIsPartOfTheReport() {
        let log = Self.hung + [
            "[ 10.000009][  T28] INFO: task a:100 is blocked on a mutex likely owned by task b:101.",
            "[ 10.000010][  T28] task:b               state:D stack:0     pid:101   tgid:101   ppid:1",
            "[ 10.000011][  T28] Call Trace:", "[ 10.000012][  T28]  <TASK>", "[ 10.000013][  T28]  owner_func+0x1/0x2",
            "[ 10.000014][  T28]  </TASK>",
            "[ 10.000015][  T28] INFO: task c:102 blocked on a semaphore likely last held by task b:101",
        ]
        XCTAssertEqual(KernelConsoleParser.parse(log.joined(separator: "\n")).map(\.title), ["INFO: task hung in the_culprit"])
    }

    /// Other CPUs' lines join the report only after its own `Sending NMI from CPU`; lockdep's taint notice never does.
    func testOtherCPUsAfterSendingNMI() {
        let log = Self.hung + [
            "[ 10.000009][    C0] early line of cpu 0",
            "[ 10.000010][  T28] Disabling lock debugging due to kernel taint",
            "[ 10.000011][  T28] Sending NMI from CPU 1 to CPUs 0:",
            "[ 10.000012][    C0] NMI backtrace for cpu 0",
        ]
        let r = KernelConsoleParser.parse(log.joined(separator: "\n"))
        XCTAssertEqual(r.map(\.title), ["INFO: task hung in the_culprit"])
        XCTAssertTrue(r[0].text.contains("NMI backtrace for cpu 0"))
        XCTAssertFalse(r[0].text.contains("early line of cpu 0"))
        XCTAssertFalse(r[0].text.contains("Disabling lock debugging"))
    }
}
