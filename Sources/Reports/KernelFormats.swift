import Foundation

/// Where a report's culprit frame comes from, tried in the order a format lists them.
public enum FrameSource: Sendable, Equatable {
    /// Capture group N of the header pattern (`WARNING: CPU: 0 PID: 1 at f.c:1 func+0x1/0x2`).
    case header(Int)
    /// The first kernel-mode `RIP: 0010:func+0x../0x..` line: the code that was running.
    case rip
    /// The first lock's `, at: func+0x../0x..` in a lockdep report: where it was being taken.
    case lockAt
    /// The call trace, innermost first, without `? ` entries and skip-rule frames.
    case stack
}

/// One kind of kernel console report, as data (after syzkaller's pkg/report layout):
/// how its first line looks, how its title is built and which frames never name it.
public struct KernelFormat: Sendable {
    /// Short kind for output and tests: hang, lockdep, warning, bug, gpf, kasan.
    public let type: String
    /// Matched against the first line of a report (decorations stripped).
    let header: Pattern
    /// `$1`..`$9`: header groups; `{ACCESS}`: Read/Write from the access line; `{FRAME}`: the culprit.
    /// Without a frame, " in {FRAME}" is dropped and the report is marked corrupted.
    public let title: String
    public let frames: [FrameSource]
    /// Extra skip patterns for this format on top of `KernelFormats.skip`.
    let skip: [Pattern]
    /// Hangs: frames that name the bucket themselves when on the stack (synchronize_rcu ...).
    public let anchors: Set<String>
    /// Ignore trace frames between <IRQ> and </IRQ> (stalls, lockups: the timer interrupt that reported it).
    public let skipIRQ: Bool
    /// This format's reports never have a frame (the title is complete without one).
    public let frameless: Bool
    /// Types of headers that continue this report rather than start a new one
    /// (the WARNING that follows a refcount_t line).
    public let absorbs: Set<String>

    init(_ type: String, header: String, title: String, frames: [FrameSource] = [.rip, .stack],
         skip: [String] = [], anchors: Set<String> = [], skipIRQ: Bool = false, frameless: Bool = false,
         absorbs: Set<String> = []) {
        self.type = type; self.header = Pattern(header); self.title = title; self.frames = frames
        self.skip = skip.map(Pattern.init); self.anchors = anchors; self.skipIRQ = skipIRQ
        self.frameless = frameless; self.absorbs = absorbs
    }
}

public enum KernelFormats {
    /// Hang anchors: a task stuck under one of these is grouped by it, whatever called it.
    public static let hangAnchors: Set<String> = [
        "synchronize_rcu", "synchronize_rcu_expedited", "synchronize_srcu", "synchronize_srcu_expedited",
        "synchronize_rcu_tasks", "synchronize_rcu_tasks_trace", "synchronize_rcu_tasks_rude", "synchronize_net",
        "rcu_barrier", "rcu_barrier_tasks", "rcu_barrier_tasks_trace", "srcu_barrier",
        "flush_work", "flush_workqueue", "drain_workqueue", "flush_delayed_work", "cancel_work_sync",
        "cancel_delayed_work_sync",
    ]

    /// Frames that never name a report: scheduling, locking, waiting, entry/exit, interrupts,
    /// the report machinery itself (dump_stack, __warn, kasan_report, lockdep) and string/copy helpers.
    public static let skipPatterns: [String] = [
        // scheduling
        #"^_*schedule"#, #"^preempt_schedule"#, #"^_*cond_resched"#, #"^io_schedule"#, #"^context_switch$"#,
        #"^_*switch_to"#, #"^finish_task_switch"#, #"^schedule_debug"#, #"^_*schedule_bug"#,
        // locking
        #"^_*mutex_lock"#, #"^_*mutex_unlock"#, #"^mutex_spin_on_owner"#, #"^osq_lock"#, #"^_*raw_spin_"#,
        #"^_raw_"#, #"^do_raw_"#, #"^_*(native_|pv_)?queued_(spin|read|write)_lock"#, #"^_*pv_queued"#,
        #"^rwsem_"#, #"^_*down(_|$)"#, #"^_*up(_read|_write)?$"#, #"^_*lock_acquire"#, #"^lock_release"#,
        #"^_*lock_sock"#, #"^_*percpu_(down|up|rwsem)"#, #"^_*rt_mutex"#, #"^rt_spin"#, #"^_*res_spin_lock"#,
        #"^raw_res_spin"#, #"^resilient_"#, #"^_*spin_lock"#, #"^_*read_lock"#, #"^_*write_lock"#,
        #"^lock_timer_base"#,
        // waiting
        #"^_*wait_for_(common|completion)"#, #"^do_wait_for_common"#, #"^wait_woken"#, #"^_*wait_rcu_gp"#,
        #"^synchronize_rcu_normal"#, #"^prepare_to_wait"#, #"^finish_wait"#, #"^_*wait_on_bit"#,
        #"^out_of_line_wait_on_bit"#, #"^bit_wait"#, #"^folio_wait"#, #"^_*wait_event"#,
        #"^schedule_hrtimeout"#, #"^do_nanosleep"#, #"^hrtimer_nanosleep"#, #"^_*futex_wait"#, #"^do_futex"#,
        #"^_*wait_var_event"#, #"^rcuwait_wait_event"#,
        // entry, exit, kthreads, interrupts, softirqs, task work
        #"^do_syscall_"#, #"^entry_"#, #"^x64_sys_call$"#, #"^_*(x64|ia32|se|do)_sys_"#, #"^ret_from_fork"#,
        #"^kthread$"#, #"^worker_thread$"#, #"^process_one_work$"#, #"^process_scheduled_works$"#,
        #"^smpboot_thread_fn$"#, #"^do_group_exit$"#, #"^do_exit$"#, #"^get_signal$"#, #"^arch_do_signal"#,
        #"^exit_to_user_mode"#, #"^syscall_exit_to_user_mode"#, #"^irqentry_"#, #"^asm_"#, #"^_*sysvec_"#,
        #"^common_interrupt"#, #"^_*irq_exit"#, #"^handle_softirqs$"#, #"^_*do_softirq"#, #"^run_ksoftirqd"#,
        #"^task_work_run$"#, #"^_*fput$"#, #"^_*fput_sync"#, #"^rcu_do_batch$"#, #"^rcu_core"#,
        #"^_*run_timer"#, #"^call_timer_fn"#, #"^_*hrtimer_"#, #"^_*run_hrtimer"#, #"^tick_"#,
        #"^update_process_times"#, #"^rcu_sched_clock_irq"#, #"^rcu_pending"#, #"^rcu_dump_cpu_stacks"#,
        #"^print_cpu_stall"#, #"^check_cpu_stall"#, #"^rcu_check_"#, #"^watchdog"#, #"^nmi_"#, #"^_*nmi_"#,
        #"^arch_trigger_cpumask_backtrace"#, #"^trigger_"#, #"^default_do_nmi"#, #"^exc_nmi"#,
        // report machinery
        #"^dump_stack"#, #"^show_stack"#, #"^_*show_regs"#, #"^show_trace"#, #"^_*warn(_|$)"#,
        #"^report_bug"#, #"^handle_bug"#, #"^exc_"#, #"^do_error_trap"#, #"^do_trap"#, #"^_*die(_|$)"#,
        #"^oops_"#, #"^_*kasan"#, #"^_*asan_"#, #"^print_"#, #"^check_memory_region"#, #"^_*ubsan"#,
        #"^panic"#, #"^lockdep_"#, #"^check_noncircular"#, #"^check_prev"#, #"^check_irq_usage"#,
        #"^check_deadlock"#, #"^validate_chain"#, #"^mark_lock"#, #"^_*bfs"#, #"^debug_check_no_locks"#,
        #"^_*might_sleep"#, #"^_*might_resched"#, #"^_*might_fault"#, #"^_*refcount_"#, #"^refcount_warn"#,
        #"^kfence_"#, #"^kmsan_"#, #"^report_"#, #"^add_taint"#, #"^mark_held_locks"#, #"^hardirq_"#,
        #"^trace_hardirqs"#, #"^lock_is_held"#, #"^rcu_read_lock_held"#,
        // string and user-copy helpers: named after their caller
        #"^_*mem(cpy|move|set|cmp|chr|scan)(_erms|_orig|_fast)?$"#, #"^_*str(len|nlen|cpy|ncpy|scpy|cmp|ncmp|chr|rchr|cat)$"#,
        #"^_*copy_(to|from)_user"#, #"^_*copy_user"#, #"^rep_movs"#, #"^raw_copy_"#, #"^copy_from_kernel_nofault"#,
    ]
    static let skip: [Pattern] = skipPatterns.map(Pattern.init)

    static func isSkipped(_ function: String, extra: [Pattern] = []) -> Bool {
        skip.contains { $0.matches(function) } || extra.contains { $0.matches(function) }
    }

    /// Most specific first: the first format whose header matches a line starts a report.
    public static let all: [KernelFormat] = [
        KernelFormat("lockdep", header: #"^WARNING: possible circular locking dependency detected"#,
                     title: "possible deadlock in {FRAME}", frames: [.lockAt, .stack]),
        KernelFormat("lockdep", header: #"^WARNING: possible recursive locking detected"#,
                     title: "possible deadlock in {FRAME}", frames: [.lockAt, .stack]),
        KernelFormat("lockdep", header: #"^WARNING: possible irq lock inversion dependency detected"#,
                     title: "possible deadlock in {FRAME}", frames: [.lockAt, .stack]),
        KernelFormat("lockdep", header: #"^WARNING: inconsistent lock state"#,
                     title: "inconsistent lock state in {FRAME}", frames: [.lockAt, .stack]),
        KernelFormat("lockdep", header: #"^WARNING: suspicious RCU usage"#,
                     title: "WARNING: suspicious RCU usage in {FRAME}", frames: [.stack]),
        KernelFormat("hang", header: #"^INFO: task \S.* blocked for more than \d+ seconds"#,
                     title: "INFO: task hung in {FRAME}", frames: [.stack], anchors: hangAnchors),
        KernelFormat("hang", header: #"^(rcu: )?INFO: rcu_\w+ (self-)?detected stalls?"#,
                     title: "INFO: rcu detected stall in {FRAME}", skipIRQ: true),
        KernelFormat("hang", header: #"^(watchdog: )?BUG: soft lockup"#,
                     title: "BUG: soft lockup in {FRAME}", skipIRQ: true),
        KernelFormat("hang", header: #"Watchdog detected hard LOCKUP on cpu"#,
                     title: "BUG: hard lockup in {FRAME}", skipIRQ: true),
        KernelFormat("hang", header: #"^BUG: workqueue lockup"#, title: "BUG: workqueue lockup", frames: [], frameless: true),
        KernelFormat("kasan", header: #"^BUG: KASAN: ([a-z0-9-]+) in (\S+)"#,
                     title: "KASAN: $1 {ACCESS} in {FRAME}", frames: [.header(2), .stack]),
        KernelFormat("kasan", header: #"^BUG: KFENCE: ([a-z0-9-]+) (?:read |write )?in (\S+)"#,
                     title: "KFENCE: $1 in {FRAME}", frames: [.header(2), .stack]),
        KernelFormat("bug", header: #"^BUG: (?:unable to handle )?kernel NULL pointer dereference"#,
                     title: "BUG: unable to handle kernel NULL pointer dereference in {FRAME}"),
        KernelFormat("bug", header: #"^BUG: unable to handle (?:page fault|kernel paging request)"#,
                     title: "BUG: unable to handle kernel paging request in {FRAME}"),
        KernelFormat("gpf", header: #"general protection fault"#, title: "general protection fault in {FRAME}"),
        KernelFormat("bug", header: #"^kernel BUG at \S+"#, title: "kernel BUG in {FRAME}"),
        KernelFormat("bug", header: #"^BUG: sleeping function called from invalid context"#,
                     title: "BUG: sleeping function called from invalid context in {FRAME}", frames: [.stack]),
        KernelFormat("bug", header: #"^BUG: scheduling while atomic"#,
                     title: "BUG: scheduling while atomic in {FRAME}", frames: [.stack]),
        KernelFormat("bug", header: #"^UBSAN: ([a-z0-9-]+) in "#, title: "UBSAN: $1 in {FRAME}", frames: [.stack]),
        KernelFormat("warning", header: #"^refcount_t: (underflow|overflow|saturated|addition on 0|decrement hit 0)"#,
                     title: "WARNING: refcount bug in {FRAME}", frames: [.stack], absorbs: ["warning"]),
        KernelFormat("warning", header: #"^WARNING: CPU: \d+ PID: \d+ at \S+ (\S+)"#,
                     title: "WARNING in {FRAME}", frames: [.header(1), .rip, .stack]),
        KernelFormat("warning", header: #"^WARNING: \S+:\d+ at (\S+)"#,
                     title: "WARNING in {FRAME}", frames: [.header(1), .rip, .stack]),
        KernelFormat("bug", header: #"^BUG: ([A-Za-z][A-Za-z _-]*[A-Za-z])"#, title: "BUG: $1 in {FRAME}"),
    ]

    /// Lines that end a report: the end of the task's trace, the end-of-trace marker,
    /// KASAN's closing rule.
    static let endMarkers: [Pattern] = [Pattern(#"^\s*</TASK>"#), Pattern(#"---\[ end trace"#), Pattern(#"^={20,}\s*$"#),
                                        Pattern(#"---\[ end Kernel panic"#)]
    static let traceStart = Pattern(#"^\s*(Call Trace:|stack backtrace:|Backtrace:)"#)
    static let kernelRIP = Pattern(#"^\s*RIP: 0010:(\S+)"#)
    static let lockAt = Pattern(#", at: (\S+)"#)
    static let access = Pattern(#"^(Read|Write) of size \d+"#)
}

extension KernelFormats {
    /// True when `function` never names a report (scheduling, locking, waiting, entry, report machinery).
    public static func isSkippedFrame(_ function: String) -> Bool { isSkipped(function) }
}
