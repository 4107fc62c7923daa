// The campaign file's `vm:` mapping: guest CPUs, memory, count, accelerator, hang deadline, restart budget.
import Foundation
import Yams

/// Guest settings of a campaign; nil fields take the command line's or the built-in defaults.
public struct VMSettings: Equatable, Sendable {
    public var cpus: Int?
    /// qemu `-m` syntax: `2G`, `1536M`.
    public var memory: String?
    /// Guests at once.
    public var count: Int?
    /// auto, kvm, tcg, tcg-multi.
    public var accel: String?
    /// Seconds without a guest heartbeat before the guest counts as hung.
    public var hangDeadline: Double?
    /// Guest reboots allowed per guest after a panic, hang or lost result.
    public var restarts: Int?
    /// Boot with softlockup_panic=1.
    public var softlockupPanic: Bool?
    public init() {}

    public static let keys = ["cpus", "memory", "count", "accel", "hang_deadline", "restarts", "softlockup_panic"]
    public static let accelerators = ["auto", "kvm", "tcg", "tcg-multi"]

    /// `2G`, `512M`, `2048` (MiB): true for what qemu's -m accepts that we allow.
    public static func validMemory(_ s: String) -> Bool {
        var t = Substring(s.trimmingCharacters(in: .whitespaces))
        if let last = t.last, "MGmg".contains(last) { t = t.dropLast() }
        guard let n = Int(t), n > 0 else { return false }
        return true
    }
}

extension Walker {
    func vmSettings(_ node: Node) throws -> VMSettings {
        guard case .mapping(let map) = node else {
            throw fail(node, "vm", "'vm' must be a mapping with keys: \(VMSettings.keys.joined(separator: ", ")) (got \(describe(node)))")
        }
        var v = VMSettings()
        for (k, val) in map {
            let key = try keyString(k, path: "vm")
            switch key {
            case "cpus": v.cpus = try count(val, key: "vm.cpus")
            case "count": v.count = try count(val, key: "vm.count")
            case "restarts":
                guard case .scalar(let sc) = val, let n = intValue(sc.string), n >= 0, n <= 1000 else {
                    throw fail(val, "vm.restarts", "'vm.restarts' must be an integer 0...1000 (got \(describe(val)))")
                }
                v.restarts = n
            case "memory":
                let m = try nonEmptyString(val, key: "vm.memory")
                guard VMSettings.validMemory(m) else {
                    throw fail(val, "vm.memory", "'vm.memory' must be a size like 2G or 1536M (got '\(m)')")
                }
                v.memory = m
            case "accel":
                let a = try nonEmptyString(val, key: "vm.accel")
                guard VMSettings.accelerators.contains(a) else {
                    throw fail(val, "vm.accel", "'vm.accel' must be one of: \(VMSettings.accelerators.joined(separator: ", ")) (got '\(a)')")
                }
                v.accel = a
            case "hang_deadline": v.hangDeadline = try positiveDuration(val, key: "vm.hang_deadline")
            case "softlockup_panic":
                guard case .scalar(let sc) = val, let b = boolValue(sc.string) else {
                    throw fail(val, "vm.softlockup_panic", "'vm.softlockup_panic' must be true or false (got \(describe(val)))")
                }
                v.softlockupPanic = b
            default:
                throw fail(k, "vm.\(key)", "unknown key 'vm.\(key)' (expected one of: \(VMSettings.keys.joined(separator: ", ")))")
            }
        }
        return v
    }
}
