// Arms the bpf_timer field of map elements through corpora/progs/timer_arm.bpf.c and reads its fire counters.
import BPFKit
import Glibc

/// `struct tval` of timer_arm.bpf.c: u64 tag, struct bpf_timer (16 bytes, kernel-owned), u64 canary.
public enum TimerValue {
    public static let layout = FieldValue(size: 32, kernelBytes: 8..<24)
    /// fires[] slots in the object; the last one counts callbacks whose tag was out of range.
    public static let fireSlots = 1024
    public static let strayTag = UInt32(fireSlots - 1)
    /// max_entries of every timer map in timer_arm.bpf.c.
    static let maxEntries: UInt32 = 64
}

/// One loaded instance of timer_arm.bpf.c: its own maps (t_hash, t_lru, t_array), fires
/// counters and programs (arm_<kind>, touch_lru).
public final class TimerArming {
    public let maps: TestRunMaps
    public let fires: MapFD
    public var object: LibbpfObject { maps.object }
    public var runtime: Runtime { maps.runtime }

    init(maps: TestRunMaps) throws {
        self.maps = maps
        fires = try maps.object.map("fires", runtime: maps.runtime,
                                    spec: MapSpec(type: .array, keySize: 4, valueSize: 8, maxEntries: UInt32(TimerValue.fireSlots), name: "fires"))
    }

    /// The outcome of loading the object: a kernel that refuses timers in SCHED_CLS programs
    /// (or BTF-valued maps) gives `.unsupported` with the verifier's or libbpf's reason.
    public enum Probe {
        case supported(TimerArming)
        case unsupported(String)
    }

    /// Loads a fresh instance (libbpf creates the maps from the object's BTF definitions).
    /// Errors other than a refused load (no object, no clang) are thrown, not skipped.
    public static func load(runtime: Runtime = KernelRuntime(), path: String? = nil) throws -> Probe {
        switch try TestRunMaps.load(path: path ?? ProgramCatalog.objectPath("timer_arm"), runtime: runtime, prefix: "t_",
                                    value: TimerValue.layout, maxEntries: TimerValue.maxEntries) {
        case .supported(let m): return .supported(try TimerArming(maps: m))
        case .unsupported(let why): return .unsupported(why)
        }
    }

    public func put(_ kind: TimerMapKind, key: UInt32, tag: UInt32, canary: UInt64) throws {
        try maps.put(kind, key: key, tag: tag, canary: canary)
    }
    public func lookup(_ kind: TimerMapKind, key: UInt32) throws -> [UInt8]? { try maps.lookup(kind, key: key) }
    @discardableResult
    public func delete(_ kind: TimerMapKind, key: UInt32) throws -> Bool { try maps.delete(kind, key: key) }

    /// BPF_PROG_TEST_RUN of arm_<kind>: bpf_timer_init/set_callback/start(delayNs) on `key`.
    public func arm(_ kind: TimerMapKind, key: UInt32, delayNs: UInt64) throws {
        _ = try maps.run("arm_\(kind.rawValue)", key: key, arg: delayNs)
    }

    /// BPF_PROG_TEST_RUN of touch_lru: a program lookup of LRU `key`, which sets its ref bit.
    public func touchLRU(key: UInt32) throws { _ = try maps.run("touch_lru", key: key, arg: 0) }

    /// fires[tag] for every tag below `count` (one lookup each).
    public func fireCounts(count: Int) throws -> [UInt64] {
        try (0..<UInt32(min(count, TimerValue.fireSlots))).map { try fireCount($0) }
    }

    /// fires[tag].
    public func fireCount(_ tag: UInt32) throws -> UInt64 { try fires.lookup(tag, as: UInt64.self) ?? 0 }

    public func mapID(_ kind: TimerMapKind) throws -> UInt32 { try maps.mapID(kind) }

    /// Closes the object and the timer map fds; with `keepingFires` the fires map stays open.
    public func close(keepingFires: Bool = false) {
        maps.close()
        if !keepingFires { fires.close() }
    }
}

/// Bounded polling on CLOCK_MONOTONIC: `cond` every 2 ms until it holds or `seconds` pass.
func pollUntil(seconds: Double, _ cond: () throws -> Bool) rethrows -> Bool {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    let deadline = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9 + seconds
    while true {
        if try cond() { return true }
        clock_gettime(CLOCK_MONOTONIC, &ts)
        if Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9 > deadline { return false }
        usleep(2_000)
    }
}
