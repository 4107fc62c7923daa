#!/usr/bin/env python3
"""Writes the kernel console golden files in kernel/ (run from this directory).

Each file holds its expected reports (TITLE, TYPE, FRAME, CORRUPTED; one block per report, in order)
above a blank line and the raw log. The reports are written here in the kernel 6.x console formats
(hung task, RCU stall, soft lockup, lockdep, WARNING, BUG, GPF, KASAN) with the decorations real
captures carry: timestamps, [T123]/[C1] caller ids, printk levels, journal prefixes, cut-off ends.
The expectations are written by hand below, not produced by the parser."""
import hashlib, os

def off(name):
    h = int(hashlib.sha1(name.encode()).hexdigest(), 16)
    size = 0x40 + (h % 0x7c0)
    return "%s+0x%x/0x%x" % (name, (h >> 12) % size, size)

def fr(*names):  # trace lines
    out = []
    for n in names:
        if n.startswith("? "):
            out.append(" ? " + off(n[2:]))
        elif n.startswith("@"):  # symbolized inline frame
            out.append(" %s %s [inline]" % tuple(n[1:].split(" ", 1)))
        elif n.startswith("<") or n.startswith("</"):
            out.append(" " + n)
        else:
            out.append(" " + off(n))
    return out

CPU = lambda cpu, pid, comm, taint="Not tainted": [
    "CPU: %d UID: 0 PID: %d Comm: %s %s 6.18.0-bpfstress #1 PREEMPT(voluntary) " % (cpu, pid, comm, taint),
    "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014"]

def REGS(rip):
    return ["RIP: 0010:" + off(rip),
            "Code: 48 8b 45 d0 48 85 c0 74 2f 48 8b 78 08 e8 6a fe ff ff 48 8b 55 d0 <0f> 0b 48 83 c4 18 5b 41 5c 5d c3",
            "RSP: 0018:ffffc90000d2fb48 EFLAGS: 00010246",
            "RAX: 0000000000000000 RBX: ffff888104b8c000 RCX: 0000000000000001",
            "RDX: 0000000000000000 RSI: ffffffff82a1b2c0 RDI: ffff888104b8c0d8",
            "RBP: ffffc90000d2fb78 R08: 0000000000000001 R09: 0000000000000000",
            "R10: 0000000000000001 R11: 0000000000000000 R12: ffff888100d1f000",
            "R13: 0000000000000008 R14: ffff88810b7a1e00 R15: 0000000000000000",
            "FS:  00007f3c2a7fe6c0(0000) GS:ffff88813bc80000(0000) knlGS:0000000000000000",
            "CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033",
            "CR2: 00007f3c1c000b28 CR3: 000000010a4de000 CR4: 0000000000750ef0"]

USER_RIP = ["RIP: 0033:0x7f3c2b91c9fd",
            "RSP: 002b:00007f3c2a7fdd48 EFLAGS: 00000246 ORIG_RAX: 0000000000000141",
            "RAX: ffffffffffffffda RBX: 0000000000000005 RCX: 00007f3c2b91c9fd"]
SYSCALL_BPF = ["__sys_bpf", "__x64_sys_bpf", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]
IRQ_TIMER = ["<IRQ>", "? show_regs", "? watchdog_timer_fn", "? __pfx_watchdog_timer_fn", "? __hrtimer_run_queues",
             "? hrtimer_interrupt", "? __sysvec_apic_timer_interrupt", "? sysvec_apic_timer_interrupt", "</IRQ>",
             "<TASK>", "? asm_sysvec_apic_timer_interrupt"]
IRQ_RCU = ["<IRQ>", "? rcu_dump_cpu_stacks", "? print_cpu_stall", "? rcu_sched_clock_irq", "? update_process_times",
           "? tick_nohz_handler", "? __hrtimer_run_queues", "? hrtimer_interrupt", "? __sysvec_apic_timer_interrupt",
           "? sysvec_apic_timer_interrupt", "</IRQ>", "<TASK>", "? asm_sysvec_apic_timer_interrupt"]
MODULES = "Modules linked in: tcp_bbr sch_fq nf_tables nfnetlink intel_rapl_msr kvm_intel kvm irqbypass"

def hung(comm, pid, frames, secs=122, cut=None):
    lines = ["INFO: task %s:%d blocked for more than %d seconds." % (comm, pid, secs),
             "      Not tainted 6.18.0-bpfstress #1",
             '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
             "task:%-15s state:D stack:0     pid:%-5d tgid:%-5d ppid:1      task_flags:0x400040 flags:0x00004000" % (comm, pid, pid),
             "Call Trace:", " <TASK>"] + fr(*frames)
    if frames[-1] == "entry_SYSCALL_64_after_hwframe":
        lines += USER_RIP
    lines += [" </TASK>"]
    return lines[:cut] if cut else lines

def stall(comm, pid, rip, frames, self_detected=True, cut=None, flavor="rcu_preempt"):
    if self_detected:
        lines = ["rcu: INFO: %s self-detected stall on CPU" % flavor,
                 "rcu: \t1-....: (20999 ticks this GP) idle=8d4c/1/0x4000000000000000 softirq=12345/12345 fqs=5234",
                 "rcu: \t(t=21002 jiffies g=48765 q=1234 ncpus=2)"]
    else:
        lines = ["rcu: INFO: %s detected stalls on CPUs/tasks:" % flavor,
                 "rcu: \t1-...!: (0 ticks this GP) idle=a2dc/1/0x4000000000000000 softirq=8871/8871 fqs=2451",
                 "rcu: \t(detected by 0, t=10502 jiffies, g=29417, q=611 ncpus=2)",
                 "Sending NMI from CPU 0 to CPUs 1:",
                 "NMI backtrace for cpu 1"]
    lines += CPU(1, pid, comm) + REGS(rip) + ["Call Trace:"] + fr(*((IRQ_RCU if self_detected else ["<NMI>", "? nmi_cpu_backtrace", "? nmi_handle", "? default_do_nmi", "? exc_nmi", "? end_repeat_nmi", "</NMI>", "<TASK>"]) + ["? " + rip] + frames)) + [" </TASK>"]
    return lines[:cut] if cut else lines

def softlockup(comm, pid, rip, frames, secs=22, cut=None, cpu=0):
    lines = ["watchdog: BUG: soft lockup - CPU#%d stuck for %ds! [%s:%d]" % (cpu, secs, comm, pid), MODULES,
             "irq event stamp: 1382172",
             "hardirqs last  enabled at (1382171): [<ffffffff81f2a1b4>] _raw_spin_unlock_irqrestore+0x44/0x60",
             "hardirqs last disabled at (1382172): [<ffffffff81f1e2a3>] sysvec_apic_timer_interrupt+0xe/0x90"]
    lines += CPU(cpu, pid, comm, "Tainted: G             L") + REGS(rip) + ["Call Trace:"] + fr(*(IRQ_TIMER + ["? " + rip] + frames)) + [" </TASK>"]
    return lines[:cut] if cut else lines

def lockdep(kind, comm, pid, acquire, held, chain, stack, cut=None):
    head = {"circular": "WARNING: possible circular locking dependency detected",
            "recursive": "WARNING: possible recursive locking detected",
            "irq": "WARNING: possible irq lock inversion dependency detected"}[kind]
    lines = ["======================================================", head,
             "6.18.0-bpfstress #1 Not tainted", "------------------------------------------------------",
             "%s/%d is trying to acquire lock:" % (comm, pid),
             "ffff888104b8c0d8 (%s){....}-{2:2}, at: %s" % (acquire[0], off(acquire[1])), "",
             "but task is already holding lock:",
             "ffff888100d1f018 (%s){-.-.}-{2:2}, at: %s" % (held[0], off(held[1])), "",
             "which lock already depends on the new lock.", "", "",
             "the existing dependency chain (in reverse order) is:", "",
             "-> #1 (%s){-.-.}-{2:2}:" % held[0]] + ["       " + off(c) for c in chain] + [
             "",
             "-> #0 (%s){....}-{2:2}:" % acquire[0],
             "       " + off("__lock_acquire"), "       " + off("lock_acquire"), "       " + off("_raw_spin_lock_irqsave"),
             "       " + off(acquire[1]), "",
             "other info that might help us debug this:", "",
             " Possible unsafe locking scenario:", "",
             "       CPU0                    CPU1", "       ----                    ----",
             "  lock(%s);" % held[0], "                               lock(%s);" % acquire[0],
             "                               lock(%s);" % held[0], "  lock(%s);" % acquire[0], "",
             " *** DEADLOCK ***", "",
             "2 locks held by %s/%d:" % (comm, pid),
             " #0: ffff888100d1f018 (%s){-.-.}-{2:2}, at: %s" % (held[0], off(held[1])), "",
             "stack backtrace:"] + CPU(1, pid, comm) + ["Call Trace:", " <TASK>"] + fr(*stack) + [" </TASK>"]
    # the ===== line is printed before the header: keep it as noise in front
    return lines[:cut] if cut else lines

def warning_old(pid, comm, src, func, rip_frames, cut=None, cpu=1):
    lines = ["------------[ cut here ]------------",
             "WARNING: CPU: %d PID: %d at %s %s" % (cpu, pid, src, off(func)), MODULES] + CPU(cpu, pid, comm) + REGS(func) + \
            ["Call Trace:", " <TASK>"] + fr(*(["? show_regs", "? __warn", "? " + func, "? report_bug", "? handle_bug", "? exc_invalid_op", "? asm_exc_invalid_op", "? " + func] + rip_frames)) + \
            [" </TASK>", "irq event stamp: 48213", "---[ end trace 0000000000000000 ]---"]
    return lines[:cut] if cut else lines

def warning_new(pid, comm, src, func, rip_frames, cut=None, cpu=0):
    lines = ["------------[ cut here ]------------",
             "WARNING: %s at %s, CPU#%d: %s/%d" % (src, off(func), cpu, comm, pid), MODULES] + CPU(cpu, pid, comm) + REGS(func) + \
            ["Call Trace:", " <TASK>"] + fr(*rip_frames) + [" </TASK>", "---[ end trace 0000000000000000 ]---"]
    return lines[:cut] if cut else lines

def oops(first, rip, frames, pid=3141, comm="bpfs.1.churn", cut=None, gpf_kasan=False):
    lines = first + CPU(1, pid, comm) + REGS(rip) + ["Call Trace:", " <TASK>"] + fr(*frames) + \
            [" </TASK>", MODULES, "---[ end trace 0000000000000000 ]---"] + REGS(rip)[:3] + \
            ["Kernel panic - not syncing: Fatal exception", "Kernel Offset: disabled",
             "---[ end Kernel panic - not syncing: Fatal exception ]---"]
    return lines[:cut] if cut else lines

def kasan(kind, func, access, frames, pid=777, comm="bpfs.0.churn", cut=None):
    lines = ["BUG: KASAN: %s in %s" % (kind, off(func))]
    if access:
        lines.append("%s of size 8 at addr ffff88810b7a1e48 by task %s/%d" % (access, comm, pid))
    lines += [""] + CPU(0, pid, comm, "Not tainted") + ["Call Trace:", " <TASK>"] + \
             fr(*(["dump_stack_lvl", "print_report", "kasan_report"] + frames)) + [" </TASK>", "",
             "Allocated by task 770:"] + fr("kasan_save_stack", "kasan_save_track", "__kasan_kmalloc", "bpf_link_init", "bpf_tracing_prog_attach") + \
             ["", "Freed by task 771:"] + fr("kasan_save_stack", "kasan_save_free_info", "__kasan_slab_free", "kfree", "bpf_link_free") + \
             ["", "The buggy address belongs to the object at ffff88810b7a1e00", " which belongs to the cache kmalloc-128 of size 128",
              "==================================================================",
              "Disabling lock debugging due to kernel taint"]
    return lines[:cut] if cut else lines

# -- decorations -----------------------------------------------------------------------------------
def deco(lines, style, t0=1234.5, tid=4242, cpu=1):
    out = []
    for i, l in enumerate(lines):
        ts = "[%12.6f]" % (t0 + i * 0.000031)
        if style == "ts": out.append(ts + " " + l)
        elif style == "tsT": out.append(ts + "[%7s] " % ("T%d" % tid) + l)
        elif style == "tsC": out.append(ts + "[%7s] " % ("C%d" % cpu) + l)
        elif style == "lvl": out.append("<4>" + ts + " " + l)
        elif style == "journal": out.append("Nov 03 02:14:%02d bpfvm kernel: " % (7 + i // 40) + l)
        elif style == "dmesgx": out.append("kern  :warn  : " + ts + " " + l)
        elif style == "kmsg": out.append("4,%d,%d,-;" % (5000 + i, int((t0 + i * 0.00003) * 1e6)) + l)
        else: out.append(l)
    return out

NOISE_BEFORE = ["bpfstress: campaign nightly seed 42 started", "loop0: detected capacity change from 0 to 8",
                "IPv6: ADDRCONF(NETDEV_CHANGE): veth1: link becomes ready"]
NOISE_AFTER = ["bpfstress: campaign nightly seed 42 teardown", "audit: type=1334 audit(1762135247.123:812): prog-id=77 op=UNLOAD"]

files = []
def add(name, expect, lines, style="ts", before=True, after=True, prelude=None):
    body = (NOISE_BEFORE if before else []) + (prelude or []) + lines + (NOISE_AFTER if after else [])
    files.append((name, expect, deco(body, style, tid=(len(files) * 97) % 9000 + 100)))

def E(title, typ, frame, corrupted=False):
    return (title, typ, frame, corrupted)

SEP = ["======================================================"]
KSEP = ["=================================================================="]

# ---- hung task (hang) ----
RCU_WAIT = ["__schedule", "schedule", "schedule_timeout", "? __pfx_schedule_timeout", "__wait_for_common", "__wait_rcu_gp", "synchronize_rcu_normal", "synchronize_rcu"]
add("hung-synchronize-rcu-link-release.txt", [E("INFO: task hung in synchronize_rcu", "hang", "synchronize_rcu")],
    hung("bpfs.0.churn", 4242, RCU_WAIT + ["bpf_link_free", "bpf_link_release", "__fput", "task_work_run", "syscall_exit_to_user_mode", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]), "tsT")
add("hung-synchronize-rcu-map-free.txt", [E("INFO: task hung in synchronize_rcu", "hang", "synchronize_rcu")],
    hung("bpfs.1.map", 5150, RCU_WAIT + ["bpf_map_free_deferred", "process_one_work", "worker_thread", "kthread", "ret_from_fork", "ret_from_fork_asm"]), "ts")
add("hung-cgroup-mutex.txt", [E("INFO: task hung in cgroup_bpf_attach", "hang", "cgroup_bpf_attach")],
    hung("bpfs.2.attach", 6001, ["__schedule", "schedule", "schedule_preempt_disabled", "__mutex_lock.constprop.0", "__mutex_lock_slowpath", "mutex_lock", "cgroup_bpf_attach", "cgroup_bpf_link_attach", "link_create"] + SYSCALL_BPF), "tsT")
add("hung-rwsem-offload.txt", [E("INFO: task hung in bpf_offload_dev_netdev_unregister", "hang", "bpf_offload_dev_netdev_unregister")],
    hung("kworker/u8:3", 88, ["__schedule", "schedule", "schedule_preempt_disabled", "rwsem_down_write_slowpath", "down_write", "bpf_offload_dev_netdev_unregister", "nsim_bpf_uninit", "nsim_destroy", "process_one_work", "worker_thread", "kthread", "ret_from_fork", "ret_from_fork_asm"]), "lvl")
add("hung-synchronize-srcu.txt", [E("INFO: task hung in synchronize_srcu", "hang", "synchronize_srcu")],
    hung("bpfs.0.tramp", 7002, ["__schedule", "schedule", "schedule_timeout", "__wait_for_common", "__synchronize_srcu", "bpf_trampoline_update", "bpf_trampoline_unlink_prog", "bpf_tracing_link_release", "bpf_link_free", "bpf_link_release", "__fput", "task_work_run", "syscall_exit_to_user_mode", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]), "journal")
add("hung-flush-work.txt", [E("INFO: task hung in flush_work", "hang", "flush_work")],
    hung("bpfs.3.netns", 7100, ["__schedule", "schedule", "schedule_timeout", "__wait_for_common", "__flush_work", "flush_all_backlogs", "unregister_netdevice_many_notify", "cleanup_net", "process_one_work", "worker_thread", "kthread", "ret_from_fork", "ret_from_fork_asm"]), "tsC")
add("hung-rcu-barrier.txt", [E("INFO: task hung in rcu_barrier", "hang", "rcu_barrier")],
    hung("bpfs.1.sockmap", 7200, ["__schedule", "schedule", "schedule_timeout", "__wait_for_common", "rcu_barrier", "bpf_map_free_deferred", "process_one_work", "worker_thread", "kthread", "ret_from_fork"]), "none")
add("hung-kthread-stop.txt", [E("INFO: task hung in kthread_stop", "hang", "kthread_stop")],
    hung("bpfs.0.struct", 7300, ["__schedule", "schedule", "schedule_timeout", "__wait_for_common", "wait_for_completion", "kthread_stop", "bpf_struct_ops_map_free", "bpf_map_put", "bpf_map_release", "__fput", "task_work_run", "do_exit", "do_group_exit", "__x64_sys_exit_group", "x64_sys_call", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]), "tsT")
add("hung-percpu-rwsem-cgroup.txt", [E("INFO: task hung in cgroup_procs_write_start", "hang", "cgroup_procs_write_start")],
    hung("bpfs.2.member", 7400, ["__schedule", "schedule", "percpu_rwsem_wait", "__percpu_down_read", "percpu_down_write", "cgroup_procs_write_start", "__cgroup_procs_write", "cgroup_procs_write", "kernfs_fop_write_iter", "vfs_write", "ksys_write", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]), "dmesgx")
add("hung-kworker-map-free-mutex.txt", [E("INFO: task hung in bpf_map_free_deferred", "hang", "bpf_map_free_deferred")],
    hung("kworker/1:2", 191, ["__schedule", "schedule", "schedule_preempt_disabled", "__mutex_lock.isra.0", "mutex_lock_nested", "bpf_map_free_deferred", "process_one_work", "worker_thread", "kthread", "ret_from_fork", "ret_from_fork_asm"]), "kmsg")
add("hung-cut-before-culprit.txt", [E("INFO: task hung", "hang", "", True)],
    hung("bpfs.0.churn", 4243, RCU_WAIT + ["bpf_link_free"], cut=10), "tsT", after=False)
add("hung-cut-after-culprit.txt", [E("INFO: task hung in synchronize_rcu", "hang", "synchronize_rcu", True)],
    hung("bpfs.0.churn", 4244, RCU_WAIT + ["bpf_link_free", "bpf_link_release", "__fput"], cut=16), "ts", after=False)

# ---- RCU stalls (hang) ----
add("rcu-stall-self-htab-update.txt", [E("INFO: rcu detected stall in htab_map_update_elem", "hang", "htab_map_update_elem")],
    stall("bpfs.0.map", 4321, "htab_map_update_elem", ["bpf_map_update_value", "map_update_elem"] + SYSCALL_BPF), "tsC")
add("rcu-stall-self-spin-slowpath.txt", [E("INFO: rcu detected stall in htab_lock_bucket", "hang", "htab_lock_bucket")],
    stall("bpfs.1.lock", 4400, "native_queued_spin_lock_slowpath", ["_raw_spin_lock_irqsave", "htab_lock_bucket", "htab_map_delete_elem", "bpf_prog_4f1b2c6a7c9e8d12_on_contention", "bpf_trace_run2", "__bpf_trace_contention_begin", "queued_spin_lock_slowpath", "do_raw_spin_lock"]), "ts")
add("rcu-stall-nmi-backtrace.txt", [E("INFO: rcu detected stall in __htab_map_lookup_and_delete_batch", "hang", "__htab_map_lookup_and_delete_batch")],
    stall("bpfs.2.batch", 4500, "__htab_map_lookup_and_delete_batch", ["htab_percpu_map_lookup_and_delete_batch", "bpf_map_do_batch"] + SYSCALL_BPF, self_detected=False, flavor="rcu_sched"), "tsT")
add("rcu-stall-bpf-prog-tag.txt", [E("INFO: rcu detected stall in bpf_prog_spin_loop", "hang", "bpf_prog_spin_loop")],
    stall("bpfs.3.prog", 4600, "bpf_prog_9c0e1f2a3b4c5d6e_spin_loop", ["bpf_test_run", "bpf_prog_test_run_skb", "bpf_prog_test_run"] + SYSCALL_BPF), "journal")
add("rcu-stall-cut-in-header.txt", [E("INFO: rcu detected stall", "hang", "", True)],
    stall("bpfs.0.map", 4700, "htab_map_update_elem", [], cut=3), "ts", after=False)

# ---- soft lockups (hang) ----
add("softlockup-htab-batch.txt", [E("BUG: soft lockup in __htab_map_lookup_and_delete_batch", "hang", "__htab_map_lookup_and_delete_batch")],
    softlockup("bpfs.1.batch", 5555, "__htab_map_lookup_and_delete_batch", ["htab_map_lookup_and_delete_batch", "bpf_map_do_batch"] + SYSCALL_BPF), "ts")
add("softlockup-spin-slowpath.txt", [E("BUG: soft lockup in htab_lock_bucket", "hang", "htab_lock_bucket")],
    softlockup("bpfs.0.lock", 5600, "queued_spin_lock_slowpath", ["do_raw_spin_lock", "_raw_spin_lock_irqsave", "htab_lock_bucket", "htab_map_update_elem", "bpf_map_update_value"] + SYSCALL_BPF), "tsC")
add("softlockup-smp-call.txt", [E("BUG: soft lockup in smp_call_function_many_cond", "hang", "smp_call_function_many_cond")],
    softlockup("bpfs.2.text", 5700, "smp_call_function_many_cond", ["on_each_cpu_cond_mask", "text_poke_bp_batch", "text_poke_finish", "arch_jump_label_transform_apply", "static_key_enable_cpuslocked", "bpf_prog_load"] + SYSCALL_BPF, cpu=1), "tsT")
add("softlockup-trie-iter.txt", [E("BUG: soft lockup in trie_get_next_key", "hang", "trie_get_next_key")],
    softlockup("bpfs.3.lpm", 5800, "trie_get_next_key.isra.0", ["map_get_next_key"] + SYSCALL_BPF), "lvl")
add("softlockup-cut.txt", [E("BUG: soft lockup", "hang", "", True)],
    softlockup("bpfs.1.batch", 5900, "__htab_map_lookup_and_delete_batch", [], cut=2), "ts", after=False)

# ---- lockdep ----
add("lockdep-circular-htab-rq.txt", [E("possible deadlock in htab_lock_bucket", "lockdep", "htab_lock_bucket")],
    lockdep("circular", "bpfs.0.lock", 4242, ("&htab->lockdep_key", "htab_lock_bucket"), ("&rq->__lock", "raw_spin_rq_lock_nested"),
            ["_raw_spin_lock_nested", "raw_spin_rq_lock_nested", "__schedule", "schedule"],
            ["dump_stack_lvl", "print_circular_bug", "check_noncircular", "__lock_acquire", "lock_acquire", "_raw_spin_lock_irqsave", "htab_lock_bucket", "htab_map_update_elem", "bpf_prog_4f1b2c6a7c9e8d12_on_contention", "bpf_trace_run2", "__bpf_trace_contention_begin", "queued_spin_lock_slowpath", "raw_spin_rq_lock_nested", "__schedule"]), "tsT", prelude=SEP)
add("lockdep-circular-cgroup-mutex.txt", [E("possible deadlock in cgroup_bpf_attach", "lockdep", "cgroup_bpf_attach")],
    lockdep("circular", "bpfs.2.attach", 6001, ("cgroup_mutex", "cgroup_bpf_attach"), ("&net->rtnl_mutex", "rtnl_lock"),
            ["__mutex_lock", "mutex_lock_nested", "cgroup_bpf_attach", "cgroup_bpf_link_attach"],
            ["dump_stack_lvl", "print_circular_bug", "check_noncircular", "__lock_acquire", "lock_acquire", "__mutex_lock", "mutex_lock_nested", "cgroup_bpf_attach", "cgroup_bpf_link_attach", "link_create"] + SYSCALL_BPF), "ts", prelude=SEP)
add("lockdep-circular-trampoline.txt", [E("possible deadlock in bpf_trampoline_link_prog", "lockdep", "bpf_trampoline_link_prog")],
    lockdep("circular", "bpfs.0.tramp", 7002, ("&tr->mutex", "bpf_trampoline_link_prog"), ("text_mutex", "text_poke_bp"),
            ["__mutex_lock", "text_poke_bp", "arch_jump_label_transform_apply"],
            ["dump_stack_lvl", "check_noncircular", "__lock_acquire", "lock_acquire", "__mutex_lock", "bpf_trampoline_link_prog", "bpf_tracing_prog_attach", "link_create"] + SYSCALL_BPF), "journal", prelude=SEP)
add("lockdep-recursive-sock.txt", [E("possible deadlock in sock_map_update_common", "lockdep", "sock_map_update_common")],
    lockdep("recursive", "bpfs.1.sockmap", 8800, ("&stab->lock", "sock_map_update_common"), ("&stab->lock", "sock_map_update_common"),
            ["_raw_spin_lock_bh", "sock_map_update_common"],
            ["dump_stack_lvl", "print_deadlock_bug", "validate_chain", "__lock_acquire", "lock_acquire", "_raw_spin_lock_bh", "sock_map_update_common", "sock_map_update_elem_sys", "bpf_map_update_value"] + SYSCALL_BPF), "tsT", prelude=SEP)
add("lockdep-irq-inversion.txt", [E("possible deadlock in bpf_ringbuf_reserve", "lockdep", "bpf_ringbuf_reserve")],
    lockdep("irq", "bpfs.3.ring", 8900, ("&rb->spinlock", "bpf_ringbuf_reserve"), ("&p->pi_lock", "try_to_wake_up"),
            ["_raw_spin_lock_irqsave", "try_to_wake_up"],
            ["dump_stack_lvl", "print_irq_inversion_bug", "check_usage_forwards", "mark_lock", "__lock_acquire", "lock_acquire", "_raw_spin_lock_irqsave", "bpf_ringbuf_reserve", "bpf_prog_00aa11bb22cc33dd_ring", "bpf_trace_run1"]), "ts", prelude=SEP)
INCONS = ["================================", "WARNING: inconsistent lock state", "6.18.0-bpfstress #1 Not tainted",
          "--------------------------------", "inconsistent {IN-SOFTIRQ-W} -> {SOFTIRQ-ON-W} usage.",
          "bpfs.1.lru/9001 [HC0[0]:SC0[0]:HE1:SE1] takes:",
          "ffff88810a1b2c18 (&l->lock){+.?.}-{2:2}, at: " + off("bpf_lru_pop_free"),
          "{IN-SOFTIRQ-W} state was registered at:", "  " + off("lock_acquire"), "  " + off("_raw_spin_lock"), "  " + off("bpf_lru_push_free"),
          "", "stack backtrace:"] + CPU(1, 9001, "bpfs.1.lru") + ["Call Trace:", " <TASK>"] + fr("dump_stack_lvl", "mark_lock", "__lock_acquire", "lock_acquire", "_raw_spin_lock", "bpf_lru_pop_free", "htab_lru_map_update_elem", "bpf_map_update_value", *SYSCALL_BPF) + [" </TASK>"]
add("lockdep-inconsistent-lru.txt", [E("inconsistent lock state in bpf_lru_pop_free", "lockdep", "bpf_lru_pop_free")], INCONS, "tsC")
SUSP = ["=============================", "WARNING: suspicious RCU usage", "6.18.0-bpfstress #1 Not tainted", "-----------------------------",
        "kernel/bpf/hashtab.c:682 suspicious rcu_dereference_check() usage!", "", "other info that might help us debug this:", "",
        "rcu_scheduler_active = 2, debug_locks = 1", "no locks held by bpfs.0.map/4321.", "", "stack backtrace:"] + CPU(0, 4321, "bpfs.0.map") + \
       ["Call Trace:", " <TASK>"] + fr("dump_stack_lvl", "lockdep_rcu_suspicious", "@__htab_map_lookup_elem kernel/bpf/hashtab.c:682", "htab_map_lookup_elem", "bpf_map_lookup_elem_sys_only", *SYSCALL_BPF) + [" </TASK>"]
add("lockdep-suspicious-rcu-inline.txt", [E("WARNING: suspicious RCU usage in __htab_map_lookup_elem", "lockdep", "__htab_map_lookup_elem")], SUSP, "ts")
add("lockdep-cut-before-lock.txt", [E("possible deadlock", "lockdep", "", True)],
    lockdep("circular", "bpfs.0.lock", 4242, ("&htab->lockdep_key", "htab_lock_bucket"), ("&rq->__lock", "raw_spin_rq_lock_nested"), [], [], cut=5), "tsT", prelude=SEP, after=False)

# ---- WARNING ----
add("warning-old-bpf-map-put.txt", [E("WARNING in bpf_map_put", "warning", "bpf_map_put")],
    warning_old(3001, "bpfs.0.map", "kernel/bpf/syscall.c:871", "bpf_map_put", ["bpf_map_release", "__fput", "task_work_run", "syscall_exit_to_user_mode", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]), "ts")
add("warning-old-cgroup-bpf-detach.txt", [E("WARNING in __cgroup_bpf_detach", "warning", "__cgroup_bpf_detach")],
    warning_old(3002, "bpfs.2.attach", "kernel/bpf/cgroup.c:1132", "__cgroup_bpf_detach", ["cgroup_bpf_prog_detach", "bpf_prog_detach"] + SYSCALL_BPF), "tsT")
add("warning-old-constprop.txt", [E("WARNING in bpf_prog_array_copy", "warning", "bpf_prog_array_copy")],
    warning_old(3003, "bpfs.3.perf", "kernel/bpf/core.c:2561", "bpf_prog_array_copy.constprop.0", ["perf_event_attach_bpf_prog", "perf_event_set_bpf_prog", "_perf_ioctl", "perf_ioctl", "__x64_sys_ioctl", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]), "lvl")
add("warning-new-format-struct-ops.txt", [E("WARNING in bpf_struct_ops_map_link_dealloc", "warning", "bpf_struct_ops_map_link_dealloc")],
    warning_new(3004, "bpfs.0.struct", "kernel/bpf/bpf_struct_ops.c:1212", "bpf_struct_ops_map_link_dealloc", ["bpf_link_free", "bpf_link_release", "__fput", "task_work_run", "syscall_exit_to_user_mode", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]), "tsT")
add("warning-new-format-netns.txt", [E("WARNING in netns_bpf_link_release", "warning", "netns_bpf_link_release")],
    warning_new(3005, "kworker/u8:1", "kernel/bpf/net_namespace.c:63", "netns_bpf_link_release", ["bpf_link_free", "cleanup_net", "process_one_work", "worker_thread", "kthread", "ret_from_fork", "ret_from_fork_asm"]), "journal")
REFC = ["------------[ cut here ]------------", "refcount_t: underflow; use-after-free.",
        "WARNING: CPU: 0 PID: 3006 at lib/refcount.c:28 " + off("refcount_warn_saturate"), MODULES] + CPU(0, 3006, "bpfs.0.churn") + REGS("refcount_warn_saturate") + \
       ["Call Trace:", " <TASK>"] + fr("? __warn", "? refcount_warn_saturate", "? report_bug", "refcount_warn_saturate", "bpf_link_put_direct", "bpf_link_release", "__fput", "task_work_run", "syscall_exit_to_user_mode", "do_syscall_64", "entry_SYSCALL_64_after_hwframe") + \
       [" </TASK>", "---[ end trace 0000000000000000 ]---"]
add("warning-refcount-underflow.txt", [E("WARNING: refcount bug in bpf_link_put_direct", "warning", "bpf_link_put_direct")], REFC, "tsC")
add("warning-cut-after-header.txt", [E("WARNING in bpf_map_put", "warning", "bpf_map_put", True)],
    warning_old(3007, "bpfs.0.map", "kernel/bpf/syscall.c:871", "bpf_map_put", [], cut=4), "ts", after=False)

# ---- BUG ----
NULLDEREF = ["BUG: kernel NULL pointer dereference, address: 0000000000000010", "#PF: supervisor read access in kernel mode",
             "#PF: error_code(0x0000) - not-present page", "PGD 0 P4D 0", "Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI"]
add("bug-null-deref-link-detach.txt", [E("BUG: unable to handle kernel NULL pointer dereference in bpf_link_detach", "bug", "bpf_link_detach")],
    oops(NULLDEREF, "bpf_link_detach", ["? __die", "? page_fault_oops", "? exc_page_fault", "? asm_exc_page_fault", "? bpf_link_detach", "__sys_bpf", "__x64_sys_bpf", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]), "tsT")
PAGEF = ["BUG: unable to handle page fault for address: ffffc90001234000", "#PF: supervisor write access in kernel mode",
         "#PF: error_code(0x0002) - not-present page", "PGD 100000067 P4D 100000067 PUD 1001c4067 PMD 10a3e1067 PTE 0",
         "Oops: Oops: 0002 [#1] PREEMPT SMP NOPTI"]
add("bug-paging-request-percpu.txt", [E("BUG: unable to handle kernel paging request in pcpu_copy_value", "bug", "pcpu_copy_value")],
    oops(PAGEF, "pcpu_copy_value", ["? __die", "? page_fault_oops", "? exc_page_fault", "? asm_exc_page_fault", "bpf_percpu_hash_copy", "bpf_map_copy_value", "map_lookup_elem"] + SYSCALL_BPF), "ts")
add("bug-paging-request-memcpy.txt", [E("BUG: unable to handle kernel paging request in htab_map_update_elem", "bug", "htab_map_update_elem")],
    oops(PAGEF, "memcpy_orig", ["? __die", "? page_fault_oops", "? asm_exc_page_fault", "? memcpy_orig", "htab_map_update_elem", "bpf_map_update_value"] + SYSCALL_BPF), "lvl")
KBUG = ["------------[ cut here ]------------", "kernel BUG at kernel/bpf/core.c:2342!", "Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI"]
add("bug-kernel-bug-at.txt", [E("kernel BUG in bpf_prog_free_deferred", "bug", "bpf_prog_free_deferred")],
    oops(KBUG, "bpf_prog_free_deferred", ["? die", "? do_trap", "? exc_invalid_op", "? asm_exc_invalid_op", "process_one_work", "worker_thread", "kthread", "ret_from_fork"], comm="kworker/0:1"), "tsT")
SLEEP = ["BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580",
         "in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 3100, name: bpfs.0.lock", "preempt_count: 1, expected: 0",
         "RCU nest depth: 1, expected: 0"] + CPU(0, 3100, "bpfs.0.lock", "Tainted: G        W") + ["Call Trace:", " <TASK>"] + \
        fr("dump_stack_lvl", "__might_resched", "__might_sleep", "__mutex_lock", "mutex_lock_nested", "bpf_struct_ops_map_update_elem", "bpf_map_update_value", *SYSCALL_BPF) + [" </TASK>"]
add("bug-sleeping-in-atomic.txt", [E("BUG: sleeping function called from invalid context in bpf_struct_ops_map_update_elem", "bug", "bpf_struct_ops_map_update_elem")], SLEEP, "ts")
ATOMIC = ["BUG: scheduling while atomic: bpfs.1.lock/3200/0x00000002", MODULES] + CPU(1, 3200, "bpfs.1.lock") + ["Call Trace:", " <TASK>"] + \
         fr("dump_stack_lvl", "__schedule_bug", "__schedule", "schedule", "schedule_timeout", "htab_lock_bucket_wait", "htab_map_delete_elem", "bpf_map_delete_elem", *SYSCALL_BPF) + [" </TASK>"]
add("bug-scheduling-while-atomic.txt", [E("BUG: scheduling while atomic in htab_lock_bucket_wait", "bug", "htab_lock_bucket_wait")], ATOMIC, "tsC")
UBSAN = ["------------[ cut here ]------------", "UBSAN: array-index-out-of-bounds in kernel/bpf/verifier.c:11234:23",
         "index 12 is out of range for type 'bpf_reg_state [11]'"] + CPU(0, 3300, "bpfs.3.load") + ["Call Trace:", " <TASK>"] + \
        fr("dump_stack_lvl", "__ubsan_handle_out_of_bounds", "check_helper_call", "do_check", "do_check_common", "bpf_check", "bpf_prog_load", *SYSCALL_BPF) + \
        [" </TASK>", "---[ end trace ]---"]
add("bug-ubsan-verifier.txt", [E("UBSAN: array-index-out-of-bounds in check_helper_call", "bug", "check_helper_call")], UBSAN, "ts")
add("bug-workqueue-lockup.txt", [E("BUG: workqueue lockup", "hang", "")],
    ["BUG: workqueue lockup - pool cpus=1 node=0 flags=0x0 nice=0 stuck for 45s!", "Showing busy workqueues and worker pools:",
     "workqueue events: flags=0x0", "  pwq 2: cpus=1 node=0 flags=0x0 nice=0 active=3 refcnt=4", "    pending: bpf_prog_free_deferred"], "tsT")
add("bug-paging-cut.txt", [E("BUG: unable to handle kernel paging request", "bug", "", True)], PAGEF[:3], "ts", after=False)

# ---- GPF ----
GPF_K = ["Oops: general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] PREEMPT SMP KASAN NOPTI",
         "KASAN: null-ptr-deref in range [0x0000000000000008-0x000000000000000f]"]
add("gpf-kasan-prog-array.txt", [E("general protection fault in bpf_prog_array_free_sleepable", "gpf", "bpf_prog_array_free_sleepable")],
    oops(GPF_K, "bpf_prog_array_free_sleepable", ["? die_addr", "? exc_general_protection", "? asm_exc_general_protection", "? bpf_prog_array_free_sleepable", "cgroup_bpf_release", "process_one_work", "worker_thread", "kthread", "ret_from_fork"], comm="kworker/1:3"), "tsT")
GPF_OLD = ["general protection fault: 0000 [#1] SMP PTI"]
add("gpf-old-format-sk-lookup.txt", [E("general protection fault in sk_lookup_run_bpf", "gpf", "sk_lookup_run_bpf")],
    oops(GPF_OLD, "sk_lookup_run_bpf", ["__inet_lookup_listener", "tcp_v4_rcv", "ip_protocol_deliver_rcu", "ip_local_deliver_finish", "__netif_receive_skb_one_core", "process_backlog", "__napi_poll", "net_rx_action", "handle_softirqs", "do_softirq"]), "ts")
GPF_NC = ["Oops: general protection fault, probably for non-canonical address 0x6b6b6b6b6b6b6b73: 0000 [#1] PREEMPT SMP NOPTI"]
add("gpf-poison-memcpy.txt", [E("general protection fault in bpf_obj_memcpy", "gpf", "bpf_obj_memcpy")],
    oops(GPF_NC, "memcpy_orig", ["? die_addr", "? exc_general_protection", "? asm_exc_general_protection", "? memcpy_orig", "bpf_obj_memcpy", "copy_map_value", "htab_map_update_elem", "bpf_map_update_value"] + SYSCALL_BPF), "journal")
add("gpf-cut-before-rip.txt", [E("general protection fault", "gpf", "", True)], oops(GPF_K, "x", [], cut=4), "ts", after=False)

# ---- KASAN ----
add("kasan-slab-uaf-read-link-put.txt", [E("KASAN: slab-use-after-free Read in bpf_link_put", "kasan", "bpf_link_put")],
    kasan("slab-use-after-free", "bpf_link_put", "Read", ["bpf_link_put", "bpf_link_release", "__fput", "task_work_run", "syscall_exit_to_user_mode", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]), "tsT", prelude=KSEP)
add("kasan-uaf-write-trampoline.txt", [E("KASAN: use-after-free Write in bpf_trampoline_unlink_prog", "kasan", "bpf_trampoline_unlink_prog")],
    kasan("use-after-free", "bpf_trampoline_unlink_prog", "Write", ["bpf_trampoline_unlink_prog", "bpf_tracing_link_release", "bpf_link_free", "bpf_link_release", "__fput"]), "ts", prelude=KSEP)
add("kasan-oob-in-memcpy.txt", [E("KASAN: slab-out-of-bounds Read in pcpu_copy_value", "kasan", "pcpu_copy_value")],
    kasan("slab-out-of-bounds", "__asan_memcpy", "Read", ["kasan_check_range", "__asan_memcpy", "pcpu_copy_value", "bpf_percpu_hash_copy", "bpf_map_copy_value", "map_lookup_elem"] + SYSCALL_BPF), "tsC", prelude=KSEP)
add("kasan-global-oob.txt", [E("KASAN: global-out-of-bounds Read in btf_type_by_id", "kasan", "btf_type_by_id")],
    kasan("global-out-of-bounds", "btf_type_by_id", "Read", ["btf_type_by_id", "btf_struct_access", "check_ptr_to_btf_access", "do_check", "bpf_check", "bpf_prog_load"] + SYSCALL_BPF), "lvl", prelude=KSEP)
add("kasan-null-ptr-deref.txt", [E("KASAN: null-ptr-deref Write in sock_map_unref", "kasan", "sock_map_unref")],
    kasan("null-ptr-deref", "sock_map_unref", "Write", ["sock_map_unref", "sock_map_delete_elem", "bpf_map_delete_elem"] + SYSCALL_BPF), "journal", prelude=KSEP)
add("kasan-cut-before-access.txt", [E("KASAN: slab-use-after-free in bpf_link_put", "kasan", "bpf_link_put", True)],
    kasan("slab-use-after-free", "bpf_link_put", None, [], cut=1), "tsT", prelude=KSEP, after=False)

# ---- several reports in one dmesg capture ----
multi = warning_old(3001, "bpfs.0.map", "kernel/bpf/syscall.c:871", "bpf_map_put", ["bpf_map_release", "__fput", "task_work_run"]) + \
        ["bpfstress: worker 3 restarted"] + hung("bpfs.0.churn", 4242, RCU_WAIT + ["bpf_link_free", "bpf_link_release"]) + \
        hung("bpfs.1.churn", 4250, RCU_WAIT + ["bpf_link_free", "bpf_link_release"]) + \
        softlockup("bpfs.1.batch", 5555, "__htab_map_lookup_and_delete_batch", ["bpf_map_do_batch"] + SYSCALL_BPF, cut=25)
add("multi-warning-two-hangs-cut-lockup.txt", [E("WARNING in bpf_map_put", "warning", "bpf_map_put"),
                                               E("INFO: task hung in synchronize_rcu", "hang", "synchronize_rcu"),
                                               E("INFO: task hung in synchronize_rcu", "hang", "synchronize_rcu"),
                                               E("BUG: soft lockup in __htab_map_lookup_and_delete_batch", "hang", "__htab_map_lookup_and_delete_batch", True)],
    multi, "tsT", after=False)
multi2 = lockdep("circular", "bpfs.0.lock", 4242, ("&htab->lockdep_key", "htab_lock_bucket"), ("&rq->__lock", "raw_spin_rq_lock_nested"),
                 ["raw_spin_rq_lock_nested"], ["dump_stack_lvl", "check_noncircular", "__lock_acquire", "lock_acquire", "_raw_spin_lock_irqsave", "htab_lock_bucket", "htab_map_update_elem"]) + \
         KSEP + kasan("slab-use-after-free", "bpf_link_put", "Read", ["bpf_link_put", "bpf_link_release"])
add("multi-lockdep-then-kasan.txt", [E("possible deadlock in htab_lock_bucket", "lockdep", "htab_lock_bucket"),
                                     E("KASAN: slab-use-after-free Read in bpf_link_put", "kasan", "bpf_link_put")], multi2, "ts", prelude=SEP)
add("no-reports-clean-boot.txt", [], [], "ts")

os.makedirs("kernel", exist_ok=True)
for name, expect, lines in files:
    head = []
    for (t, ty, f, c) in expect:
        head += ["TITLE: " + t, "TYPE: " + ty, "FRAME: " + f] + (["CORRUPTED: true"] if c else [])
    if not expect:
        head = ["REPORTS: 0"]
    with open(os.path.join("kernel", name), "w") as fh:
        fh.write("\n".join(head) + "\n\n" + "\n".join(lines) + "\n")
print(len(files), "files")
