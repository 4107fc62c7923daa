import BPFKit
import Foundation
import CBPFStress
import Reports

/// What of a campaign's leftovers is found by name, listed before and after it: this
/// coordinator's campaign cgroups and bpffs mounts named bpfstress. (Objects and
/// namespaces are found by the ownership ledger; the id, name and netns lists stay for
/// tests and the log.)
public struct Inventory: Sendable, Equatable {
    public var programs: [UInt32: String] = [:]
    public var maps: [UInt32: String] = [:]
    /// link id -> program id
    public var links: [UInt32: UInt32] = [:]
    public var cgroups: Set<String> = []
    public var netns: Set<String> = []
    public var bpffsMounts: Set<String> = []

    public static func take(runtime: any Runtime) -> Inventory {
        var inv = Inventory()
        for id in ids(runtime, .program) {
            if let p = try? runtime.program(byID: id) { inv.programs[id] = (try? runtime.programInfo(p).name) ?? ""; p.close() }
        }
        for id in ids(runtime, .map) {
            if let m = try? runtime.map(byID: id) { inv.maps[id] = (try? runtime.mapInfo(m).name) ?? ""; m.close() }
        }
        for id in ids(runtime, .link) {
            if let l = try? runtime.link(byID: id) { inv.links[id] = (try? runtime.linkInfo(l).programID) ?? 0; l.close() }
        }
        if let mount = Probes.cgroup2Mount() {
            // Only this coordinator's campaign cgroups (bpfstress.<our pid>.<seed>) and what lies
            // under them: another campaign running at the same time is not ours to report.
            let mine = mount + "/bpfstress.\(getpid())."
            inv.cgroups = Set(walkCgroups(mount, depth: 3).filter { $0.hasPrefix(mine) })
        }
        inv.netns = Set(((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? [])
            .filter { $0.contains("bpfstress") })
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        for line in mountinfo.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard let dash = f.firstIndex(of: "-"), dash + 1 < f.count, f[dash + 1] == "bpf", f.count > 4 else { continue }
            if f[4].contains("bpfstress") { inv.bpffsMounts.insert(String(f[4])) }
        }
        return inv
    }

    /// Mount points of every bpf file system in our mount namespace.
    static func bpfMountPoints() -> Set<String> {
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        var out = Set<String>()
        for line in mountinfo.split(separator: "\n") {
            let f = line.split(separator: " ")
            if let dash = f.firstIndex(of: "-"), dash + 1 < f.count, f[dash + 1] == "bpf", f.count > 4 { out.insert(String(f[4])) }
        }
        return out
    }

    static func ids(_ rt: any Runtime, _ kind: BPFObjectKind) -> [UInt32] { rt.allIDs(kind) }

    static func walkCgroups(_ dir: String, depth: Int) -> [String] {
        guard depth > 0, let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        var out: [String] = []
        for e in entries {
            let p = dir + "/" + e
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue else { continue }
            out.append(p)
            out += walkCgroups(p, depth: depth - 1)
        }
        return out
    }
}

/// After teardown, whatever the campaign created and is still alive is a leak, whatever its
/// name: programs, maps, links and BTF objects whose ids the ownership ledger holds, network
/// namespaces whose inode it holds and that a process, a descriptor or a bind mount still
/// keeps, pins whose path still exists; plus this coordinator's cgroups and bpffs mounts that
/// were not there before. Nothing another campaign on the machine made is ever attributed.
public enum LeakCheck {
    public struct Result: Sendable {
        public var leaks: [String]
        /// Why the check cannot vouch for everything (creations it could not identify), or nil.
        public var incomplete: String?
    }

    /// One look at the machine.
    public static func find(before: Inventory, runtime: any Runtime) -> Result {
        var leaks: [String] = []
        let rt = runtime
        for id in Inventory.ids(rt, .program) where OwnershipLedger.owns(.program, id: UInt64(id)) {
            let name = (try? rt.program(byID: id)).map { p in defer { p.close() }; return (try? rt.programInfo(p).name) ?? "" }
            leaks.append("program id \(id) \"\(name ?? "")\"")
        }
        for id in Inventory.ids(rt, .map) where OwnershipLedger.owns(.map, id: UInt64(id)) {
            let name = (try? rt.map(byID: id)).map { m in defer { m.close() }; return (try? rt.mapInfo(m).name) ?? "" }
            leaks.append("map id \(id) \"\(name ?? "")\"")
        }
        for id in Inventory.ids(rt, .link) where OwnershipLedger.owns(.link, id: UInt64(id)) {
            let prog = (try? rt.link(byID: id)).map { l in defer { l.close() }; return (try? rt.linkInfo(l).programID) ?? 0 }
            leaks.append("link id \(id) to program id \(prog ?? 0)")
        }
        for id in Inventory.ids(rt, .btf) where OwnershipLedger.owns(.btf, id: UInt64(id)) {
            leaks.append("BTF id \(id)")
        }
        for (inode, holder) in LiveNamespaces.net().sorted(by: { $0.key < $1.key })
        where OwnershipLedger.owns(.netns, id: inode) {
            leaks.append("network namespace net:[\(inode)] kept by \(holder)")
        }
        for pin in OwnershipLedger.pins where access(pin, F_OK) == 0 { leaks.append("pin \(pin)") }
        let after = Inventory.take(runtime: runtime)
        leaks += after.cgroups.subtracting(before.cgroups).sorted().map { "cgroup \($0)" }
        let mounted = Inventory.bpfMountPoints()
        leaks += OwnershipLedger.bpffsMounts.filter(mounted.contains).map { "bpffs mount \($0)" }
        var incomplete: String?
        let unidentified = OwnershipLedger.unidentified, dropped = OwnershipLedger.pinsDropped
        if unidentified > 0 || dropped > 0 {
            incomplete = "\(unidentified) created object(s) could not be identified and \(dropped) pin(s) did not fit the ledger"
        }
        return Result(leaks: leaks, incomplete: incomplete)
    }

    /// Waits (bounded) for freed objects to disappear (the kernel frees them after an RCU
    /// grace period, namespaces after their last user), then reports what is left.
    public static func compare(before: Inventory, runtime: any Runtime, settle: Double = 3) -> Result {
        var r = find(before: before, runtime: runtime)
        let end = bpfs_now_ns() + UInt64(max(0, settle) * 1e9)
        while bpfs_now_ns() < end && !r.leaks.isEmpty {
            usleep(100_000)
            r = find(before: before, runtime: runtime)
        }
        return r
    }
}
