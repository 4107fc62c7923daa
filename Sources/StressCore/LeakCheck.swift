import BPFKit
import Foundation
import Reports

/// What a campaign might leave behind, listed before and after it: BPF programs, maps and
/// links (get_next_id + info), campaign cgroups, named network namespaces and bpffs mounts.
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

    static func ids(_ rt: any Runtime, _ kind: BPFObjectKind) -> [UInt32] {
        var out: [UInt32] = []
        var cur: UInt32 = 0
        // Bounded: ids are at most INT_MAX, and a machine has far fewer than a million objects.
        while out.count < 1_000_000, let next = try? rt.nextID(kind, after: cur) {
            out.append(next)
            cur = next
        }
        return out
    }

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

/// Compares inventories around a campaign. An object counts as the campaign's when it was
/// not there before and carries a name the campaign's scenarios use (programs and maps of
/// their objects, and their declared names), or is a link to such a program; cgroups, netns
/// and bpffs mounts count when named bpfstress. Other new objects belong to someone else on
/// the machine and are only logged.
public enum LeakCheck {
    public struct Result: Sendable {
        public var leaks: [String]
        public var unattributed: [String]
    }

    public static func ownedNames(plan: RunPlan) -> Set<String> {
        var names: Set<String> = []
        for s in plan.scenarios {
            names.formUnion(s.descriptor.ownedNames)
            for o in s.descriptor.objects {
                guard let path = try? ProgramCatalog.objectPath(o), let obj = try? BPFObject.open(path: path) else { continue }
                // The kernel keeps at most 15 bytes of a name.
                names.formUnion(obj.programs.map { String($0.name.prefix(15)) })
                names.formUnion(obj.maps.map { String($0.name.prefix(15)) })
            }
        }
        return names
    }

    /// Waits (bounded) for freed objects to disappear — the kernel frees them after an RCU
    /// grace period — then diffs.
    public static func compare(before: Inventory, runtime: any Runtime, owned: Set<String>,
                               settle: Double = 3) -> Result {
        var after = Inventory.take(runtime: runtime)
        let end = Date().addingTimeInterval(settle)
        while Date() < end && !diff(before, after, owned).leaks.isEmpty {
            usleep(100_000)
            after = Inventory.take(runtime: runtime)
        }
        return diff(before, after, owned)
    }

    public static func diff(_ before: Inventory, _ after: Inventory, _ owned: Set<String>) -> Result {
        var leaks: [String] = [], other: [String] = []
        let newProgs = after.programs.filter { before.programs[$0.key] == nil }
        for (id, name) in newProgs.sorted(by: { $0.key < $1.key }) {
            (owned.contains(name) ? { leaks.append("program id \(id) \"\(name)\"") } : { other.append("program id \(id) \"\(name)\"") })()
        }
        for (id, name) in after.maps.filter({ before.maps[$0.key] == nil }).sorted(by: { $0.key < $1.key }) {
            (owned.contains(name) ? { leaks.append("map id \(id) \"\(name)\"") } : { other.append("map id \(id) \"\(name)\"") })()
        }
        for (id, prog) in after.links.filter({ before.links[$0.key] == nil }).sorted(by: { $0.key < $1.key }) {
            let ours = newProgs[prog].map { owned.contains($0) } ?? false
            (ours ? { leaks.append("link id \(id) to program id \(prog)") } : { other.append("link id \(id) to program id \(prog)") })()
        }
        leaks += after.cgroups.subtracting(before.cgroups).sorted().map { "cgroup \($0)" }
        leaks += after.netns.subtracting(before.netns).sorted().map { "network namespace \($0)" }
        leaks += after.bpffsMounts.subtracting(before.bpffsMounts).sorted().map { "bpffs mount \($0)" }
        return Result(leaks: leaks, unattributed: other)
    }
}
