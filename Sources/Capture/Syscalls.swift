import Foundation

/// x86_64 system call names and argument decoding for the calls a stuck thread is usually in.
public enum Syscalls {
    /// Numbers from arch/x86/entry/syscalls/syscall_64.tbl (common subset).
    public static let names: [Int: String] = [
        0: "read", 1: "write", 2: "open", 3: "close", 4: "stat", 5: "fstat", 7: "poll", 8: "lseek",
        9: "mmap", 10: "mprotect", 11: "munmap", 12: "brk", 13: "rt_sigaction", 14: "rt_sigprocmask",
        15: "rt_sigreturn", 16: "ioctl", 17: "pread64", 18: "pwrite64", 19: "readv", 20: "writev",
        22: "pipe", 23: "select", 24: "sched_yield", 25: "mremap", 28: "madvise", 32: "dup", 33: "dup2",
        34: "pause", 35: "nanosleep", 39: "getpid", 41: "socket", 42: "connect", 43: "accept",
        44: "sendto", 45: "recvfrom", 46: "sendmsg", 47: "recvmsg", 48: "shutdown", 49: "bind",
        50: "listen", 53: "socketpair", 54: "setsockopt", 55: "getsockopt", 56: "clone", 57: "fork",
        58: "vfork", 59: "execve", 60: "exit", 61: "wait4", 62: "kill", 72: "fcntl", 73: "flock",
        74: "fsync", 101: "ptrace", 128: "rt_sigtimedwait", 130: "rt_sigsuspend", 157: "prctl",
        165: "mount", 166: "umount2", 186: "gettid", 200: "tkill", 202: "futex", 203: "sched_setaffinity",
        204: "sched_getaffinity", 208: "io_getevents", 217: "getdents64", 228: "clock_gettime",
        230: "clock_nanosleep", 231: "exit_group", 232: "epoll_wait", 233: "epoll_ctl", 234: "tgkill",
        247: "waitid", 257: "openat", 270: "pselect6", 271: "ppoll", 281: "epoll_pwait", 288: "accept4",
        290: "eventfd2", 291: "epoll_create1", 293: "pipe2", 298: "perf_event_open", 299: "recvmmsg",
        307: "sendmmsg", 321: "bpf", 322: "execveat", 323: "userfaultfd", 324: "membarrier",
        425: "io_uring_setup", 426: "io_uring_enter", 435: "clone3", 441: "epoll_pwait2", 449: "futex_waitv",
    ]

    /// enum bpf_cmd from include/uapi/linux/bpf.h, by value.
    public static let bpfCommands: [String] = [
        "BPF_MAP_CREATE", "BPF_MAP_LOOKUP_ELEM", "BPF_MAP_UPDATE_ELEM", "BPF_MAP_DELETE_ELEM",
        "BPF_MAP_GET_NEXT_KEY", "BPF_PROG_LOAD", "BPF_OBJ_PIN", "BPF_OBJ_GET", "BPF_PROG_ATTACH",
        "BPF_PROG_DETACH", "BPF_PROG_TEST_RUN", "BPF_PROG_GET_NEXT_ID", "BPF_MAP_GET_NEXT_ID",
        "BPF_PROG_GET_FD_BY_ID", "BPF_MAP_GET_FD_BY_ID", "BPF_OBJ_GET_INFO_BY_FD", "BPF_PROG_QUERY",
        "BPF_RAW_TRACEPOINT_OPEN", "BPF_BTF_LOAD", "BPF_BTF_GET_FD_BY_ID", "BPF_TASK_FD_QUERY",
        "BPF_MAP_LOOKUP_AND_DELETE_ELEM", "BPF_MAP_FREEZE", "BPF_BTF_GET_NEXT_ID", "BPF_MAP_LOOKUP_BATCH",
        "BPF_MAP_LOOKUP_AND_DELETE_BATCH", "BPF_MAP_UPDATE_BATCH", "BPF_MAP_DELETE_BATCH",
        "BPF_LINK_CREATE", "BPF_LINK_UPDATE", "BPF_LINK_GET_FD_BY_ID", "BPF_LINK_GET_NEXT_ID",
        "BPF_ENABLE_STATS", "BPF_ITER_CREATE", "BPF_LINK_DETACH", "BPF_PROG_BIND_MAP", "BPF_TOKEN_CREATE",
        "BPF_PROG_STREAM_READ_BY_FD",
    ]

    static let futexOps: [String] = [
        "FUTEX_WAIT", "FUTEX_WAKE", "FUTEX_FD", "FUTEX_REQUEUE", "FUTEX_CMP_REQUEUE", "FUTEX_WAKE_OP",
        "FUTEX_LOCK_PI", "FUTEX_UNLOCK_PI", "FUTEX_TRYLOCK_PI", "FUTEX_WAIT_BITSET", "FUTEX_WAKE_BITSET",
        "FUTEX_WAIT_REQUEUE_PI", "FUTEX_CMP_REQUEUE_PI", "FUTEX_LOCK_PI2",
    ]

    /// Parses /proc/PID/task/TID/syscall ("NR a0 .. a5 sp pc"); nil for "running" or -1.
    public static func parse(_ text: String) -> SyscallState? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard parts.count >= 7, let nr = Int(parts[0]), nr >= 0 else { return nil }
        let args = parts[1...6].map { UInt64($0.hasPrefix("0x") ? String($0.dropFirst(2)) : String($0), radix: 16) ?? 0 }
        let name = names[nr] ?? "syscall_\(nr)"
        return SyscallState(number: nr, name: name, args: args, decoded: decode(name: name, args: args))
    }

    static func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

    /// A short, readable call: the arguments that explain what the thread waits for.
    public static func decode(name: String, args a: [UInt64]) -> String {
        func i(_ k: Int) -> String { String(Int64(bitPattern: a[k])) }
        switch name {
        case "bpf":
            let cmd = Int(a[0])
            return "bpf(\(cmd < bpfCommands.count ? bpfCommands[cmd] : "cmd \(cmd)"))"
        case "futex":
            let op = Int(a[1] & 0x7f)
            var opName = op < futexOps.count ? futexOps[op] : "op \(op)"
            if a[1] & 128 != 0 { opName += "_PRIVATE" }
            if a[1] & 256 != 0 { opName += "|FUTEX_CLOCK_REALTIME" }
            return "futex(\(hex(a[0])), \(opName), \(i(2)))"
        case "read", "write", "pread64", "pwrite64", "recvfrom", "sendto":
            return "\(name)(\(i(0)), \(hex(a[1])), \(a[2]))"
        case "readv", "writev", "recvmsg", "sendmsg", "accept", "accept4", "connect", "close", "fsync", "flock":
            return "\(name)(\(i(0)), ...)"
        case "poll", "ppoll":
            return "\(name)(\(hex(a[0])), \(a[1]), ...)"
        case "epoll_wait", "epoll_pwait", "epoll_pwait2":
            return "\(name)(\(i(0)), \(hex(a[1])), \(a[2]), \(i(3)))"
        case "wait4", "waitid", "kill", "tgkill":
            return "\(name)(\(i(0)), \(i(1)), ...)"
        case "nanosleep", "clock_nanosleep", "pause", "rt_sigsuspend", "rt_sigtimedwait", "sched_yield", "exit_group":
            return "\(name)(...)"
        default:
            return "\(name)(\(hex(a[0])), \(hex(a[1])), \(hex(a[2])), ...)"
        }
    }
}
