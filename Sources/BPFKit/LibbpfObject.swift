// A BPF object loaded whole by libbpf (bpf_object__load), for objects BPFKit's loader refuses.
import CBPFStress
import Glibc
import SystemPackage

/// An object that libbpf itself loads: its maps get BTF, so values may hold kernel-owned
/// fields (bpf_timer, bpf_spin_lock), and programs may call static subprograms (timer
/// callbacks). BPFObject's loader has neither. libbpf issues the load's bpf commands
/// directly, so this is for the kernel runtime only, never a plugin runtime.
public final class LibbpfObject {
    public let path: String
    private var handle: OpaquePointer?

    private init(path: String, handle: OpaquePointer) {
        self.path = path
        self.handle = handle
    }

    /// bpfs_lobj_load (bpf_object__open_file + bpf_object__load). A file that does not open or
    /// parse throws `.elf` (`.io` when missing); a load the kernel refused throws `.syscall`
    /// with the errno and, when the verifier refused a program, its log tail in `detail` (the
    /// reason a probe reports as its skip).
    public static func load(path: String) throws -> LibbpfObject {
        var err: Int32 = 0, stage: Int32 = 0
        var log = [CChar](repeating: 0, count: 2048)
        guard let h = bpfs_lobj_load(path, &err, &stage, &log, UInt32(log.count)) else {
            let text = String(cString: log)
            let e: Errno? = err < 0 && -err < 4096 ? Errno(rawValue: -err) : nil
            if stage == 1 {
                throw BPFError(code: e == .noSuchFileOrDirectory ? .io : .elf, operation: "bpf_object__open_file", errno: e, detail: path)
            }
            throw BPFError(code: .syscall, operation: "bpf_object__load", errno: e,
                           detail: path + (text.isEmpty ? "" : ": " + KernelRuntime.logTail(text)))
        }
        return LibbpfObject(path: path, handle: h)
    }

    /// A map of the object as a MapFD on its own dup(2) of the fd (bpfs_lobj_map_fd), so
    /// MapOps work on it and it lives until closed, even after the object is closed.
    public func map(_ name: String, runtime: Runtime, spec: MapSpec? = nil) throws -> MapFD {
        let fd = try rawFD(name, bpfs_lobj_map_fd, "find map")
        let own = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard own >= 0 else { throw BPFError(code: .io, operation: "dup map fd", errno: Errno(rawValue: errno), detail: name) }
        return MapFD(fd: own, runtime: runtime, spec: spec)
    }

    /// BPF_PROG_TEST_RUN (bpfs_prog_test_run_data) of program `name` once on `packet`;
    /// returns the program's return value.
    public func testRun(program name: String, packet: [UInt8]) throws -> UInt32 {
        let fd = try rawFD(name, bpfs_lobj_prog_fd, "find program")
        var retval: UInt32 = 0
        let rc = packet.withUnsafeBytes { bpfs_prog_test_run_data(fd, $0.baseAddress, UInt32($0.count), &retval) }
        if rc < 0 { throw BPFError.syscall("BPF_PROG_TEST_RUN", rc, detail: name) }
        return retval
    }

    /// bpfs_lobj_close (bpf_object__close): every fd the object owns; idempotent. MapFDs
    /// handed out by `map(_:runtime:)` stay open.
    public func close() {
        if let h = handle { bpfs_lobj_close(h) }
        handle = nil
    }

    public var isClosed: Bool { handle == nil }

    deinit { close() }

    private func rawFD(_ name: String, _ find: (OpaquePointer?, UnsafePointer<CChar>?) -> Int32, _ what: String) throws -> Int32 {
        guard let h = handle else {
            throw BPFError(code: .loader, operation: what, errno: .badFileDescriptor, detail: "\(path): object closed")
        }
        let fd = name.withCString { find(h, $0) }
        guard fd >= 0 else { throw BPFError(code: .loader, operation: what, errno: Errno(rawValue: -fd), detail: "\(path): no \(name)") }
        return fd
    }
}


/// Runs `body` with the calling thread pinned to the CPU it is on (bpfs_pin_here:
/// sched_setaffinity), then restores its affinity (bpfs_unpin). LRU maps keep a new element
/// on the inserting CPU's pending list, out of reach of evictions made from another CPU, so
/// a round that waits for an eviction inserts and arms from one CPU.
public func withThreadPinned<R>(_ body: () throws -> R) throws -> R {
    var saved = [UInt8](repeating: 0, count: 256)
    let cpu = saved.withUnsafeMutableBytes { bpfs_pin_here($0.baseAddress, UInt32($0.count)) }
    if cpu < 0 { throw BPFError(code: .io, operation: "sched_setaffinity", errno: Errno(rawValue: -cpu), detail: "pin to the current CPU") }
    defer { _ = saved.withUnsafeBytes { bpfs_unpin($0.baseAddress, UInt32($0.count)) } }
    return try body()
}

/// bpfs_kernel_btf_has_func: whether the running kernel's BTF has a function (a kfunc) named `name`.
public func kernelHasFunction(_ name: String) -> Bool { bpfs_kernel_btf_has_func(name) == 1 }
