import Foundation

/// Picks the frame that names a finding: the first one that is not libc/pthread/syscall
/// plumbing, not a Swift runtime/Dispatch internal and not the harness's own wait loop.
/// Works on plain function names so that Reports does not depend on Capture.
public enum Culprit {
    /// Exact libc/pthread/kernel-entry names that only say "this thread waits".
    static let plumbingNames: Set<String> = [
        "syscall", "read", "write", "pread", "pread64", "pwrite", "pwrite64", "readv", "writev",
        "recv", "recvfrom", "recvmsg", "send", "sendto", "sendmsg", "accept", "accept4", "connect",
        "poll", "ppoll", "select", "pselect", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2",
        "nanosleep", "clock_nanosleep", "usleep", "sleep", "pause", "sigsuspend", "sigwait", "sigtimedwait",
        "sigwaitinfo", "wait", "waitpid", "wait4", "waitid", "futex", "ioctl", "bpf", "open", "openat", "close",
        "clone", "clone3", "start_thread", "_start", "abort", "raise", "gsignal", "kill", "tgkill",
        "sem_wait", "sem_timedwait", "sem_clockwait", "do_futex_wait", "lll_lock_wait",
        "assert_fail", "assert_fail_base", "fortify_fail", "stack_chk_fail", "chk_fail", "libc_message",
        "restore_rt", "sigreturn", "__restore_rt", "<signal handler called>", "exit", "_exit", "libc_start_main", "libc_start_call_main",
        "main_thread_start",
    ]
    /// Name prefixes (after leading underscores are stripped) of plumbing and runtime internals.
    static let plumbingPrefixes: [String] = [
        "GI_", "libc_", "futex_", "lll_", "pthread_", "internal_syscall", "syscall_cancel", "new_sem_",
        "read_nocancel", "write_nocancel", "dl_", "sigprocmask", "pthread_kill_implementation",
        // Swift runtime, stdlib and Dispatch internals.
        "swift_", "swift::", "$ss", "$sS", "dispatch_", "Swift.", "Dispatch.", "Foundation.", "XCTest.",
        "closure #1 in Swift.", "generic specialization <", "reabstraction thunk", "partial apply for",
        "thunk for", "function signature specialization",
        // Harness wait helpers: C helpers are named bpfs_*, Swift ones bpfsWait*.
        "bpfs_",
    ]

    /// libc string/memory functions: a crash in them is named after the caller.
    static let stringFunctions: [String] = [
        "memcpy", "memmove", "mempcpy", "memset", "memcmp", "bcmp", "memchr", "memrchr", "rawmemchr",
        "strlen", "strnlen", "strcpy", "strncpy", "stpcpy", "stpncpy", "strcat", "strncat", "strcmp",
        "strncmp", "strcasecmp", "strncasecmp", "strchr", "strchrnul", "strrchr", "strstr", "strcspn",
        "strspn", "strpbrk", "wmemset", "wmemchr", "wcslen", "wcsnlen", "wcscpy", "wmemcmp",
    ]

    /// Strips leading underscores and glibc's internal `GI_` prefix.
    static func bare(_ name: String) -> String {
        var s = Substring(name)
        while s.hasPrefix("_") { s = s.dropFirst() }
        if s.hasPrefix("GI_") { s = s.dropFirst(3); while s.hasPrefix("_") { s = s.dropFirst() } }
        return String(s)
    }

    /// The libc string function a (possibly IFUNC-variant) symbol implements:
    /// `__memmove_avx_unaligned_erms` -> `memmove`, `__GI_memcpy` -> `memcpy`; nil otherwise.
    public static func stringFunction(_ name: String) -> String? {
        let b = bare(name)
        // Longest match first so "mempcpy" is not read as "memp".
        // IFUNC variants are internal names: "__memmove_avx_unaligned_erms", never "memcpy_values".
        let variant = name.hasPrefix("__")
        for f in stringFunctions.sorted(by: { $0.count > $1.count }) where b == f || (variant && b.hasPrefix(f + "_")) {
            return f
        }
        return nil
    }

    /// True for frames that never name a bug by themselves.
    public static func isPlumbing(_ name: String) -> Bool {
        if name.isEmpty || name == "??" { return true }
        let b = bare(name)
        if plumbingNames.contains(b) || plumbingNames.contains(name) { return true }
        if stringFunction(name) != nil { return true }
        for p in plumbingPrefixes where b.hasPrefix(p) || name.hasPrefix(p) { return true }
        // A Swift closure or specialization belongs to its outermost context:
        // "closure #1 in closure #1 in Swift._assertionFailure" is stdlib.
        let short = shortName(name)
        var context = short
        for sep in [" in ", " of "] {
            if let r = context.range(of: sep, options: .backwards) { context = String(context[r.upperBound...]) }
        }
        if context != short && isPlumbing(context) { return true }
        // Swift harness wait helpers: the last path component starts with "bpfsWait".
        let last = short.split(separator: ".").last.map(String.init) ?? ""
        return last.hasPrefix("bpfsWait")
    }

    /// A title-sized function name: drops Swift parameter lists, generic arguments and result
    /// types (`Foo.Bar.run(worker: Swift.Int) throws -> ()` -> `Foo.Bar.run`).
    public static func shortName(_ name: String) -> String {
        guard name.contains("(") || name.contains("<") else { return name }
        var out = ""
        var depth = 0
        // "->" is an arrow, not a closing ">".
        for ch in name.replacingOccurrences(of: "->", with: "\u{2192}") {
            if ch == "(" || ch == "<" { depth += 1; continue }
            if ch == ")" || ch == ">" { depth = max(0, depth - 1); continue }
            if depth == 0 { out.append(ch) }
        }
        // Remove result types and effects left behind.
        var words = out.split(separator: " ").map(String.init)
        var i = 0
        while i < words.count {
            if words[i] == "\u{2192}" {
                words.remove(at: i)
                if i < words.count, words[i] != "in" { words.remove(at: i) }
            } else if ["throws", "async", "rethrows"].contains(words[i]) {
                words.remove(at: i)
            } else { i += 1 }
        }
        let s = words.joined(separator: " ")
        return s.isEmpty ? name : s
    }

    /// Non-plumbing frames, innermost first, shortened for titles and signatures.
    public static func meaningfulFrames(_ functions: [String?]) -> [String] {
        functions.compactMap { $0 }.filter { !isPlumbing($0) }.map(shortName)
    }

    /// `SIGSEGV in FUNC`, or `SIGSEGV in memcpy from CALLER` when the innermost named frame is
    /// a libc string function; `SIGSEGV` alone when nothing is named.
    public static func crashTitle(signalName: String, functions: [String?]) -> String {
        let named = functions.compactMap { $0 }.filter { $0 != "??" && !$0.isEmpty }
        // Skip the crash handler and signal trampoline frames above the faulting frame.
        var rest = named[...]
        if let idx = named.firstIndex(where: { ["restore_rt", "sigreturn", "<signal handler called>"].contains(bare($0)) }) {
            rest = named[(idx + 1)...]
        }
        if let top = rest.first, let f = stringFunction(top) {
            if let caller = meaningfulFrames(Array(rest.dropFirst())).first {
                return "\(signalName) in \(f) from \(caller)"
            }
            return "\(signalName) in \(f)"
        }
        if let culprit = meaningfulFrames(Array(rest)).first { return "\(signalName) in \(culprit)" }
        return signalName
    }

    /// `FUNC failed: ENAME in SCENARIO` for a check that saw an unexpected errno.
    public static func failureTitle(function: String, errnoName: String, scenario: String) -> String {
        "\(function) failed: \(errnoName) in \(scenario)"
    }
}
