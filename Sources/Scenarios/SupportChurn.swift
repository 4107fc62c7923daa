import Basics
import BPFKit
import Foundation
import StressCore

// Helpers of extension-restart: object id walks, restart windows, bounded waits. Kernel log
// reports are judged once, for the whole campaign, by the coordinator's watcher.

// MARK: - object ledger (leak check)

/// One kernel object a scenario created, by id space and id.
public struct ObjectRef: Hashable, Comparable, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable { case program, map, link }
    public let kind: Kind
    public let id: UInt32
    public init(_ kind: Kind, _ id: UInt32) { self.kind = kind; self.id = id }
    public var description: String { "\(kind.rawValue) \(id)" }
    public static func < (a: ObjectRef, b: ObjectRef) -> Bool { (a.kind.rawValue, a.id) < (b.kind.rawValue, b.id) }
}

/// The ids a worker created; after teardown none may still be live.
public final class ObjectLedger {
    private let lock = NSLock()
    private var refs = Set<ObjectRef>()
    public init() {}

    public func record(_ ref: ObjectRef) { lock.lock(); refs.insert(ref); lock.unlock() }
    public func record(_ kind: ObjectRef.Kind, _ ids: [UInt32]) { ids.forEach { record(ObjectRef(kind, $0)) } }
    public var all: Set<ObjectRef> { lock.lock(); defer { lock.unlock() }; return refs }

    /// Program and map ids of a loaded object (bpf_obj_get_info_by_fd on each fd).
    public func record(_ object: LoadedObject, runtime: any Runtime) {
        for p in object.programs.values { if let id = try? runtime.programInfo(p).id { record(ObjectRef(.program, id)) } }
        for m in object.maps.values { if let id = try? runtime.mapInfo(m).id { record(ObjectRef(.map, id)) } }
    }
}

public enum LeakOracle {
    /// Created objects still live, sorted.
    public static func leaked(created: Set<ObjectRef>, live: Set<ObjectRef>) -> [ObjectRef] {
        created.intersection(live).sorted()
    }

    /// Every live id of `kinds`, by BPF_*_GET_NEXT_ID walks (bounded).
    public static func liveIDs(_ runtime: any Runtime, kinds: [ObjectRef.Kind] = [.program, .map, .link]) -> Set<ObjectRef> {
        var out = Set<ObjectRef>()
        for kind in kinds {
            let k: BPFObjectKind = kind == .program ? .program : kind == .map ? .map : .link
            for id in runtime.allIDs(k) { out.insert(ObjectRef(kind, id)) }
        }
        return out
    }

    /// Polls until none of `refs` is live or `seconds` pass (objects are freed
    /// asynchronously: RCU, cgroup release work, netns cleanup). Returns what is left.
    public static func waitGone(_ refs: Set<ObjectRef>, runtime: any Runtime, seconds: Double,
                                heartbeat: () -> Void = {}, keepRunning: () -> Bool = { true }) -> [ObjectRef] {
        let kinds = Array(Set(refs.map(\.kind)))
        let end = Date().addingTimeInterval(seconds)
        var left = leaked(created: refs, live: liveIDs(runtime, kinds: kinds))
        while !left.isEmpty && Date() < end && keepRunning() {
            heartbeat()
            usleep(20_000)
            left = leaked(created: Set(left), live: liveIDs(runtime, kinds: kinds))
        }
        return left
    }
}

// MARK: - restart windows

/// When churners restart a provider. A creator's failure counts as "inside a window"
/// when a restart was under way at its start or end, or one began or ended during it.
public final class RestartWindows {
    public struct Snapshot: Equatable, Sendable {
        public var active: Int
        public var epoch: UInt64
        public init(active: Int, epoch: UInt64) { self.active = active; self.epoch = epoch }
    }
    private let lock = NSLock()
    private var state = Snapshot(active: 0, epoch: 0)
    public init() {}

    public func enter() { lock.lock(); state.active += 1; state.epoch &+= 1; lock.unlock() }
    public func exit() { lock.lock(); state.active -= 1; state.epoch &+= 1; lock.unlock() }
    public func snapshot() -> Snapshot { lock.lock(); defer { lock.unlock() }; return state }

    /// Pure: did an op that saw `before` at its start and `after` at its end overlap a window?
    public static func overlapped(before: Snapshot, after: Snapshot) -> Bool {
        before.active > 0 || after.active > 0 || before.epoch != after.epoch
    }
}

// MARK: - small utilities

enum Churn {
    /// Polls `condition` every 10 ms for at most `seconds`; true when it held.
    /// How a judgement wait ended: the condition held, the time ran out (a verdict), or the
    /// campaign asked the thread to stop first (no verdict either way: stopping wins).
    enum Wait { case met, timedOut, stopped }

    /// Polls `condition` for up to `seconds`, heartbeating, and gives up at once when the
    /// thread is asked to stop.
    static func wait(seconds: Double, thread: ThreadContext, _ condition: () -> Bool) -> Wait {
        let end = Date().addingTimeInterval(seconds)
        while true {
            if condition() { return .met }
            if !thread.keepRunning { return .stopped }
            if Date() >= end { return .timedOut }
            thread.heartbeat()
            usleep(10_000)
        }
    }

    /// A bounded wait for cleanup, which runs to its bound even while stopping.
    static func waitUntil(seconds: Double, heartbeat: () -> Void = {}, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while true {
            if condition() { return true }
            if Date() >= end { return false }
            heartbeat()
            usleep(10_000)
        }
    }
}
