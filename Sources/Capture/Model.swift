import Foundation

/// One user-space frame: where it is and what it is called.
public struct StackFrame: Codable, Sendable, Equatable {
    public var pc: UInt64
    /// Demangled function name from the libelf symbolizer (or libunwind as a fallback); nil if unknown.
    public var function: String?
    /// pc minus the function start.
    public var offset: UInt64
    /// File name of the mapping that holds pc ("libc.so.6", "[anon]").
    public var module: String

    public init(pc: UInt64, function: String?, offset: UInt64, module: String) {
        self.pc = pc; self.function = function; self.offset = offset; self.module = module
    }
}

/// The system call a thread is blocked in, from /proc/PID/task/TID/syscall.
public struct SyscallState: Codable, Sendable, Equatable {
    public var number: Int
    public var name: String
    public var args: [UInt64]
    /// Human form: "bpf(BPF_PROG_ATTACH)", "futex(0x7f.., FUTEX_WAIT_PRIVATE, 2)".
    public var decoded: String

    public init(number: Int, name: String, args: [UInt64], decoded: String) {
        self.number = number; self.name = name; self.args = args; self.decoded = decoded
    }
}

/// Everything known about one thread at capture time.
public struct ThreadCapture: Codable, Sendable, Equatable {
    public var tid: Int32
    public var comm: String
    /// State letter and word from stat, e.g. "S (sleeping)".
    public var state: String
    public var wchan: String
    /// nil when the thread was running or not in a system call.
    public var syscall: SyscallState?
    /// Kernel function names, innermost first.
    public var kernelStack: [String]
    /// Innermost first.
    public var userStack: [StackFrame]
    /// Why part of the capture is missing, if it is.
    public var error: String?
    /// For a thread in a futex wait on a pthread mutex: the tid that owns it (glibc keeps the
    /// owner in the mutex). Used to name deadlock cycles.
    public var futexOwner: Int32?

    public init(tid: Int32, comm: String, state: String, wchan: String, syscall: SyscallState?,
                kernelStack: [String], userStack: [StackFrame], error: String?, futexOwner: Int32? = nil) {
        self.tid = tid; self.comm = comm; self.state = state; self.wchan = wchan; self.syscall = syscall
        self.kernelStack = kernelStack; self.userStack = userStack; self.error = error
        self.futexOwner = futexOwner
    }
}

/// All threads of one process.
public struct ProcessCapture: Codable, Sendable, Equatable {
    public var pid: Int32
    public var comm: String
    public var cmdline: String
    public var threads: [ThreadCapture]
    /// Wall time of the whole capture (reading /proc, stopping, unwinding, symbolizing).
    public var durationSeconds: Double

    public init(pid: Int32, comm: String, cmdline: String, threads: [ThreadCapture], durationSeconds: Double) {
        self.pid = pid; self.comm = comm; self.cmdline = cmdline; self.threads = threads
        self.durationSeconds = durationSeconds
    }
}
