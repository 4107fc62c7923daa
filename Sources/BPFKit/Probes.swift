import CBPFStress
import Glibc
import SystemPackage

/// Facts about the machine that decide which scenarios can run.
public enum Probes {
    /// uname(2) release, e.g. "6.18.44-...".
    public static func kernelRelease() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "unknown" }
        return cName(u.release)
    }

    /// Loads a 2-instruction socket filter (r0 = 0; exit) through `rt`'s entry.
    public static func canLoadBPF(_ rt: Runtime) -> Result<Void, BPFError> {
        do {
            let p = try rt.progLoad(type: .socketFilter, instructions: [.mov64(dst: 0, imm: 0), .exit],
                                    license: "GPL", expectedAttachType: nil, name: "bpfs_probe")
            p.close()
            return .success(())
        } catch let e as BPFError {
            return .failure(BPFError(code: .probe, operation: "load probe program", errno: e.errno, detail: e.detail))
        } catch {
            return .failure(BPFError(code: .probe, operation: "load probe program", detail: "\(error)"))
        }
    }

    /// Mount point of the cgroup2 hierarchy from /proc/self/mountinfo (fstype after " - ").
    public static func cgroup2Mount() -> String? {
        guard let text = FileUtil.read("/proc/self/mountinfo") else { return nil }
        return parseCgroup2Mount(mountinfo: text)
    }

    /// Testable parser behind cgroup2Mount (octal escapes like \040 decoded).
    public static func parseCgroup2Mount(mountinfo: String) -> String? {
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields.count > 4 else { continue }
            if fields[dash + 1] == "cgroup2" { return unescapeMountField(String(fields[4])) }
        }
        return nil
    }

    static func unescapeMountField(_ s: String) -> String {
        var out = [UInt8]()
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count,
               let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Possible CPUs from /sys/devices/system/cpu/possible (per-CPU map value count).
    public static func possibleCPUs() -> Int {
        guard let text = FileUtil.read("/sys/devices/system/cpu/possible"),
              let n = parseCPUList(text), n > 0 else { return 1 }
        return n
    }

    /// Counts CPUs in a list like "0-1" or "0,2-3"; nil when malformed.
    public static func parseCPUList(_ text: String) -> Int? {
        var total = 0
        let trimmed = text.split(whereSeparator: { $0 == "\n" || $0 == " " }).first ?? ""
        if trimmed.isEmpty { return nil }
        for part in trimmed.split(separator: ",") {
            let ends = part.split(separator: "-")
            guard let lo = Int(ends[0]) else { return nil }
            if ends.count == 1 {
                total += 1
            } else if ends.count == 2, let hi = Int(ends[1]), hi >= lo {
                total += hi - lo + 1
            } else {
                return nil
            }
        }
        return total
    }

    /// True when a TCP socket can bind to [::1] (IPv6 loopback configured).
    public static func hasIPv6Loopback() -> Bool {
        let s = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return false }
        defer { close(s) }
        var addr = sockaddr_in6()
        addr.sin6_family = sa_family_t(AF_INET6)
        addr.sin6_addr = in6addr_loopback
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        return r == 0
    }

    /// True when tracefs has events/<category>/<event>. Mounts tracefs at
    /// /sys/kernel/tracing when nothing is mounted there.
    public static func hasTracepoint(_ category: String, _ event: String) -> Bool {
        guard let dir = tracefsDirectory() else { return false }
        return FileUtil.isDirectory("\(dir)/events/\(category)/\(event)")
    }

    /// The tracefs root ("/sys/kernel/tracing" or the debugfs one), mounting if needed.
    public static func tracefsDirectory() -> String? {
        for d in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] where FileUtil.isDirectory("\(d)/events") {
            return d
        }
        guard FileUtil.isDirectory("/sys/kernel/tracing") else { return nil }
        if mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nil) == 0 || errno == EBUSY {
            return FileUtil.isDirectory("/sys/kernel/tracing/events") ? "/sys/kernel/tracing" : nil
        }
        return nil
    }

    /// Kernel BTF is exported (/sys/kernel/btf/vmlinux).
    public static func hasBTF() -> Bool { FileUtil.exists("/sys/kernel/btf/vmlinux") }

    /// Effective uid 0.
    public static func isRoot() -> Bool { geteuid() == 0 }

    /// The kernel command line carries the word bpfstress.guest=1: QEMULaunch adds it, a host's
    /// never has it, so what may break or reconfigure a kernel runs only in our own guests.
    public static func inBPFStressGuest() -> Bool {
        (FileUtil.read("/proc/cmdline") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("bpfstress.guest=1")
    }
}
