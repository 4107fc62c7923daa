// The armed-timer oracle: a timer whose element was deleted, overwritten, evicted or whose map was closed never fires.
import BPFKit
import Glibc

/// What happened to an armed element after bpf_timer_start.
public enum TimerFate: String, Sendable {
    case leftAlone = "left alone", deleted, overwritten, evicted, mapClosed = "map closed"
    /// Deleted, overwritten, evicted or closed only after half its delay had passed (a slow
    /// machine, e.g. a TCG guest): the timer may have fired before its fate, so either count
    /// is right and the element is not judged.
    case tooLate = "freed too late to judge"
}

/// One armed timer as the model knows it: fires[tag] counts its callbacks.
public struct ArmedTimer: Equatable, Sendable {
    public var tag: UInt32
    public var kind: TimerMapKind
    public var key: UInt32
    public var fate: TimerFate
}

/// The model: every armed timer and its fate. A one-shot timer left alone fires exactly
/// once; any other fate means the kernel freed the field (bpf_obj_free_fields ->
/// bpf_timer_cancel_and_free) and the callback never runs. Tags not armed never fire.
public struct TimerModel: Equatable, Sendable {
    public var timers: [ArmedTimer] = []
    public init() {}

    /// nil: not judged (`tooLate`).
    public func expectedFires(_ tag: UInt32) -> UInt64? {
        guard let t = timers.first(where: { $0.tag == tag }) else { return 0 }
        switch t.fate {
        case .leftAlone: return 1
        case .tooLate: return nil
        default: return 0
        }
    }
    public var leftAlone: [ArmedTimer] { timers.filter { $0.fate == .leftAlone } }
}

/// Compares the kernel's fire counters with the model.
public enum TimerOracle {
    /// One line per disagreement; empty when every counter matches. `fires[i]` is fires[tag i];
    /// `stray` is the object's out-of-range slot, which no tag uses.
    public static func check(model: TimerModel, fires: [UInt64], stray: UInt64 = 0, instance: String = "") -> [String] {
        var out: [String] = []
        let at = instance.isEmpty ? "" : " (\(instance))"
        for (i, n) in fires.enumerated() {
            let tag = UInt32(i), want = model.expectedFires(tag)
            guard let want, n != want else { continue }
            if let t = model.timers.first(where: { $0.tag == tag }) {
                if t.fate == .leftAlone {
                    out.append("\(t.kind.rawValue) key \(t.key) tag \(tag)\(at): armed and left alone, fired \(n) time(s), expected exactly 1")
                } else {
                    out.append("\(t.kind.rawValue) key \(t.key) tag \(tag)\(at): fired \(n) time(s) after its element was \(t.fate.rawValue); the kernel must cancel the timer when it frees the field")
                }
            } else if tag == 0 {
                out.append("tag 0\(at): fired \(n) time(s), but only unarmed LRU fillers carry it (a timer that outlived its evicted element, now reused?)")
            } else {
                out.append("tag \(tag)\(at): never armed, fired \(n) time(s)")
            }
        }
        for t in model.timers where Int(t.tag) >= fires.count {
            out.append("\(t.kind.rawValue) key \(t.key) tag \(t.tag)\(at): no counter was read")
        }
        if stray != 0 { out.append("stray slot\(at): \(stray) callback(s) ran on an element whose tag was out of range") }
        return out
    }
}

/// A planted fault: the round skips the named kernel call but the model still records it, so
/// the oracle must report the timer that then fires (tests show the oracle failing).
public enum TimerFault: Sendable {
    case none, skipDelete, skipOverwrite, skipEviction, keepMapOpen
}

/// A round in progress: the instance, the result so far and the next free tag (0 marks fillers).
struct TimerRoundState {
    let t: TimerArming
    let delayNs: UInt64
    var r = TimerRoundResult()
    var nextTag: UInt32 = 1
    /// CLOCK_MONOTONIC ns at which each tag's bpf_timer_start returned.
    var armedAt: [UInt32: UInt64] = [:]

    init(t: TimerArming, delayNs: UInt64) {
        self.t = t
        self.delayNs = delayNs
    }

    /// Creates `key` from user space, arms it and checks its lookup; returns its tag. A fresh
    /// element whose timer is already initialized (-EBUSY) held a timer that outlived the free
    /// of its field: a finding, and the tag stays out of the model (any fire is then reported).
    /// `create: false` (tests only) plants a skipped create.
    mutating func armed(_ kind: TimerMapKind, _ key: UInt32, canary: UInt64 = 0xC0FFEE, create: Bool = true) throws -> UInt32 {
        let tag = nextTag
        nextTag += 1
        if create { try t.put(kind, key: key, tag: tag, canary: canary) }
        do {
            try t.arm(kind, key: key, delayNs: delayNs)
        } catch let e as TestRunFailure where e.step == 3 && e.errno == EBUSY {
            r.findings.append("\(kind.rawValue) key \(key): bpf_timer_init on a freshly created element returned -EBUSY: a live timer outlived the free of a reused element")
            return tag
        }
        if let f = TimerValue.layout.checkLookup(try t.lookup(kind, key: key), kind: kind, key: key, tag: tag, canary: canary) {
            r.findings.append("after arming: " + f)
        }
        r.model.timers.append(ArmedTimer(tag: tag, kind: kind, key: key, fate: .leftAlone))
        armedAt[tag] = Self.monotonicNs()
        return tag
    }

    /// Records what happened to `tag`; `tooLate` instead when half its delay had already passed.
    mutating func fate(_ tag: UInt32, _ f: TimerFate) {
        let late = armedAt[tag].map { Self.monotonicNs() &- $0 >= delayNs / 2 } ?? false
        if let i = r.model.timers.firstIndex(where: { $0.tag == tag }) { r.model.timers[i].fate = late ? .tooLate : f }
    }

    static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// A round given up because the campaign is stopping: it has no verdict.
public struct TimerRoundsStopped: Error {}

/// What a round saw: the model, the counters, and every finding (oracle, lookups, leak check).
public struct TimerRoundResult {
    public var model = TimerModel()
    public var fires: [UInt64] = []
    public var stray: UInt64 = 0
    public var findings: [String] = []
}

/// Rounds that arm timers, free their fields, and wait for the controls before judging.
public struct TimerRounds {
    public var delayNs: UInt64
    public var fault: TimerFault
    /// Upper bound of every wait (a safety bound, not a measured threshold).
    public var waitSeconds: Double = 20
    /// Polled by every wait: false ends the round with `TimerRoundsStopped` (no verdict), so
    /// that a worker asked to stop leaves within its TERM grace.
    public var keepRunning: () -> Bool = { true }

    /// pollUntil that gives up with `TimerRoundsStopped` once `keepRunning` turns false.
    func wait(_ cond: () throws -> Bool) throws -> Bool {
        try pollUntil(seconds: waitSeconds) {
            guard keepRunning() else { throw TimerRoundsStopped() }
            return try cond()
        }
    }

    public init(delayNs: UInt64 = 200_000_000, fault: TimerFault = .none) {
        self.delayNs = delayNs
        self.fault = fault
    }

    /// Hash, LRU and array elements armed, then deleted, overwritten by a syscall update, or
    /// left alone (the controls, which must fire).
    public func elementRound(_ t: TimerArming) throws -> TimerRoundResult {
        var s = TimerRoundState(t: t, delayNs: delayNs)
        for (kind, key) in [(TimerMapKind.hash, UInt32(1)), (.lru, 101)] {
            let tag = try s.armed(kind, key)
            if fault != .skipDelete { guard try t.delete(kind, key: key) else { throw missing(kind, key) } }
            s.fate(tag, .deleted)
        }
        for (kind, key) in [(TimerMapKind.hash, UInt32(2)), (.lru, 102), (.array, 2)] {
            let tag = try s.armed(kind, key)
            if fault != .skipOverwrite {
                try t.put(kind, key: key, tag: tag, canary: 0xBEEF)  // same tag: a surviving timer would count here
                if let f = TimerValue.layout.checkLookup(try t.lookup(kind, key: key), kind: kind, key: key, tag: tag, canary: 0xBEEF) {
                    s.r.findings.append("after overwrite: " + f)
                }
            }
            s.fate(tag, .overwritten)
        }
        for (kind, key) in [(TimerMapKind.hash, UInt32(10)), (.lru, 110), (.array, 10)] { _ = try s.armed(kind, key) }
        return try finish(&s)
    }

    /// An armed LRU element evicted by inserts of unarmed fillers (tag 0), on one pinned CPU. The
    /// fillers stay until the counters are read: deleting the one that reused the victim's
    /// element would cancel a timer that survived the eviction. A hash control must fire.
    public func evictionRound(_ t: TimerArming) throws -> TimerRoundResult {
        try withThreadPinned {
            var s = TimerRoundState(t: t, delayNs: delayNs)
            let victim = try s.armed(.lru, 100)
            // The fillers are referenced like the armed element (touch_lru), or they would only
            // evict each other (see timer_arm.bpf.c).
            var filler: UInt32 = 1000
            var evicted = fault == .skipEviction
            while !evicted && filler < 1000 + 32 * TimerValue.maxEntries {
                try t.put(.lru, key: filler, tag: 0, canary: 0)
                try t.touchLRU(key: filler)
                filler += 1
                evicted = try t.lookup(.lru, key: 100) == nil
            }
            guard evicted else {
                throw BPFError(code: .probe, operation: "LRU eviction", detail: "key 100 survived \(filler - 1000) inserts into a \(TimerValue.maxEntries)-entry LRU map")
            }
            s.fate(victim, .evicted)
            _ = try s.armed(.hash, 10)
            return try finish(&s)
        }
    }

    /// Waits for the controls (after the sentinels) and judges every counter.
    func finish(_ s: inout TimerRoundState) throws -> TimerRoundResult {
        let tags = try waitForControls(s.t, &s.r, tags: s.nextTag)
        (s.r.fires, s.r.stray) = (try s.t.fireCounts(count: Int(tags)), try s.t.fireCount(TimerValue.strayTag))
        s.r.findings += TimerOracle.check(model: s.r.model, fires: s.r.fires, stray: s.r.stray)
        return s.r
    }

    /// Timers armed in one instance whose map fds are then all closed (the object too): they
    /// never fire, and the maps' ids are gone (leak check). A second instance's sentinels time the wait.
    public func closeRound(victim a: TimerArming, sentinel b: TimerArming) throws -> TimerRoundResult {
        var r = TimerRoundResult()
        var ids: [UInt32] = []
        let firstArm = TimerRoundState.monotonicNs()
        for (i, kind) in TimerMapKind.allCases.enumerated() {
            let tag = UInt32(i + 1)
            try a.put(kind, key: 5, tag: tag, canary: 1)
            try a.arm(kind, key: 5, delayNs: delayNs)
            r.model.timers.append(ArmedTimer(tag: tag, kind: kind, key: 5, fate: .mapClosed))
            ids.append(try a.mapID(kind))
        }
        if fault != .keepMapOpen { a.close(keepingFires: true) }
        // Closed after half the delay (a slow guest): a timer may have fired before the close.
        if TimerRoundState.monotonicNs() &- firstArm >= delayNs / 2 {
            for i in r.model.timers.indices { r.model.timers[i].fate = .tooLate }
        }

        var sentinel = TimerRoundResult()
        _ = try sentinelChain(b, &sentinel, firstTag: 1)
        r.fires = try a.fireCounts(count: ids.count + 1)
        r.stray = try a.fireCount(TimerValue.strayTag)
        r.findings += TimerOracle.check(model: r.model, fires: r.fires, stray: r.stray, instance: "closed instance")
        r.findings += TimerOracle.check(model: sentinel.model, fires: try b.fireCounts(count: 3), instance: "sentinel instance")
        let gone = try wait { Set(a.runtime.allIDs(.map)).isDisjoint(with: ids) }
        if !gone {
            let left = ids.filter { Set(a.runtime.allIDs(.map)).contains($0) }
            r.findings.append("leak: timer map id(s) \(left.map(String.init).joined(separator: ",")) still exist \(Int(waitSeconds)) s after their last fd closed")
        }
        a.close()
        return r
    }

    /// Two sentinels armed one after the other with the round's delay: once the second fires,
    /// every timer armed before the first is at least one delay past due on any CPU. Then
    /// the controls must have fired too; the wait ends there or at the bound.
    func waitForControls(_ t: TimerArming, _ r: inout TimerRoundResult, tags: UInt32) throws -> UInt32 {
        let next = try sentinelChain(t, &r, firstTag: tags)
        let controls = r.model.leftAlone.map(\.tag)
        _ = try wait {
            let fires = try t.fireCounts(count: Int(next))
            return controls.allSatisfy { fires[Int($0)] >= 1 }
        }
        return next
    }

    /// Arms hash keys 60 and 61 (tags firstTag, firstTag+1) in turn, each waited for; returns the next free tag.
    func sentinelChain(_ t: TimerArming, _ r: inout TimerRoundResult, firstTag: UInt32) throws -> UInt32 {
        for (i, key) in [UInt32(60), 61].enumerated() {
            let tag = firstTag + UInt32(i)
            try t.put(.hash, key: key, tag: tag, canary: 0)
            try t.arm(.hash, key: key, delayNs: delayNs)
            r.model.timers.append(ArmedTimer(tag: tag, kind: .hash, key: key, fate: .leftAlone))
            _ = try wait { try t.fireCount(tag) >= 1 }
        }
        return firstTag + 2
    }

    private func missing(_ kind: TimerMapKind, _ key: UInt32) -> BPFError {
        BPFError(code: .syscall, operation: "BPF_MAP_DELETE_ELEM", errno: .noSuchFileOrDirectory, detail: "\(kind.rawValue) key \(key) vanished before its delete")
    }
}
