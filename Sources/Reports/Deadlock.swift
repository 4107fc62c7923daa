// One rule for every dump format and live capture: threads that wait in one primitive from different callers are one deadlock.

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

    /// glibc's lock calls: a thread with one of these on its stack waits for a lock.
    public static let mutexWaits = ["pthread_mutex_lock", "pthread_mutex_timedlock", "pthread_mutex_clocklock",
                                    "lll_lock_wait", "lll_mutex_lock", "pthread_rwlock_rdlock", "pthread_rwlock_wrlock",
                                    "sem_wait", "sem_timedwait", "sem_clockwait", "pthread_spin_lock"]

    /// A function name without glibc's leading underscores and `GI_` (`___pthread_mutex_lock`, `__GI___lll_lock_wait`).
    public static func bare(_ f: String) -> Substring {
        var b = Substring(f)
        while b.hasPrefix("_") { b = b.dropFirst() }
        if b.hasPrefix("GI_") { b = b.dropFirst(3); while b.hasPrefix("_") { b = b.dropFirst() } }
        return b
    }

    /// Whether a stack (innermost first) has one of `names` (bare, or with a `_suffix`).
    public static func has(_ frames: [String], _ names: [String]) -> Bool {
        frames.contains { f in
            let b = bare(f)
            return names.contains { b == $0 || b.hasPrefix($0 + "_") }
        }
    }

    /// glibc's condition waits: the primitive is then the own function that waits (`epoch_synchronize`
    /// around `pthread_cond_wait`), as WinDbg's `ebpf_epoch_synchronize` around `KeWaitForSingleObject`.
    public static let conditionWaits = ["pthread_cond_wait", "pthread_cond_timedwait", "pthread_cond_clockwait"]

    /// A thread that waits (frames innermost first): for a lock (`blocked`), else in a condition wait,
    /// as its first own frame called from its second.
    public static func waiter(_ frames: [String]) -> BlockedThread? {
        if let b = blocked(frames) { return b }
        guard has(frames, conditionWaits) else { return nil }
        let own = frames.filter { !Culprit.isPlumbing($0) }
        guard own.count >= 2 else { return nil }
        return BlockedThread(primitive: Culprit.shortName(own[0]), caller: Culprit.shortName(own[1]))
    }

    /// A thread waiting for a lock (frames innermost first): the lock call just inside its first own
    /// frame (glibc's internal names made bare) and that frame.
    public static func blocked(_ frames: [String]) -> BlockedThread? {
        guard has(frames, mutexWaits), let i = frames.firstIndex(where: { !Culprit.isPlumbing($0) }), i > 0 else { return nil }
        return BlockedThread(primitive: String(bare(frames[i - 1])), caller: Culprit.shortName(frames[i]))
    }
}
