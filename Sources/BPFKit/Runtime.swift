import CBPFStress
import Glibc

/// What a runtime can host; scenarios skip themselves when a bit is missing.
public struct RuntimeCapabilities: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// cgroup attach points (connect4/6, sock_create, ...).
    public static let cgroupHooks = RuntimeCapabilities(rawValue: 1 << 0)
    /// (raw) tracepoint programs.
    public static let tracepoints = RuntimeCapabilities(rawValue: 1 << 1)
    /// struct_ops maps (e.g. TCP congestion control).
    public static let structOps = RuntimeCapabilities(rawValue: 1 << 2)
    /// network namespaces.
    public static let netns = RuntimeCapabilities(rawValue: 1 << 3)
    /// the runtime can be restarted under load (plugin runtimes).
    public static let extensionRestart = RuntimeCapabilities(rawValue: 1 << 4)
}

/// The C signature of a replaceable bpf(2) entry: returns >= 0 or -errno.
public typealias BPFSysFunction = @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafeMutableRawPointer?, UInt32) -> Int

/// The bpf(2) entry every typed wrapper calls through (C `struct bpfs_rt`).
public struct BPFEntry {
    /// The C struct handed to every shim call.
    public let raw: bpfs_rt

    /// A plugin entry: `sys` is called for every bpf command with `ctx`.
    public init(sys: BPFSysFunction, ctx: UnsafeMutableRawPointer?) {
        raw = bpfs_rt(sys: sys, ctx: ctx)
    }

    init(raw: bpfs_rt) { self.raw = raw }

    /// Direct syscall(__NR_bpf) (bpfs_kernel_sys).
    public static let kernel = BPFEntry(raw: bpfs_kernel_rt())

    /// The kernel's own entry, for plugins that forward commands (bpfs_kernel_sys).
    public static func kernelSys(cmd: Int32, attr: UnsafeMutableRawPointer?, size: UInt32) -> Int {
        bpfs_kernel_sys(nil, cmd, attr, size)
    }
}

/// An eBPF runtime: the live kernel, or later a plugin that replaces bpf(2).
public protocol Runtime: AnyObject {
    var name: String { get }
    var capabilities: RuntimeCapabilities { get }
    /// The bpf(2) entry every typed wrapper calls through (C struct bpfs_rt).
    var entry: BPFEntry { get }
}

/// The running kernel, reached with syscall(__NR_bpf).
public final class KernelRuntime: Runtime {
    public let name = "kernel"
    public let capabilities: RuntimeCapabilities = [.cgroupHooks, .tracepoints, .structOps, .netns]
    public let entry = BPFEntry.kernel
    public init() {}
}
