// The maps and SEC("tc") programs of an object run with BPF_PROG_TEST_RUN (timer_arm, kptr_stash).
import BPFKit

/// The three maps of timer_arm.bpf.c and kptr_stash.bpf.c whose values hold a kernel-owned field.
public enum TimerMapKind: String, CaseIterable, Sendable {
    case hash, lru, array

    var mapType: BPFMapType {
        switch self {
        case .hash: .hash
        case .lru: .lruHash
        case .array: .array
        }
    }
}

/// A value `{u64 tag; <kernel-owned field>; u64 canary}` as user space writes and reads it.
public struct FieldValue: Sendable {
    public let size: Int
    /// The bytes the kernel owns: user-space writes are ignored there and lookups return zeros.
    public let kernelBytes: Range<Int>

    /// A value as user space writes it. The kernel's bytes are 0xA5, not zero, so that a kernel
    /// that copied them (instead of skipping its own field) shows up on lookup.
    public func bytes(tag: UInt32, canary: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0xA5, count: size)
        withUnsafeBytes(of: UInt64(tag).littleEndian) { out.replaceSubrange(0..<8, with: $0) }
        withUnsafeBytes(of: canary.littleEndian) { out.replaceSubrange((size - 8)..<size, with: $0) }
        return out
    }

    /// What a lookup must return for a value written as bytes(tag:canary:): the kernel's bytes zeroed.
    public func expectedLookup(tag: UInt32, canary: UInt64) -> [UInt8] {
        var out = bytes(tag: tag, canary: canary)
        out.replaceSubrange(kernelBytes, with: [UInt8](repeating: 0, count: kernelBytes.count))
        return out
    }

    /// nil when `got` is expectedLookup(tag:canary:), else one line naming the differing bytes.
    public func checkLookup(_ got: [UInt8]?, kind: TimerMapKind, key: UInt32, tag: UInt32, canary: UInt64) -> String? {
        let want = expectedLookup(tag: tag, canary: canary)
        guard let got else { return "\(kind.rawValue) key \(key): lookup found no element" }
        if got == want { return nil }
        let diff = (0..<want.count).filter { got[$0] != want[$0] }
        return "\(kind.rawValue) key \(key): lookup differs at bytes \(diff.map(String.init).joined(separator: ",")) (kernel-owned bytes \(kernelBytes.lowerBound)..<\(kernelBytes.upperBound) must read 0)"
    }
}

/// Why a test-run program failed: its step (the object's *_STEP_* numbers) and errno.
public struct TestRunFailure: Error, Equatable, CustomStringConvertible {
    public let program: String
    public let step: UInt32
    public let errno: Int32
    public var description: String { "\(program): step \(step) returned -\(errno)" }
}

/// One loaded instance: its value maps by kind (named PREFIX + kind) and its programs.
public final class TestRunMaps {
    public let object: LibbpfObject
    public let maps: [TimerMapKind: MapFD]
    public let runtime: Runtime
    public let value: FieldValue

    /// The outcome of loading: a kernel that refuses the object gives the verifier's or libbpf's reason.
    public enum Probe {
        case supported(TestRunMaps)
        case unsupported(String)
    }

    init(object: LibbpfObject, runtime: Runtime, prefix: String, value: FieldValue, maxEntries: UInt32) throws {
        self.object = object
        self.runtime = runtime
        self.value = value
        var maps: [TimerMapKind: MapFD] = [:]
        for k in TimerMapKind.allCases {
            let name = prefix + k.rawValue
            maps[k] = try object.map(name, runtime: runtime, spec: MapSpec(type: k.mapType, keySize: 4, valueSize: UInt32(value.size),
                                                                       maxEntries: maxEntries, name: name))
        }
        self.maps = maps
    }

    /// Loads a fresh instance of `path` (libbpf creates the maps from the object's BTF). A load
    /// the kernel refuses is `.unsupported`; other errors (no object, no clang) are thrown.
    static func load(path: String, runtime: Runtime, prefix: String, value: FieldValue, maxEntries: UInt32) throws -> Probe {
        let obj: LibbpfObject
        do {
            obj = try LibbpfObject.load(path: path)
        } catch let e as BPFError where e.code == .syscall {
            let base = path.split(separator: "/").last.map(String.init) ?? path
            return .unsupported("\(base) does not load: \(e)")
        }
        return .supported(try TestRunMaps(object: obj, runtime: runtime, prefix: prefix, value: value, maxEntries: maxEntries))
    }

    /// BPF_MAP_UPDATE_ELEM from user space of `key` = value.bytes(tag:canary:).
    public func put(_ kind: TimerMapKind, key: UInt32, tag: UInt32, canary: UInt64, flags: UInt64 = 0) throws {
        var k = key
        let v = value.bytes(tag: tag, canary: canary)
        try v.withUnsafeBytes { vp in try maps[kind]!.update(key: &k, value: vp.baseAddress!, flags: flags) }
    }

    /// BPF_MAP_LOOKUP_ELEM from user space; nil when absent.
    public func lookup(_ kind: TimerMapKind, key: UInt32) throws -> [UInt8]? {
        var k = key
        var v = [UInt8](repeating: 0xEE, count: value.size)
        do {
            try v.withUnsafeMutableBytes { vp in try maps[kind]!.lookup(key: &k, value: vp.baseAddress!) }
        } catch let e as BPFError where e.errno == .noSuchFileOrDirectory {
            return nil
        }
        return v
    }

    /// BPF_MAP_DELETE_ELEM from user space; false when absent.
    @discardableResult
    public func delete(_ kind: TimerMapKind, key: UInt32) throws -> Bool { try maps[kind]!.delete(key) }

    /// BPF_PROG_TEST_RUN of `program` on a packet carrying {u32 key, u32 pad, u64 arg} after a
    /// 14-byte Ethernet header. A return value of 1 << 16 or more is (step << 16) | errno: thrown.
    public func run(_ program: String, key: UInt32, arg: UInt64) throws -> UInt32 {
        var packet = [UInt8](repeating: 0, count: 64)
        withUnsafeBytes(of: key.littleEndian) { packet.replaceSubrange(14..<18, with: $0) }
        withUnsafeBytes(of: arg.littleEndian) { packet.replaceSubrange(22..<30, with: $0) }
        let rv = try object.testRun(program: program, packet: packet)
        if rv >= 1 << 16 { throw TestRunFailure(program: program, step: rv >> 16, errno: Int32(rv & 0xffff)) }
        return rv
    }

    /// The kernel id of a value map (for the leak check after close).
    public func mapID(_ kind: TimerMapKind) throws -> UInt32 { try runtime.mapInfo(maps[kind]!).id }

    /// Closes the value map fds and the object (MapFDs handed out elsewhere stay open).
    public func close() {
        maps.values.forEach { $0.close() }
        object.close()
    }
}
