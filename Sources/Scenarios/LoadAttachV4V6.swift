import Basics
import BPFKit
import Foundation
import StressCore

/// The km_mt_stress pattern: many processes and threads load, attach, detach and unload
/// IPv4 and IPv6 connect programs on one cgroup at once, with real loopback traffic
/// proving that each attached program runs. Seed bug: concurrent v4/v6 attach failing
/// with EINVAL because both transactions shared one engine handle.
public final class LoadAttachV4V6: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "load-attach-v4v6",
        shortName: "v4v6",
        summary: "concurrent load/attach/detach/unload of connect4+connect6 programs with loopback traffic",
        bugClass: "concurrent attach on a shared handle (EINVAL 22 on v4/v6 attach)",
        requirements: [.bpfLoad, .cgroupHooks, .ipv6Loopback],
        parameters: [
            ParameterSpec("connects", .int, default: .int(8), help: "TCP connects per attach, checked against the counter"),
            ParameterSpec("attach_mode", .string, default: .string("alternate"),
                          help: "alternate | prog-attach | link"),
            ParameterSpec("family", .string, default: .string("alternate"), help: "alternate | v4 | v6 | random"),
        ],
        checks: [
            CheckSpec("expected-errnos", "every bpf() and socket call succeeds (E2BIG at the 64-program limit is tolerated)"),
            CheckSpec("counter-exact", "the attached program counted exactly the thread's K connects to its port"),
            CheckSpec("detach-clears", "after detach, prog query no longer lists the program"),
        ],
        objects: ["connect4", "connect6"])

    let cgroupFD: Int32
    let objects: [IPFamily: String]

    public init(worker: WorkerContext) throws {
        cgroupFD = try worker.cgroupFD()
        objects = [.v4: try ProgramCatalog.objectPath("connect4"), .v6: try ProgramCatalog.objectPath("connect6")]
    }

    public func teardown() { close(cgroupFD) }

    enum AttachMode { case progAttach, link }

    public func run(thread: ThreadContext) throws {
        let parsed: [IPFamily: BPFObject] = try objects.mapValues { try BPFObject.open(path: $0) }
        let listeners: [IPFamily: LoopbackListener] = [.v4: try LoopbackListener(family: .v4),
                                                      .v6: try LoopbackListener(family: .v6)]
        let k = max(1, thread.params.int("connects"))
        var iteration = thread.index
        while thread.keepRunning {
            let family = chooseFamily(thread: thread, iteration: iteration)
            let mode = chooseMode(thread: thread, iteration: iteration)
            iteration += 1
            cycle(thread: thread, object: parsed[family]!, listener: listeners[family]!, mode: mode, connects: k)
        }
    }

    func chooseFamily(thread: ThreadContext, iteration: Int) -> IPFamily {
        switch thread.params.string("family") {
        case "v4": return .v4
        case "v6": return .v6
        case "random": return Bool.random(using: &thread.rng) ? .v4 : .v6
        default: return iteration % 2 == 0 ? .v4 : .v6
        }
    }

    func chooseMode(thread: ThreadContext, iteration: Int) -> AttachMode {
        switch thread.params.string("attach_mode") {
        case "prog-attach": return .progAttach
        case "link": return .link
        default: return (iteration / 2) % 2 == 0 ? .progAttach : .link
        }
    }

    /// One load -> attach -> K connects -> check -> detach -> check -> unload cycle.
    func cycle(thread: ThreadContext, object: BPFObject, listener: LoopbackListener, mode: AttachMode, connects k: Int) {
        let family = listener.family
        let attachType: BPFAttachType = family == .v4 ? .cgroupInet4Connect : .cgroupInet6Connect
        let progName = family == .v4 ? "count_connect4" : "count_connect6"
        let rt = thread.runtime
        let name = Self.descriptor.name

        var clean = true
        defer { if clean { thread.pass("expected-errnos") } }
        func unexpected(_ op: OpKind, _ error: Error, _ what: String) {
            clean = false
            let call = op == .connect || op == .accept ? op.name : "bpf_\(op.name)"
            thread.fail("expected-errnos", title: "\(call) failed: \(errnoLabel(of: error)) in \(name)",
                        detail: "\(what): \(error)\nlast ops:\n" + thread.recentOps().joined(separator: "\n"),
                        errno: errnoNumber(of: error) ?? 0, op: op)
        }

        let loaded: LoadedObject
        do {
            loaded = try thread.op(.objectLoad, label: family == .v4 ? "connect4.o" : "connect6.o") {
                try object.load(into: rt)
            }
        } catch { unexpected(.progLoad, error, "load \(object.path)"); return }
        defer { _ = try? thread.op(.objectClose) { loaded.close() } }

        let prog: ProgramFD, map: MapFD
        do { prog = try loaded.program(progName); map = try loaded.map("connects") } catch {
            unexpected(.objectLoad, error, "object lookup"); return
        }
        let progID: UInt32
        do { progID = try thread.op(.objInfo, UInt64(prog.fd)) { try rt.programInfo(prog).id } } catch {
            unexpected(.objInfo, error, "prog info"); return
        }

        // Attach.
        var link: LinkFD?
        do {
            switch mode {
            case .progAttach:
                try thread.op(.progAttach, UInt64(prog.fd), UInt64(cgroupFD)) {
                    try rt.progAttach(prog, target: cgroupFD, type: attachType, flags: Self.allowMulti)
                }
            case .link:
                link = try thread.op(.linkCreate, UInt64(prog.fd), UInt64(cgroupFD)) {
                    try rt.linkCreate(prog, target: cgroupFD, type: attachType)
                }
            }
        } catch {
            if errnoNumber(of: error) == E2BIG { thread.tolerate(E2BIG); return }
            unexpected(mode == .link ? .linkCreate : .progAttach, error, "attach prog id \(progID) (\(family)) to campaign cgroup")
            return
        }

        var attached = true
        func detach() {
            guard attached else { return }
            attached = false
            do {
                if let l = link {
                    try thread.op(.linkDetach, UInt64(l.fd)) { try rt.linkDetach(l) }
                    l.close()
                } else {
                    try thread.op(.progDetach, UInt64(prog.fd), UInt64(cgroupFD)) {
                        try rt.progDetach(prog, target: cgroupFD, type: attachType)
                    }
                }
            } catch { unexpected(link != nil ? .linkDetach : .progDetach, error, "detach prog id \(progID)") }
        }
        defer { detach() }

        // Traffic: K connects to this thread's own listener, from inside the cgroup.
        let before = (try? map.lookup(UInt32(listener.port), as: UInt64.self)) ?? nil
        for i in 0..<k {
            do {
                try thread.op(.connect, UInt64(listener.port), UInt64(i)) { try listener.connectOnce() }
            } catch { unexpected(.connect, error, "connect #\(i) to \(family) loopback port \(listener.port)"); return }
        }
        do {
            let after = try thread.op(.mapLookup, UInt64(map.fd), UInt64(listener.port)) {
                try map.lookup(UInt32(listener.port), as: UInt64.self)
            } ?? 0
            let delta = after &- (before ?? 0)
            if delta == UInt64(k) {
                thread.pass("counter-exact")
            } else {
                thread.fail("counter-exact", title: "connect counter off in \(name)",
                            detail: "prog id \(progID) (\(family), \(mode)) counted \(delta) connects to port \(listener.port), expected \(k)")
            }
        } catch { unexpected(.mapLookup, error, "read counter of port \(listener.port)") }

        // Detach, then prove it with prog query.
        detach()
        do {
            let ids = try thread.op(.progQuery, UInt64(cgroupFD)) {
                try rt.progQuery(target: cgroupFD, type: attachType).programIDs
            }
            if ids.contains(progID) {
                thread.fail("detach-clears", title: "detach left program attached in \(name)",
                            detail: "prog id \(progID) (\(family), \(mode)) still listed by prog query after detach: \(ids)")
            } else {
                thread.pass("detach-clears")
            }
        } catch { unexpected(.progQuery, error, "query campaign cgroup") }
    }

    /// BPF_F_ALLOW_MULTI: many programs on one hook, the km_mt_stress setting.
    static let allowMulti: UInt32 = 1 << 1
}
