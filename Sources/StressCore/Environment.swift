import BPFKit
import Foundation

/// What this machine offers, probed once per run (and by `bpfstress list`).
public struct EnvironmentProbe: Sendable {
    public var isRoot: Bool
    public var bpfLoadError: String?
    public var kernelRelease: String
    public var cgroup2Mount: String?
    public var possibleCPUs: Int
    public var ipv6Loopback: Bool
    public var btf: Bool
    public var hostname: String

    public static func probe(runtime: any Runtime) -> EnvironmentProbe {
        var loadError: String?
        if case let .failure(e) = Probes.canLoadBPF(runtime) { loadError = e.description }
        return EnvironmentProbe(
            isRoot: Probes.isRoot(), bpfLoadError: loadError, kernelRelease: Probes.kernelRelease(),
            cgroup2Mount: Probes.cgroup2Mount(), possibleCPUs: Probes.possibleCPUs(),
            ipv6Loopback: Probes.hasIPv6Loopback(), btf: Probes.hasBTF(),
            hostname: ProcessInfo.processInfo.hostName)
    }

    /// Why `req` is not met here, or nil when it is.
    public func unmet(_ req: Requirement, runtime: any Runtime) -> String? {
        switch req {
        case .bpfLoad:
            return bpfLoadError.map { "cannot load BPF programs: \($0)" }
        case .cgroupHooks:
            if !runtime.capabilities.contains(.cgroupHooks) { return "runtime \(runtime.name) has no cgroup hooks" }
            return cgroup2Mount == nil ? "no cgroup2 mount in /proc/self/mountinfo" : nil
        case .ipv6Loopback:
            return ipv6Loopback ? nil : "no IPv6 loopback address ::1"
        case let .tracepoint(c, e):
            if !runtime.capabilities.contains(.tracepoints) { return "runtime \(runtime.name) has no tracepoints" }
            return Probes.hasTracepoint(c, e) ? nil : "tracepoint \(c):\(e) not present in tracefs"
        case .btf:
            return btf ? nil : "no kernel BTF at /sys/kernel/btf/vmlinux"
        case .structOps:
            if !runtime.capabilities.contains(.structOps) { return "runtime \(runtime.name) has no struct_ops" }
            return btf ? nil : "struct_ops needs kernel BTF"
        }
    }

    public func skipReason(_ d: ScenarioDescriptor, runtime: any Runtime) -> String? {
        for r in d.requirements { if let why = unmet(r, runtime: runtime) { return why } }
        return nil
    }
}
