// The extension-restart scenario: providers restart under attached programs while creators attach more.
import Basics
import BPFKit
import Foundation
import StressCore

/// Extension restart, Linux style: the providers of attach points (cgroups, network
/// namespaces, struct_ops) are torn down and recreated while programs are attached to
/// them, as other threads keep loading and attaching programs. Seed bug: a provider's
/// detach path waited for an epoch for a provider that never attached, deadlocking
/// against a thread creating programs during the restart.
public final class ExtensionRestart: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "extension-restart",
        shortName: "xrst",
        summary: "churn cgroups, netns and struct_ops with programs attached while creators load and attach",
        bugClass: "provider teardown racing program creation (detach of a never-attached provider deadlock)",
        requirements: [.bpfLoad, .cgroupHooks],  // struct_ops churn alone needs BTF: skipped inside when missing
        parameters: [
            ParameterSpec("period", .duration, default: .duration(0.05), help: "minimum time between restart cycles of one churner"),
            ParameterSpec("churn", .string, default: .string("cgroup,netns,structops"),
                          help: "comma-separated churn kinds: cgroup, netns, structops"),
            ParameterSpec("churners", .int, default: .int(1), help: "churner threads per worker; the other threads create"),
            ParameterSpec("connects", .int, default: .int(2), help: "connections per restart through the churned provider"),
        ],
        checks: [
            CheckSpec("cgroup-churn", "mkdir, attach connect4/6 by prog-attach and link, member's connect counted, move out, rmdir while attached"),
            CheckSpec("dead-cgroup-link", "a link to the removed cgroup reports detached (link info cgroup_id 0)"),
            CheckSpec("netns-churn", "new netns, sk_lookup + flow_dissector links attached and counted, netns destroyed while attached"),
            CheckSpec("dead-netns-link", "a link to the destroyed netns reports detached (link info netns_ino 0)"),
            CheckSpec("structops-churn", "tcp_congestion_ops registered, connections use it (init counted), unregistered, name gone"),
            CheckSpec("prog-freed", "after a restart, closing the last fd frees every program and map of it (ids gone)"),
            creatorOps,
        ],
        objects: ["connect4", "connect6", "netns_prog", "tcp_cc"])

    /// The creators attach to the campaign cgroup, which no churn touches: their ops must all
    /// succeed. The only tolerated failures are E2BIG at the kernel's 64-program limit per
    /// cgroup hook (BPF_CGROUP_MAX_PROGS, shared with other scenarios on the campaign cgroup),
    /// and, while a plugin runtime restarts the very provider of these hooks, the errnos a
    /// provider that is momentarily gone may answer with (`providerRestartErrnos`).
    public static let creatorOps = CheckSpec(
        "creator-ops", "every load, attach, query and detach on the campaign cgroup succeeds (E2BIG at the 64-program limit, and ENODEV/EAGAIN/EBUSY during a restart of this very provider, are tolerated)")
    /// A restarting provider is absent (ENODEV), asks for a retry (EAGAIN) or is busy (EBUSY);
    /// anything else (EINVAL from a shared transaction, seed bug 2) is a finding.
    public static let providerRestartErrnos: Set<Int32> = [ENODEV, EAGAIN, EBUSY]
    /// The provider of the connect4/6 hooks that a plugin runtime restarts.
    static let connectProvider = "cgroup_sock_addr"

    public enum Kind: String, CaseIterable, Sendable { case cgroup, netns, structops }

    let runtime: any Runtime
    let campaignPath: String
    let campaignFD: Int32
    let kinds: [Kind]
    /// Why struct_ops churn is off on this runtime (nil when on).
    let structOpsSkip: String?
    let paths: [String: String]
    /// Open while a plugin restarts `connectProvider` (the kernel's own churn restarts other
    /// providers, never the campaign cgroup's hooks).
    let windows = RestartWindows()

    public init(worker: WorkerContext) throws {
        runtime = worker.runtime
        guard let cg = worker.cgroupPath else { throw StressError(.environment, "extension-restart needs the campaign cgroup") }
        campaignPath = cg
        campaignFD = try worker.cgroupFD()
        var requested = worker.params.string("churn").split(separator: ",").compactMap {
            Kind(rawValue: $0.trimmingCharacters(in: .whitespaces))
        }
        if requested.isEmpty { requested = Kind.allCases }
        if !runtime.capabilities.contains(.structOps) || !Probes.hasBTF() {
            structOpsSkip = "struct_ops churn skipped: runtime \(runtime.name) has no struct_ops or no kernel BTF"
        } else if !(runtime is KernelRuntime) {
            structOpsSkip = "struct_ops churn skipped: registration goes through libbpf, only on the kernel runtime"
        } else {
            structOpsSkip = nil
        }
        if let why = structOpsSkip {
            requested.removeAll { $0 == .structops }
            worker.skipCheck("structops-churn", reason: why)
        }
        if !runtime.capabilities.contains(.netns) {
            requested.removeAll { $0 == .netns }
            worker.skipCheck("netns-churn", reason: "netns churn skipped: runtime \(runtime.name) has no network namespaces")
        }
        kinds = requested
        var p: [String: String] = [:]
        for name in Self.descriptor.objects { p[name] = try ProgramCatalog.objectPath(name) }
        paths = p
        Self.removeStaleChurnCgroups(under: cg)
    }

    public func teardown() { close(campaignFD) }

    /// Churn cgroups of dead workers (named with their pid) left after a crash.
    static func removeStaleChurnCgroups(under parent: String) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        for e in entries where e.hasPrefix("bpfstress-churn.") {
            let parts = e.split(separator: ".")
            guard parts.count >= 2, let pid = pid_t(parts[1]), kill(pid, 0) != 0, errno == ESRCH else { continue }
            rmdir(parent + "/" + e)
        }
    }

    // MARK: - thread roles

    public func run(thread: ThreadContext) throws {
        let churners = max(0, thread.params.int("churners"))
        let isChurner = thread.worker.threadCount == 1 || thread.index < churners
        let isCreator = thread.worker.threadCount == 1 || thread.index >= churners || kinds.isEmpty
        let period = thread.params.double("period")
        let parsed = try [IPFamily.v4: BPFObject.open(path: paths["connect4"]!),
                          IPFamily.v6: BPFObject.open(path: paths["connect6"]!)]
        let netnsObject = try BPFObject.open(path: paths["netns_prog"]!)
        var n = thread.index
        var nextChurn = Date()
        while thread.keepRunning {
            if isChurner && !kinds.isEmpty && Date() >= nextChurn {
                nextChurn = Date().addingTimeInterval(period)
                let kind = kinds[n % kinds.count]
                switch kind {
                case .cgroup: cgroupChurn(thread, objects: parsed, n: n)
                case .netns: netnsChurn(thread, object: netnsObject)
                case .structops: structOpsChurn(thread)
                }
                pluginRestart(thread)
                n += 1
            }
            if isCreator {
                create(thread, object: parsed[n % 2 == 0 ? .v4 : .v6]!, family: n % 2 == 0 ? .v4 : .v6, n: n)
                if !isChurner { n += 1 }
            } else if Date() < nextChurn {
                thread.heartbeat()
                usleep(UInt32(min(max(nextChurn.timeIntervalSinceNow, 0), 0.05) * 1e6))
            }
        }
    }

    /// A plugin runtime that can restart its own extension (provider of attach points) does
    /// so in every restart window, while the creators keep loading and attaching.
    func pluginRestart(_ thread: ThreadContext) {
        // The capability bit gates it: a plugin that does not offer restarts is not restarted.
        guard runtime.capabilities.contains(.extensionRestart), let p = runtime as? PluginRuntime,
              p.providesRestartExtension else { return }
        windows.enter()
        defer { windows.exit() }
        do {
            try thread.op(.extensionRestart, label: Self.connectProvider) { try p.restartExtension(Self.connectProvider) }
        } catch {
            thread.fail("cgroup-churn", title: "restart_extension failed: \(errnoLabel(of: error)) in \(Self.descriptor.name)",
                        detail: "\(error)\nlast ops:\n" + thread.recentOps().joined(separator: "\n"),
                        errno: errnoNumber(of: error) ?? 0, op: .extensionRestart)
        }
    }

    // MARK: - creators

    /// One load -> attach (campaign cgroup) -> query -> detach -> close. Every op is on the
    /// connect hooks' provider; see `creatorOps` for the only failures tolerated.
    func create(_ thread: ThreadContext, object: BPFObject, family: IPFamily, n: Int) {
        let rt = runtime
        let type: BPFAttachType = family == .v4 ? .cgroupInet4Connect : .cgroupInet6Connect
        let progName = family == .v4 ? "count_connect4" : "count_connect6"
        let useLink = (n / 2) % 2 == 1
        let before = windows.snapshot()
        func failed(_ op: OpKind, _ error: Error, _ what: String) {
            let e = errnoNumber(of: error)
            if e == E2BIG { thread.tolerate(E2BIG); return }
            let duringRestart = RestartWindows.overlapped(before: before, after: windows.snapshot())
            if duringRestart, let e, Self.providerRestartErrnos.contains(e) { thread.tolerate(e); return }
            let when = duringRestart ? "during a restart of \(Self.connectProvider)" : "with no restart of its provider"
            thread.fail(Self.creatorOps, title: "bpf_\(op.name) failed: \(errnoLabel(of: error)) on the campaign cgroup in \(Self.descriptor.name)",
                        detail: "\(what) \(when): \(error)\nlast ops:\n" + thread.recentOps().joined(separator: "\n"),
                        errno: e ?? 0, op: op)
        }
        let loaded: LoadedObject
        do {
            loaded = try thread.op(.objectLoad, label: family == .v4 ? "connect4.o" : "connect6.o") { try object.load(into: rt) }
        } catch { failed(.progLoad, error, "load \(object.path)"); return }
        defer { _ = try? thread.op(.objectClose) { loaded.close() } }
        guard let prog = try? loaded.program(progName) else { return }
        let id = (try? rt.programInfo(prog).id) ?? 0
        var link: LinkFD?
        do {
            if useLink {
                link = try thread.op(.linkCreate, UInt64(prog.fd), UInt64(campaignFD)) { try rt.linkCreate(prog, target: campaignFD, type: type) }
            } else {
                try thread.op(.progAttach, UInt64(prog.fd), UInt64(campaignFD)) {
                    try rt.progAttach(prog, target: campaignFD, type: type, flags: BPFAttachFlags.allowMulti)
                }
            }
        } catch { failed(useLink ? .linkCreate : .progAttach, error, "attach prog id \(id) to the campaign cgroup"); return }
        var detached = false
        defer {
            // Whatever happened above, the program leaves the campaign cgroup; a failed detach is a finding.
            if let l = link { l.close() } else if !detached {
                do { try thread.op(.progDetach, UInt64(prog.fd), UInt64(campaignFD)) { try rt.progDetach(prog, target: campaignFD, type: type) } }
                catch { failed(.progDetach, error, "detach prog id \(id) from the campaign cgroup") }
            }
        }
        do {
            let ids = try thread.op(.progQuery, UInt64(campaignFD)) { try rt.progQuery(target: campaignFD, type: type).programIDs }
            if !ids.contains(id) {
                thread.fail(Self.creatorOps, title: "attached program missing from prog query in \(Self.descriptor.name)",
                            detail: "prog id \(id) (\(family), \(useLink ? "link" : "prog-attach")) not in \(ids)")
                return
            }
        } catch { failed(.progQuery, error, "query campaign cgroup"); return }
        if link == nil {
            detached = true
            do { try thread.op(.progDetach, UInt64(prog.fd), UInt64(campaignFD)) { try rt.progDetach(prog, target: campaignFD, type: type) } }
            catch { failed(.progDetach, error, "detach prog id \(id) from the campaign cgroup"); return }
        }
        thread.pass(Self.creatorOps)
    }
}
