// Arms the bpf_timer field of map elements through corpora/progs/timer_arm.bpf.c and reads its fire counters.
import BPFKit
import Glibc

/// The maps of timer_arm.bpf.c whose value holds a bpf_timer, and the program arming each.
public enum TimerMapKind: String, CaseIterable, Sendable {
    case hash, lru, array

    var mapName: String { "t_\(rawValue)" }
    var programName: String { "arm_\(rawValue)" }
    var mapType: BPFMapType {
        switch self {
        case .hash: .hash
        case .lru: .lruHash
        case .array: .array
        }
    }
    /// max_entries of every timer map in timer_arm.bpf.c.
    static let maxEntries: UInt32 = 64
}

/// `struct tval` of timer_arm.bpf.c: u64 tag, struct bpf_timer (16 bytes, kernel-owned), u64 canary.
public enum TimerValue {
    public static let size = 32
    /// The bytes the kernel owns: user space writes are ignored there and lookups return zeros.
    public static let timerBytes = 8..<24
    /// fires[] slots in the object; the last one counts callbacks whose tag was out of range.
    public static let fireSlots = 1024
    public static let strayTag = UInt32(fireSlots - 1)

    /// A value as user space writes it. The timer bytes are 0xA5, not zero, so that a kernel
    /// that copied them (instead of skipping its own field) shows up on lookup.
    public static func bytes(tag: UInt32, canary: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0xA5, count: size)
        withUnsafeBytes(of: UInt64(tag).littleEndian) { out.replaceSubrange(0..<8, with: $0) }
        withUnsafeBytes(of: canary.littleEndian) { out.replaceSubrange(24..<32, with: $0) }
        return out
    }

    /// What a lookup must return for a value written as bytes(tag:canary:): the timer zeroed.
    public static func expectedLookup(tag: UInt32, canary: UInt64) -> [UInt8] {
        var out = bytes(tag: tag, canary: canary)
        out.replaceSubrange(timerBytes, with: [UInt8](repeating: 0, count: timerBytes.count))
        return out
    }
}

/// Why an arm call failed: the program's step (TA_STEP_* in timer_arm.bpf.c) and errno.
public struct TimerArmFailure: Error, Equatable, CustomStringConvertible {
    public let step: UInt32
    public let errno: Int32
    public var description: String {
        let names = [1: "bpf_skb_load_bytes", 2: "bpf_map_lookup_elem", 3: "bpf_timer_init", 4: "bpf_timer_set_callback", 5: "bpf_timer_start"]
        return "\(names[Int(step)] ?? "step \(step)") returned -\(errno)"
    }
}

/// One loaded instance of timer_arm.bpf.c: its own maps, fires counters and programs.
public final class TimerArming {
    public let object: LibbpfObject
    public let maps: [TimerMapKind: MapFD]
    public let fires: MapFD
    public let runtime: Runtime

    init(object: LibbpfObject, runtime: Runtime) throws {
        self.object = object
        self.runtime = runtime
        var maps: [TimerMapKind: MapFD] = [:]
        for k in TimerMapKind.allCases {
            maps[k] = try object.map(k.mapName, runtime: runtime,
                                     spec: MapSpec(type: k.mapType, keySize: 4, valueSize: UInt32(TimerValue.size),
                                                   maxEntries: TimerMapKind.maxEntries, name: k.mapName))
        }
        self.maps = maps
        fires = try object.map("fires", runtime: runtime,
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
        let path = try path ?? ProgramCatalog.objectPath("timer_arm")
        let obj: LibbpfObject
        do {
            obj = try LibbpfObject.load(path: path)
        } catch let e as BPFError where e.code == .syscall {
            return .unsupported("\(FileUtilName.base(path)) does not load: \(e)")
        }
        return .supported(try TimerArming(object: obj, runtime: runtime))
    }

    /// BPF_MAP_UPDATE_ELEM from user space of `key` = bytes(tag:canary:).
    public func put(_ kind: TimerMapKind, key: UInt32, tag: UInt32, canary: UInt64, flags: UInt64 = 0) throws {
        var k = key
        let v = TimerValue.bytes(tag: tag, canary: canary)
        try v.withUnsafeBytes { vp in try maps[kind]!.update(key: &k, value: vp.baseAddress!, flags: flags) }
    }

    /// BPF_MAP_LOOKUP_ELEM from user space; nil when absent.
    public func lookup(_ kind: TimerMapKind, key: UInt32) throws -> [UInt8]? {
        var k = key
        var v = [UInt8](repeating: 0xEE, count: TimerValue.size)
        do {
            try v.withUnsafeMutableBytes { vp in try maps[kind]!.lookup(key: &k, value: vp.baseAddress!) }
        } catch let e as BPFError where e.errno == .noSuchFileOrDirectory {
            return nil
        }
        return v
    }

    /// BPF_MAP_DELETE_ELEM from user space; false when absent.
    @discardableResult
    public func delete(_ kind: TimerMapKind, key: UInt32) throws -> Bool {
        try maps[kind]!.delete(key)
    }

    /// BPF_PROG_TEST_RUN of arm_<kind>: bpf_timer_init/set_callback/start(delayNs) on `key`.
    public func arm(_ kind: TimerMapKind, key: UInt32, delayNs: UInt64) throws {
        let rv = try object.testRun(program: kind.programName, packet: Self.packet(key: key, delayNs: delayNs))
        if rv != 0 { throw TimerArmFailure(step: rv >> 16, errno: Int32(rv & 0xffff)) }
    }

    /// BPF_PROG_TEST_RUN of touch_lru: a program lookup of LRU `key`, which sets its ref bit.
    public func touchLRU(key: UInt32) throws {
        let rv = try object.testRun(program: "touch_lru", packet: Self.packet(key: key, delayNs: 0))
        if rv != 0 { throw TimerArmFailure(step: rv >> 16, errno: Int32(rv & 0xffff)) }
    }

    /// The test packet: a 14-byte Ethernet header, then struct arm_args {u32 key, u32 pad, u64 delay_ns}.
    static func packet(key: UInt32, delayNs: UInt64) -> [UInt8] {
        var packet = [UInt8](repeating: 0, count: 64)
        withUnsafeBytes(of: key.littleEndian) { packet.replaceSubrange(14..<18, with: $0) }
        withUnsafeBytes(of: delayNs.littleEndian) { packet.replaceSubrange(22..<30, with: $0) }
        return packet
    }

    /// fires[tag] for every tag below `count` (one lookup each).
    public func fireCounts(count: Int) throws -> [UInt64] {
        try (0..<UInt32(min(count, TimerValue.fireSlots))).map { try fireCount($0) }
    }

    /// fires[tag].
    public func fireCount(_ tag: UInt32) throws -> UInt64 { try fires.lookup(tag, as: UInt64.self) ?? 0 }

    /// The kernel id of a timer map (for the leak check after close).
    public func mapID(_ kind: TimerMapKind) throws -> UInt32 { try runtime.mapInfo(maps[kind]!).id }

    /// Closes the object and the timer map fds; `keep` (the fires map) stays open.
    public func close(keepingFires: Bool = false) {
        maps.values.forEach { $0.close() }
        if !keepingFires { fires.close() }
        object.close()
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

enum FileUtilName {
    static func base(_ path: String) -> String { path.split(separator: "/").last.map(String.init) ?? path }
}
