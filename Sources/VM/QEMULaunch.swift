// The qemu command line for one guest, the accelerator probe, and the qemu process itself.
import Capture
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a guest is shaped: CPUs, memory, accelerator, extra kernel command line.
public struct VMShape: Sendable, Equatable {
    public var cpus: Int = 2
    /// qemu `-m` syntax, e.g. `2G`, `1536M`.
    public var memory: String = "2G"
    /// `auto` (probe KVM, else TCG single-threaded), `kvm`, `tcg` (thread=single) or `tcg-multi`.
    public var accel: String = "auto"
    /// Panic on a soft lockup so the host sees it at once (kernel `softlockup_panic=1`).
    public var softlockupPanic: Bool = false
    public init() {}
}

public enum QEMULaunch {
    public static let binary = "qemu-system-x86_64"

    /// Which `-accel` to use. KVM only when /dev/kvm opens read-write and the CPU advertises
    /// hardware virtualization (vmx/svm): a paravirtual /dev/kvm without them cannot run a stock
    /// kernel (see PLATFORM-NOTES, Kernels in VMs). TCG is single-threaded: multi-threaded TCG
    /// runs stale translations at text-patching sites and reports false soft lockups.
    public static func accelerator(_ requested: String) throws -> (arg: String, name: String) {
        switch requested {
        case "kvm": return ("kvm", "kvm")
        case "tcg": return ("tcg,thread=single", "tcg")
        case "tcg-multi": return ("tcg,thread=multi", "tcg-multi")
        case "auto": return kvmUsable() ? ("kvm", "kvm") : ("tcg,thread=single", "tcg")
        default: throw VMError.usage("unknown accelerator '\(requested)' (expected auto, kvm, tcg, tcg-multi)")
        }
    }

    /// /dev/kvm opens O_RDWR and /proc/cpuinfo has vmx or svm.
    public static func kvmUsable() -> Bool {
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        guard let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let set = Set(flags.split(separator: " ").map(String.init))
        return set.contains("vmx") || set.contains("svm")
    }

    /// The kernel command line: console on the serial port, reboot (= qemu exit) at once on panic,
    /// an NMI panics and prints every CPU's backtrace (panic_print=0x40), our marker for the guest scenarios.
    /// `quiet` keeps the boot chatter off the slow emulated UART (the init restores printk 7 before
    /// the command runs); `cryptomgr.notests` skips the crypto self-tests, 0.7 s of a TCG boot.
    public static func cmdline(_ shape: VMShape) -> String {
        var c = "console=ttyS0 panic=-1 oops=panic quiet unknown_nmi_panic panic_print=0x40 nokaslr bpfstress.guest=1"
        c += " cryptomgr.notests"
        c += " rcupdate.rcu_cpu_stall_timeout=60"
        if shape.softlockupPanic { c += " softlockup_panic=1" }
        return c
    }

    /// argv for one guest. The host root is shared read-only, the job directory read-write,
    /// the kernel's module tree (when it has one) read-only; no network device.
    /// `bootImage` is what `-kernel` loads: the PVH vmlinux (PVHKernel) or, by default, the bzImage.
    public static func arguments(kernel: KernelImage, initrd: String, shape: VMShape, accel: String,
                                 jobDir: String, console: String, qmpSocket: String, bootImage: String? = nil) -> [String] {
        // q35: virtio-pci with MSI-X on PCIe; on the default i440FX the three 9p devices' probe
        // (ACPI interrupt links) took 0.75-2.9 s under TCG, on q35 0.02-0.2 s.
        var a = [binary, "-machine", "q35", "-accel", accel, "-smp", String(shape.cpus), "-m", shape.memory,
                 "-no-user-config", "-nodefaults", "-display", "none", "-no-reboot", "-nic", "none",
                 "-kernel", bootImage ?? kernel.image, "-initrd", initrd, "-append", cmdline(shape),
                 "-chardev", "file,id=con,path=\(console)", "-serial", "chardev:con",
                 "-qmp", "unix:\(qmpSocket),server=on,wait=off", "-monitor", "none",
                 "-fsdev", "local,id=fsroot,path=/,security_model=none,readonly=on,multidevs=remap",
                 "-device", "virtio-9p-pci,fsdev=fsroot,mount_tag=\(GuestInit.rootTag)",
                 "-fsdev", "local,id=fsjob,path=\(jobDir),security_model=none,multidevs=remap",
                 "-device", "virtio-9p-pci,fsdev=fsjob,mount_tag=\(GuestInit.jobTag)"]
        if let m = kernel.modules {
            let parent = URL(fileURLWithPath: m).deletingLastPathComponent().path
            a += ["-fsdev", "local,id=fsmods,path=\(parent),security_model=none,readonly=on,multidevs=remap",
                  "-device", "virtio-9p-pci,fsdev=fsmods,mount_tag=\(GuestInit.modulesTag)"]
        }
        if accel.hasPrefix("kvm") { a += ["-cpu", "host"] }
        return a
    }
}

/// A running qemu: started in its own process group, killed by pid on every path.
public final class QEMUProcess: @unchecked Sendable {
    public let pid: Int32
    private var status: Int32?
    private let lock = NSLock()

    /// Starts qemu with stdin from /dev/null and stdout/stderr into `logPath`.
    public init(arguments: [String], logPath: String) throws {
        guard let exe = which(QEMULaunch.binary) else {
            throw VMError.environment("\(QEMULaunch.binary) not found (scripts/bootstrap installs qemu-system-x86)")
        }
        let log = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw VMError.io("open \(logPath): errno \(errno)") }
        defer { close(log) }
        let devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if devnull >= 0 { close(devnull) } }
        var argv = arguments
        argv[0] = exe
        do { pid = try Spawn.start(argv, fds: [devnull, log, log]) } catch {
            throw VMError.environment("cannot start qemu: \(error)")
        }
        Self.live.add(pid)
    }

    /// The wait status once qemu has exited (reaps it), nil while it runs.
    public func poll() -> Int32? {
        lock.lock(); defer { lock.unlock() }
        if let s = status { return s }
        if let r = try? Spawn.wait(pid, noHang: true), r.pid == pid, !WaitStatus(r.status).stopped {
            status = r.status
            Self.live.remove(pid)
        }
        return status
    }

    /// Waits up to `seconds` for qemu to exit on its own.
    @discardableResult
    public func wait(seconds: Double) -> Int32? {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if let s = poll() { return s }
            usleep(20_000)
        }
        return poll()
    }

    /// SIGKILL to qemu's pid (and its process group, which only it is in), then reap.
    public func kill() {
        if poll() != nil { return }
        Glibc.kill(-pid, SIGKILL)
        Glibc.kill(pid, SIGKILL)
        _ = wait(seconds: 10)
    }

    /// Every qemu this process started and has not reaped: the signal path kills them.
    static let live = PidSet()
    /// Kills every qemu still running (by pid); for exit paths that cannot reach the sessions.
    public static func killAll() { for p in live.all() { Glibc.kill(-p, SIGKILL); Glibc.kill(p, SIGKILL); _ = Spawn.wait(p, timeout: 5) } }
}

final class PidSet: @unchecked Sendable {
    private let lock = NSLock()
    private var pids = Set<Int32>()
    func add(_ p: Int32) { lock.lock(); pids.insert(p); lock.unlock() }
    func remove(_ p: Int32) { lock.lock(); pids.remove(p); lock.unlock() }
    func all() -> [Int32] { lock.lock(); defer { lock.unlock() }; return Array(pids) }
}
