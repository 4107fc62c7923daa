// One rule for every dump format: threads that wait in one primitive from different callers are one deadlock.

/// A thread blocked in a wait: the primitive it waits in and the first frame of its own code that called it.
public struct BlockedThread: Sendable, Equatable {
    public var primitive: String
    public var caller: String
    public init(primitive: String, caller: String) { self.primitive = primitive; self.caller = caller }
}

public enum Deadlock {
    /// Callers named in a title; more are counted.
    static let maxCallers = 3

    /// `deadlock in PRIMITIVE from A and B` for the largest group of threads that wait in one primitive
    /// from two or more different callers (ties: the primitive's name). Callers are sorted, so neither
    /// thread order nor thread ids change the title; nil when no such group exists.
    public static func title(_ blocked: [BlockedThread]) -> (title: String, primitive: String)? {
        var callers: [String: Set<String>] = [:]
        for b in blocked where !b.primitive.isEmpty && !b.caller.isEmpty { callers[b.primitive, default: []].insert(b.caller) }
        let groups = callers.filter { $0.value.count >= 2 }
        guard let best = groups.max(by: { a, b in
            a.value.count != b.value.count ? a.value.count < b.value.count : a.key > b.key
        }) else { return nil }
        let names = best.value.sorted()
        var list = Array(names.prefix(maxCallers))
        if names.count > maxCallers { list.append("\(names.count - maxCallers) more") }
        let joined = list.count == 2 ? list.joined(separator: " and ")
            : list.dropLast().joined(separator: ", ") + " and " + list.last!
        return ("deadlock in \(best.key) from \(joined)", best.key)
    }
}
