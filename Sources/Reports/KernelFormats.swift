// The kernel report formats as data: which line starts a report, how each kind is titled, where its culprit frame is.

import Foundation

/// One step of finding a report's frames, applied in order over the report's lines.
public enum StackPart: Sendable {
    /// Move to the next line that matches.
    case seek(Pattern)
    /// Move to the next line that matches; its capture groups are frames.
    case capture(Pattern)
    /// The frames of a call trace, up to the next trace keyword (`Call Trace:`, `Freed by task`, ...).
    case trace
}

/// How the culprit is chosen among a trace's frames (skip-listed frames are already gone).
public enum FrameRule: Sendable {
    /// The first frame.
    case first
    /// Stalls and lockups: the frame just inside the first stall anchor (the syscall, the work function).
    case stall
    /// Hung tasks: the first hang anchor (rtnl_lock, synchronize_rcu), else the first frame that does not wait.
    case hang
}

public struct StackSpec: Sendable {
    let parts: [StackPart]
    /// Tried when `parts` finds no frame.
    let parts2: [StackPart]
    /// Generic skip list plus this format's own.
    let skip: SkipList
    let rule: FrameRule

    init(_ parts: [StackPart], _ parts2: [StackPart] = [], skip: [String] = [], rule: FrameRule = .first) {
        self.parts = parts; self.parts2 = parts2; self.rule = rule
        self.skip = SkipList(KernelSkipLists.generic + skip)
    }
}

/// A skip list as one pattern, with its answers remembered: frame names repeat across reports, and one
/// match of a 250-way alternation costs far more than a dictionary lookup.
final class SkipList: @unchecked Sendable {
    private let pattern: Pattern
    private let lock = NSLock()
    private var known: [String: Bool] = [:]

    init(_ patterns: [String]) { pattern = Pattern(patterns.joined(separator: "|")) }

    func matches(_ frame: String) -> Bool {
        lock.lock()
        if let k = known[frame] { lock.unlock(); return k }
        lock.unlock()
        let m = pattern.matches(frame)
        lock.lock()
        if known.count > 100_000 { known.removeAll() }
        known[frame] = m
        lock.unlock()
        return m
    }
}

/// One kind of kernel report (after syzkaller's pkg/report layout, in our own code).
public struct KernelFormat: Sendable {
    /// hang, lockdep, warning, bug, gpf, panic, trap, kasan, kmsan, kfence, kcsan, ubsan, other.
    public let type: String
    /// Matched against the report's first line (from it on through the report when it spans lines).
    let title: Pattern
    /// The title pattern spans lines (old KASAN's `... on address` then `Read of size N`).
    let multiline: Bool
    /// When set, matched against the whole report; its groups (not the title's) are the arguments.
    /// A title that matches without its report regex means a cut-off report.
    let report: Pattern?
    /// `%1`..`%9`: capture groups, then the frames the stack parts found.
    public let template: String
    let stack: StackSpec?
    /// The report carries no call trace (it is not corrupted without one).
    let noStackTrace: Bool
    /// This format only matches a report that lost its real header.
    let corrupted: Bool
    /// Header types that continue an open report instead of starting one (a panic after an oops).
    public let absorbs: Set<String> = KernelFormats.continuationTypes

    init(_ type: String, _ title: String, report: String? = nil, _ template: String, stack: StackSpec? = nil,
         noStackTrace: Bool = false, corrupted: Bool = false) {
        self.type = type; self.title = Pattern(KernelFormats.rx(title)); multiline = title.contains("\\n"); self.report = report.map { Pattern(KernelFormats.rx($0)) }
        self.template = template; self.stack = stack; self.noStackTrace = noStackTrace; self.corrupted = corrupted
    }
}

/// Reports that start with one header string, and the lines with that string that are not reports.
struct OopsGroup: Sendable {
    let header: String
    let formats: [KernelFormat]
    let suppressions: [Pattern]
    /// Inside an open report this header continues it (syzkaller's report-start ignores).
    let continues: Bool
    /// The type of a report whose first line matched none of the formats.
    let type: String
    /// Shortly after a report this header is its tail (`Kernel panic - not syncing: Fatal exception`).
    var trails: Bool { header == "Kernel panic" || header == "invalid opcode:" || header == "Internal error:" }

    init(_ header: String, _ type: String, _ formats: [KernelFormat], suppress: [String] = [], continues: Bool = false) {
        self.header = header; self.type = type; self.formats = formats
        self.suppressions = suppress.map { Pattern(KernelFormats.rx($0)) }; self.continues = continues
    }
}

public enum KernelFormats {
    /// Types whose headers continue an open report.
    public static let continuationTypes: Set<String> = ["panic", "trap", "netdev"]

    static let pc = #"\[<?(?:0x)?[0-9a-f]+>?\]"#
    static let funcRe = #"([a-zA-Z0-9_]+)(?:\.|\+)"#
    /// Expands {{PC}}, {{FUNC}} (a function followed by `+0x` or `.isra`) and {{SRC}} (file.c:123).
    static func rx(_ s: String) -> String {
        s.replacingOccurrences(of: "{{PC}}", with: pc).replacingOccurrences(of: "{{FUNC}}", with: funcRe)
            .replacingOccurrences(of: "{{SRC}}", with: #"([a-zA-Z0-9\-_/.]+\.[a-z]+:[0-9]+)"#)
    }
    static func re(_ s: String) -> Pattern { Pattern(rx(s)) }

    /// `RIP: 0010:func+0x1/0x2` and other arches' current-pc lines; a user-mode pc captures nothing.
    static let ripFrame = re(#"(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:{{PC}} +){0,2}{{FUNC}}|(?:[0-9]+:)?0x[0-9a-f]+|(?:[0-9]+:)?{{PC}} +\[< *\(null\)>\] +\(null\)|[0-9]+: +\(null\))"#)
    static let callTrace = re(#"(?:Call (?:T|t)race:)|(?:Backtrace:)"#)
    /// Lines that start a trace (and so end the one before).
    static let stackStarts: [Pattern] = [
        #"Call (?:T|t)race"#, #"Allocated:"#, #"Allocated by task [0-9]+:"#, #"Freed:"#, #"Freed by task [0-9]+:"#,
        #"[^k] backtrace(?: \(crc [0-9a-fA-F]*\))?:"#, #"Backtrace:"#, #"Uninit was stored to memory at"#,
    ].map { Pattern($0) }
    /// A frame line: ` func+0x1/0x2`, ` [<ffffffff81000000>] func+0x1/0x2`. `? func` lines never match.
    static let frameLine = re(#"^ *(?:{{PC}} ){0,2}{{FUNC}}"#)
    /// Fault-injection stacks interleave with reports: a report that shows one is corrupted.
    static let corruptedLine = re(#"^( \[<?(?:0x)?[0-9a-f]+>?\])? should_fail(slab)?(\.[a-z0-9.]+)?\+0x"#)

    static func trace(_ skip: String...) -> StackSpec { StackSpec([.seek(callTrace), .trace], skip: skip) }
    static func ripTrace(_ skip: String..., rule: FrameRule = .first) -> StackSpec {
        StackSpec([.capture(ripFrame), .seek(callTrace), .trace], skip: skip, rule: rule)
    }
    static let ripOnly = StackSpec([.capture(ripFrame)])
    static let lockdepAt = #"at: (?:{{PC}} +)?{{FUNC}}"#

    /// In the order a line is tried: the first group whose header the line contains.
    static let groups: [OopsGroup] = [
        OopsGroup("BUG:", "bug", KernelFormatTable.bug, suppress: ["ODEBUG:", "Boot_DEBUG:", "xlog_status:", "DEBUG:",
                                                                "BUG: no syscalls can create resource"]),
        OopsGroup("WARNING:", "warning", KernelFormatTable.warning, suppress: [
            "WARNING: /etc/ssh/moduli does not exist, using fixed modulus",
            "WARNING: workqueue cpumask: online intersect > possible intersect", "WARNING: [Tt]he mand mount option",
            #"WARNING: Unsupported flag value\(s\) of 0x%x in DT_FLAGS_1"#, "WARNING: Unprivileged eBPF is enabled with eIBRS",
            "WARNING: fbcon: Driver '(.*)' missed to adjust virtual screen size", "WARNING: See https.* for mitigation options.",
            "WARNING: kernel not compiled with CPU_SRSO", #"EXT4-[Ff][Ss](?: \(.*\))?:"#,
            "(?i)warning: .* uses (deprecated v2 capabilities|wireless extensions)", #"XFS \(\w+\): WARNING"#]),
        OopsGroup("INFO:", "hang", KernelFormatTable.info, suppress: [
            "INFO: lockdep is turned off", "INFO: Stall ended before state dump start", "INFO: NMI handler",
            "INFO: recovery required on readonly filesystem", "(handler|interrupt).*took too long",
            "INFO: sys_.* is not present in /proc/kallsyms", "INFO: no syscalls can create resource", "rmt_storage:INFO:",
            "_INFO:",
            // 6.15+ names the hung task's blocker right after its stack: part of that report, not one of its own.
            "INFO: task .* blocked on an? (?:mutex|semaphore|rw-semaphore)"]),
        OopsGroup("Unable to handle kernel", "bug", [
            KernelFormat("bug", "Unable to handle kernel (paging request|NULL pointer dereference|access to user memory)",
                         "BUG: unable to handle kernel %1 in %2", stack: ripTrace())]),
        OopsGroup("general protection fault", "gpf", [
            KernelFormat("gpf", "general protection fault.*:", "general protection fault in %1", stack: ripTrace())],
                  suppress: [#"general protection fault .* error:\d+ in "#]),
        OopsGroup("stack segment: ", "gpf", [KernelFormat("gpf", "stack segment: ", "stack segment fault in %1", stack: ripTrace())]),
        OopsGroup("Kernel panic", "panic", KernelFormatTable.panic, continues: true),
        OopsGroup("PANIC: double fault", "panic", [
            KernelFormat("panic", "PANIC: double fault", "PANIC: double fault in %1", stack: ripOnly)], continues: true),
        OopsGroup("kernel BUG", "bug", [
            KernelFormat("bug", "kernel BUG at mm/usercopy.c", "BUG: bad usercopy in %1", stack: trace("usercopy", "__check")),
            KernelFormat("bug", "kernel BUG at lib/list_debug.c", "BUG: corrupted list in %1", stack: trace()),
            KernelFormat("bug", "kernel BUG at (.*)", "kernel BUG in %2", stack: ripTrace("^skb_"))]),
        OopsGroup("Kernel BUG", "bug", [KernelFormat("bug", "Kernel BUG (.*)", "kernel BUG %1")]),
        OopsGroup("BUG kmalloc-", "bug", [KernelFormat("bug", "BUG kmalloc-.*: Object already free", "BUG: Object already free")]),
        OopsGroup("divide error:", "trap", [KernelFormat("trap", "divide error: ", "divide error in %1", stack: ripOnly)]),
        OopsGroup("divide_error:", "trap", [KernelFormat("trap", "divide_error: ", "divide error in %1", stack: ripOnly)]),
        OopsGroup("invalid opcode:", "trap", [KernelFormat("trap", "invalid opcode: ", "invalid opcode in %1", stack: ripOnly)],
                  continues: true),
        OopsGroup("UBSAN:", "ubsan", [
            KernelFormat("ubsan", "UBSAN:", report: "UBSAN: Undefined behaviour in", "UBSAN: undefined-behaviour in %1",
                         stack: trace("ubsan", "overflow")),
            KernelFormat("ubsan", "UBSAN: array-index-out-of-bounds in", "UBSAN: array-index-out-of-bounds in %1",
                         stack: trace("ubsan", "overflow")),
            KernelFormat("ubsan", "UBSAN:", report: "UBSAN: (.*?) in", "UBSAN: %1 in %2", stack: trace("ubsan", "overflow"))]),
        OopsGroup("unregister_netdevice: waiting for", "netdev", [
            KernelFormat("netdev", "unregister_netdevice: waiting for (?:.*) to become free",
                         "unregister_netdevice: waiting for DEV to become free", noStackTrace: true)], continues: true),
        OopsGroup("VFS: Close: file count is 0", "other", [
            KernelFormat("other", "VFS: Close: file count is 0", "VFS: Close: file count is zero (use-after-free)",
                         noStackTrace: true)]),
        OopsGroup("VFS: Busy inodes after unmount", "other", [
            KernelFormat("other", "VFS: Busy inodes after unmount", "VFS: Busy inodes after unmount (use-after-free)",
                         noStackTrace: true)]),
        // arm and arm64 oopses (syzkaller's groups); `Internal error:` follows `Unable to handle kernel` there.
        OopsGroup("Internal error:", "bug", [
            KernelFormat("bug", "Internal error:", "Internal error in %1", stack: ripTrace())], continues: true),
        OopsGroup("Unhandled fault:", "bug", [KernelFormat("bug", "Unhandled fault:", "Unhandled fault in %1", stack: ripTrace())]),
        OopsGroup("Alignment trap:", "bug", [KernelFormat("bug", "Alignment trap:", "Alignment trap in %1", stack: ripTrace())]),
        // Not syzkaller's: it leaves hard lockups to the panic that follows; bpfstress names the spinning code.
        // Old kernels print the line inside a `WARNING: ... watchdog_overflow_callback` report: there it
        // continues that report (syzkaller's only report), as a panic line does.
        OopsGroup("Watchdog detected hard LOCKUP", "hang", [
            KernelFormat("hang", "Watchdog detected hard LOCKUP", "BUG: hard lockup in %1",
                         stack: ripTrace(rule: .stall))], continues: true),
    ]
}
