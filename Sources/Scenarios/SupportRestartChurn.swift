// extension-restart's churn roles: cgroup, network-namespace and struct_ops lifetimes against the creators.
import Basics
import BPFKit
import Foundation
import HostSupport
import Glibc
import StressCore

extension ExtensionRestart {
    // MARK: - cgroup churn

    func cgroupChurn(_ thread: ThreadContext, objects: [IPFamily: BPFObject], n: Int) {
        let rt = runtime
        let name = Self.descriptor.name
        let path = "\(campaignPath)/bpfstress-churn.\(getpid()).\(thread.index)"
        func bad(_ op: OpKind, _ error: Error?, _ what: String, check: String = "cgroup-churn") {
            let e = error.flatMap { errnoNumber(of: $0) } ?? 0
            let call = op == .cgroupCreate ? "mkdir" : op == .cgroupRemove ? "rmdir" : "bpf_\(op.name)"
            thread.fail(check, title: error == nil ? "\(what) in \(name)" : "\(call) failed in cgroup churn: \(errnoLabel(of: error!)) in \(name)",
                        detail: "\(what)\(error.map { ": \($0)" } ?? "")\ncgroup \(path)\nlast ops:\n" + thread.recentOps().joined(separator: "\n"),
                        errno: e, op: op)
        }
        do {
            try thread.op(.cgroupCreate, label: "mkdir") {
                if mkdir(path, 0o755) != 0 { throw StressError.system("mkdir \(path)", errno) }
            }
        } catch { bad(.cgroupCreate, error, "mkdir child cgroup"); return }
        var removed = false
        var member: CgroupMember?
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer {
            // Every path: no member left inside, directory gone, fds closed.
            if let m = member {
                _ = try? "\(m.pid)\n".write(toFile: campaignPath + "/cgroup.procs", atomically: false, encoding: .utf8)
                try? m.killAndReap()
            }
            if !removed { _ = Churn.waitUntil(seconds: 2, heartbeat: thread.heartbeat) { rmdir(path) == 0 || errno == ENOENT } }
            if fd >= 0 { close(fd) }
        }
        guard fd >= 0 else { bad(.cgroupCreate, StressError.system("open \(path)", errno), "open child cgroup"); return }

        // Load both families; one attaches by prog-attach and the other by link, swapping each cycle.
        var loaded: [IPFamily: LoadedObject] = [:]
        defer { loaded.values.forEach { $0.close() } }
        var links: [LinkFD] = []
        defer { links.forEach { $0.close() } }
        var progIDs: [UInt32] = []
        var mapIDs: [UInt32] = []
        let linkFamily: IPFamily = n % 2 == 0 ? .v6 : .v4
        for family in [IPFamily.v4, .v6] {
            do {
                let l = try thread.op(.objectLoad, label: family == .v4 ? "connect4.o" : "connect6.o") { try objects[family]!.load(into: rt) }
                loaded[family] = l
                progIDs += l.programs.values.compactMap { try? rt.programInfo($0).id }
                mapIDs += l.maps.values.compactMap { try? rt.mapInfo($0).id }
                let prog = try l.program(family == .v4 ? "count_connect4" : "count_connect6")
                let type: BPFAttachType = family == .v4 ? .cgroupInet4Connect : .cgroupInet6Connect
                if family == linkFamily {
                    let link = try thread.op(.linkCreate, UInt64(prog.fd), UInt64(fd)) { try rt.linkCreate(prog, target: fd, type: type) }
                    links.append(link)
                    } else {
                    try thread.op(.progAttach, UInt64(prog.fd), UInt64(fd)) {
                        try rt.progAttach(prog, target: fd, type: type, flags: BPFAttachFlags.allowMulti)
                    }
                }
            } catch { bad(.progAttach, error, "load/attach \(family) program to the child cgroup"); return }
        }

        // A member process connects once from inside: the child cgroup's program must count it.
        let memberFamily: IPFamily = n % 4 < 2 ? .v4 : .v6
        do {
            let listener = try LoopbackListener(family: memberFamily)
            member = try thread.op(.connect, UInt64(listener.port), 1) {
                try CgroupMember(cgroupFD: fd, family: memberFamily.rawValue, connectPort: listener.port)
            }
            let map = try loaded[memberFamily]!.map("connects")
            var seen: UInt64 = 0
            let waited = Churn.wait(seconds: 3, thread: thread) {
                seen = ((try? map.lookup(UInt32(listener.port), as: UInt64.self)) ?? nil) ?? 0
                return seen >= 1
            }
            if waited == .stopped { return }
            if seen != 1 {
                bad(.connect, nil, "child cgroup's \(memberFamily) connect program counted \(seen) connects of its member, expected 1 (\(memberFamily == linkFamily ? "link" : "prog-attach"))")
                return
            }
        } catch { bad(.connect, error, "member process connect from the child cgroup"); return }

        // Move the member out, then rmdir while the programs are still attached.
        do {
            try thread.op(.cgroupRemove, label: "move member out") {
                try "\(member!.pid)\n".write(toFile: campaignPath + "/cgroup.procs", atomically: false, encoding: .utf8)
            }
            try member?.killAndReap()
            member = nil
            try thread.op(.cgroupRemove, label: "rmdir attached") {
                var err: Int32 = 0
                let ok = Churn.waitUntil(seconds: 2, heartbeat: thread.heartbeat) {
                    if rmdir(path) == 0 { return true }
                    err = errno
                    return err != EBUSY
                }
                if !ok || err != 0 && err != EBUSY { if rmdir(path) != 0 { throw StressError.system("rmdir \(path)", errno) } }
            }
            removed = true
        } catch { bad(.cgroupRemove, error, "move member out and rmdir the child cgroup with programs attached"); return }
        thread.pass("cgroup-churn")

        // The link must notice its cgroup is gone (cgroup_bpf_release runs from a work item).
        for link in links {
            var cgid: UInt64? = nil
            let detached = Churn.wait(seconds: 5, thread: thread) {
                // A link info without a cgroup id proves nothing: only an id of 0 means detached.
                cgid = (try? thread.op(.objInfo, UInt64(link.fd)) { try rt.linkInfo(link).cgroupID }) ?? nil
                return cgid == 0
            }
            if detached == .stopped { continue }
            if detached == .met {
                thread.pass("dead-cgroup-link")
            } else {
                bad(.objInfo, nil, "link to a removed cgroup still reports cgroup id \(cgid.map(String.init) ?? "?") after 5 s", check: "dead-cgroup-link")
            }
        }

        // Closing the last fds frees the programs and maps: their ids disappear.
        links.forEach { $0.close() }
        loaded.values.forEach { $0.close() }
        checkFreed(thread, programs: progIDs, maps: mapIDs, what: "cgroup churn")
    }

    /// How long a closed object may stay in get_next_id before it counts as leaked. The free is
    /// deferred: programs and maps go after an RCU grace period, struct_ops maps after an RCU
    /// tasks-trace one as well, and in a TCG guest (one host thread for every vCPU) those took
    /// more than 5 s in 6.12 (4 runs of 6). A leak never goes, so the bound only has to be
    /// longer than the slowest grace period, not tight.
    static let freeWithinSeconds = 30.0

    /// Every id must leave get_next_id within a bounded time after its last fd closed.
    func checkFreed(_ thread: ThreadContext, programs: [UInt32], maps: [UInt32], what: String) {
        var left = Set(programs.map { ObjectRef(.program, $0) } + maps.map { ObjectRef(.map, $0) })
        let end = Date().addingTimeInterval(Self.freeWithinSeconds)
        // One recorded op per 5 s of waiting, so that no single op outlives the op deadline.
        repeat {
            let pending = left
            left = Set((try? thread.op(.nextID, UInt64(pending.count)) {
                LeakOracle.waitGone(pending, runtime: runtime, seconds: min(5, max(0, end.timeIntervalSinceNow)),
                                    heartbeat: thread.heartbeat, keepRunning: { thread.keepRunning })
            }) ?? pending.sorted())
        } while !left.isEmpty && thread.keepRunning && Date() < end
        // Stopped before they were gone: no verdict (the campaign's own leak check judges them).
        if !left.isEmpty && !thread.keepRunning { return }
        if left.isEmpty {
            thread.pass("prog-freed")
        } else {
            thread.fail("prog-freed", title: "objects still live after their last fd closed in \(what) in \(Self.descriptor.name)",
                        detail: "still in get_next_id \(Int(Self.freeWithinSeconds)) s after close: \(left.sorted().map(\.description).joined(separator: ", "))")
        }
    }

    // MARK: - netns churn

    func netnsChurn(_ thread: ThreadContext, object: BPFObject) {
        let rt = runtime
        let name = Self.descriptor.name
        let k = max(1, thread.params.int("connects"))
        func bad(_ op: OpKind, _ error: Error?, _ what: String, check: String = "netns-churn") {
            let e = error.flatMap { errnoNumber(of: $0) } ?? 0
            thread.fail(check, title: error == nil ? "\(what) in \(name)" : "\(op.name) failed in netns churn: \(errnoLabel(of: error!)) in \(name)",
                        detail: "\(what)\(error.map { ": \($0)" } ?? "")\nlast ops:\n" + thread.recentOps().joined(separator: "\n"),
                        errno: e, op: op)
        }
        let ns: NetworkNamespace
        do { ns = try thread.op(.netnsCreate) { try NetworkNamespace() } } catch { bad(.netnsCreate, error, "create network namespace"); return }
        defer { ns.close() }
        let loaded: LoadedObject
        do { loaded = try thread.op(.objectLoad, label: "netns_prog.o") { try object.load(into: rt) } } catch {
            bad(.objectLoad, error, "load netns_prog.o"); return
        }
        defer { loaded.close() }
        let progIDs = loaded.programs.values.compactMap { try? rt.programInfo($0).id }
        let mapIDs = loaded.maps.values.compactMap { try? rt.mapInfo($0).id }
        var links: [LinkFD] = []
        defer { links.forEach { $0.close() } }
        do {
            for (prog, type) in [("count_sk_lookup", BPFAttachType.skLookup), ("pass_flow_dissector", .flowDissector)] {
                let p = try loaded.program(prog)
                let link = try thread.op(.linkCreate, UInt64(p.fd), UInt64(ns.fd)) { try rt.linkCreate(p, target: ns.fd, type: type) }
                links.append(link)
                let info = try rt.netnsLinkInfo(link)
                if UInt64(info.netnsInode) != ns.inode {
                    bad(.objInfo, nil, "\(prog) link reports netns inode \(info.netnsInode), expected \(ns.inode)"); return
                }
            }
            let done = try thread.op(.connect, UInt64(k)) { try ns.loopbackTraffic(connects: k) }
            let calls = try loaded.map("netns_calls")
            let lookups = try calls.lookup(UInt32(0), as: UInt64.self) ?? 0
            // One listener lookup per connection (the SYN); the final ACK finds the request socket.
            if done != k || lookups != UInt64(k) {
                bad(.connect, nil, "sk_lookup program counted \(lookups) lookups for \(done) of \(k) connections in the churned netns"); return
            }
        } catch { bad(.linkCreate, error, "attach sk_lookup/flow_dissector to the new netns and run traffic"); return }

        // Destroy the namespace with both programs attached: the links must turn detached.
        do { try thread.op(.netnsDestroy) { ns.close() } } catch {}
        thread.pass("netns-churn")
        for link in links {
            var ino: UInt32? = nil
            let detached = Churn.wait(seconds: 10, thread: thread) {
                ino = try? thread.op(.objInfo, UInt64(link.fd)) { try rt.netnsLinkInfo(link).netnsInode }
                return ino == 0
            }
            if detached == .stopped { continue }
            if detached == .met { thread.pass("dead-netns-link") } else {
                bad(.objInfo, nil, "link to a destroyed netns still reports netns inode \(ino.map(String.init) ?? "?") after 10 s", check: "dead-netns-link")
            }
        }
        links.forEach { $0.close() }
        loaded.close()
        checkFreed(thread, programs: progIDs, maps: mapIDs, what: "netns churn")
    }

    // MARK: - struct_ops churn

    func structOpsChurn(_ thread: ThreadContext) {
        let name = Self.descriptor.name
        let k = max(1, thread.params.int("connects"))
        let ccName = "bpfs\(String(getpid(), radix: 16))_\(thread.index)"
        func bad(_ op: OpKind, _ error: Error?, _ what: String) {
            let e = error.flatMap { errnoNumber(of: $0) } ?? 0
            thread.fail("structops-churn", title: error == nil ? "\(what) in \(name)" : "\(what) failed: \(errnoLabel(of: error!)) in \(name)",
                        detail: "\(ccName)\(error.map { ": \($0)" } ?? "")\nlast ops:\n" + thread.recentOps().joined(separator: "\n"),
                        errno: e, op: op)
        }
        let ops: StructOpsObject
        do {
            ops = try thread.op(.extensionRestart, label: "register") {
                try StructOpsObject.register(path: paths["tcp_cc"]!, map: "bpfs_cc", name: ccName)
            }
        } catch { bad(.extensionRestart, error, "struct_ops register"); return }
        defer { ops.close() }
        let progIDs = ops.programIDs()
        let mapIDs = ["bpfs_cc", "cc_calls"].compactMap { ops.mapID($0) }
        var kept: Int32 = -1
        defer { if kept >= 0 { close(kept) } }
        do {
            let listener = try LoopbackListener(family: .v4)
            for i in 0..<k {
                let c = try thread.op(.connect, UInt64(listener.port), UInt64(i)) {
                    try CongestionClient.connect(family: IPFamily.v4.rawValue, port: listener.port, congestion: ccName)
                }
                if c.inUse != ccName { close(c.fd); bad(.connect, nil, "socket reports congestion control '\(c.inUse)', expected the registered one"); return }
                if kept >= 0 { close(kept) }
                kept = c.fd  // the last one stays open across the unregister
            }
            let calls = try ops.map("cc_calls")
            let inits = try calls.lookup(UInt32(0), as: UInt64.self) ?? 0
            if inits != UInt64(k) { bad(.mapLookup, nil, "struct_ops init ran \(inits) times for \(k) connections"); return }
            try thread.op(.extensionRestart, label: "unregister") { try ops.unregister() }
            // Unregistered: the name must be unknown to new sockets.
            do {
                let c = try CongestionClient.connect(family: IPFamily.v4.rawValue, port: listener.port, congestion: ccName)
                close(c.fd)
                bad(.connect, nil, "setsockopt(TCP_CONGESTION) still accepts an unregistered struct_ops name"); return
            } catch { if errnoNumber(of: error) != ENOENT { bad(.connect, error, "setsockopt of the unregistered name (expected ENOENT)"); return } }
        } catch { bad(.connect, error, "connections through the registered congestion control"); return }
        thread.pass("structops-churn")
        if kept >= 0 { close(kept); kept = -1 }
        ops.close()
        checkFreed(thread, programs: progIDs, maps: mapIDs, what: "struct_ops churn")
    }
}
