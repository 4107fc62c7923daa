// Maps shared across worker processes by name (map-parallel, percpu-batch-sizes, map-fuzz).
import Basics
import BPFKit
import Foundation
import StressCore

/// Maps shared by all worker processes of one campaign, found by name: no pins, no
/// mounts, nothing to clean up (the kernel frees a map when its last fd closes). Every
/// worker scans the map ids for the campaign's names, creates what is missing, scans
/// again and keeps the lowest id per name, so racing creators converge on one map.
public enum SharedMapSet {
    /// Six hex digits naming this campaign's set: the coordinator's pid (every worker's
    /// parent; workers get different seeds), the scenario, and `variant` (e.g. sizes).
    public static func token(scenario: String, variant: String = "", coordinatorPID: Int32 = getppid()) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in Array("\(coordinatorPID)/\(scenario)/\(variant)".utf8) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(format: "%06x", Int(h & 0xff_ffff))
    }

    /// Map name for `suffix` (≤ 4 chars of [A-Za-z0-9_]): "bpfs<token>_<suffix>", ≤ 15 bytes.
    public static func name(token: String, suffix: String) -> String { "bpfs\(token)_\(suffix)" }

    /// Opens (or creates) one map per spec; `spec.name` must come from `name(token:suffix:)`.
    public static func open(_ specs: [MapSpec], runtime rt: Runtime) throws -> [MapFD] {
        var found = try scan(specs, rt)
        var created: [String: MapFD] = [:]
        for s in specs where found[s.name] == nil {
            created[s.name] = try rt.mapCreate(s)
        }
        if !created.isEmpty {
            // Hold the maps found first until the rescan: a worker that made one and has
            // already exited (a 10 ms campaign) would otherwise free it in between.
            let first = found
            found = try scan(specs, rt)
            for (_, m) in first { m.close() }
        }
        var out: [MapFD] = []
        for s in specs {
            if let m = found[s.name] { out.append(m) } else if let m = created[s.name] { out.append(m) } else {
                throw BPFError(code: .unsupported, operation: "shared map \(s.name)", detail: "vanished while opening")
            }
        }
        for (name, m) in created where found[name] != nil { m.close() }  // lost the race: use the older map
        return out
    }

    /// Lowest-id open map per wanted name whose type and sizes match.
    static func scan(_ specs: [MapSpec], _ rt: Runtime) throws -> [String: MapFD] {
        let wanted = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var best: [String: (UInt32, MapFD)] = [:]
        for id in rt.allIDs(.map) {
            guard let m = try? rt.map(byID: id) else { continue }  // freed meanwhile
            guard let s = m.spec, let w = wanted[s.name], w.type == s.type, w.keySize == s.keySize,
                  w.valueSize == s.valueSize, w.maxEntries == s.maxEntries, best[s.name] == nil else {
                m.close(); continue
            }
            best[s.name] = (id, m)
        }
        return best.mapValues { $0.1 }
    }
}
