// BTF-defined map values: the layout of a value struct with kernel-owned fields (bpf_spin_lock, bpf_timer, a kptr), and the BTF blob that describes it.
import Foundation

/// A map value described by BTF: `struct bpfs_val { [struct bpf_spin_lock l;] [struct bpf_timer t;]
/// [struct task_struct __kptr_untrusted *p;] unsigned char data[]; }` of value_size bytes. The
/// kernel owns the special fields: syscalls neither copy them in nor out (they read back 0).
public struct BTFValue: Hashable, Sendable {
    public static let lock: UInt8 = 1, timer: UInt8 = 2, kptr: UInt8 = 4
    /// BTF with no special field (a plain struct value).
    public static let plain: UInt8 = 8
    public static let names: [(String, UInt8)] = [("lock", lock), ("timer", timer), ("kptr", kptr), ("plain", plain)]

    /// Bits of lock, timer, kptr, plain.
    public let fields: UInt8
    public init(fields: UInt8) { self.fields = fields }

    /// The kernel-owned byte ranges, in order: lock at 0 (4 bytes), then the timer (16) and the
    /// kptr (8), each 8-aligned.
    public var owned: [Range<Int>] {
        var r: [Range<Int>] = []
        var off = 0
        if fields & Self.lock != 0 { r.append(0..<4); off = 4 }
        if fields & Self.timer != 0 { off = (off + 7) & ~7; r.append(off..<(off + 16)); off += 16 }
        if fields & Self.kptr != 0 { off = (off + 7) & ~7; r.append(off..<(off + 8)); off += 8 }
        return r
    }
    /// The smallest value_size that holds the fields.
    public var minSize: Int { owned.last?.upperBound ?? 1 }
    public var hasLock: Bool { fields & Self.lock != 0 }

    /// The text of `btf=` (lock|timer|kptr, or plain).
    public var text: String { Self.names.filter { fields & $0.1 != 0 }.map(\.0).joined(separator: "|") }
    public static func parse(_ s: String) -> UInt8? {
        var v: UInt8 = 0
        for part in s.split(separator: "|") {
            guard let b = names.first(where: { $0.0 == part })?.1 else { return nil }
            v |= b
        }
        return v == 0 ? nil : v
    }

    /// `value` with the kernel-owned bytes zeroed, per CPU for per-CPU values (stride
    /// round_up(value_size, 8)).
    func mask(_ value: Bytes, valueSize: Int) -> Bytes {
        let ranges = owned
        if ranges.isEmpty { return value }
        var b = value.array
        let stride = (valueSize + 7) & ~7
        var base = 0
        while base < b.count {
            for r in ranges { for i in r where base + i < b.count && i < valueSize { b[base + i] = 0 } }
            base += stride
        }
        return Bytes(b)
    }

    /// The BTF blob (BPF_BTF_LOAD) and the ids of the key and value types. The value struct is
    /// max(valueSize, minSize) bytes: a smaller value_size then disagrees with it (EINVAL at
    /// map create). Array maps get an `unsigned int` key; other maps `unsigned char[key_size]`.
    public func blob(keySize: Int, valueSize: Int, intKey: Bool) -> (bytes: [UInt8], keyType: UInt32, valueType: UInt32) {
        var strings: [UInt8] = [0]
        func name(_ s: String) -> UInt32 { let o = UInt32(strings.count); strings += Array(s.utf8) + [0]; return o }
        var types: [UInt8] = []
        var count: UInt32 = 0
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { types += $0 } }
        func type(_ nameOff: UInt32, kind: UInt32, vlen: UInt32 = 0, sizeOrType: UInt32) -> UInt32 {
            u32(nameOff); u32(kind << 24 | vlen); u32(sizeOrType); count += 1; return count
        }
        let int = type(name("int"), kind: 1, sizeOrType: 4); u32(1 << 24 | 32)
        let uchar = type(name("unsigned char"), kind: 1, sizeOrType: 1); u32(8)
        let u64 = type(name("long long unsigned int"), kind: 1, sizeOrType: 8); u32(64)
        let lockT = type(name("bpf_spin_lock"), kind: 4, vlen: 1, sizeOrType: 4); u32(name("val")); u32(int); u32(0)
        let opaque = type(0, kind: 3, sizeOrType: 0); u32(u64); u32(int); u32(2)
        let timerT = type(name("bpf_timer"), kind: 4, vlen: 1, sizeOrType: 16); u32(name("__opaque")); u32(opaque); u32(0)
        let task = type(name("task_struct"), kind: 4, sizeOrType: 0)
        let tag = type(name("kptr_untrusted"), kind: 18, sizeOrType: task)
        let ptr = type(0, kind: 2, sizeOrType: tag)
        let key: UInt32
        if intKey {
            key = type(name("unsigned int"), kind: 1, sizeOrType: UInt32(keySize)); u32(UInt32(min(keySize, 16) * 8))
        } else {
            key = type(0, kind: 3, sizeOrType: 0); u32(uchar); u32(int); u32(UInt32(keySize))
        }
        let size = max(valueSize, minSize)
        let end = owned.last?.upperBound ?? 0
        var data: UInt32 = 0
        if size > end { data = type(0, kind: 3, sizeOrType: 0); u32(uchar); u32(int); u32(UInt32(size - end)) }
        var members: [(String, UInt32, Int)] = []
        let ranges = owned
        var i = 0
        if hasLock { members.append(("l", lockT, ranges[i].lowerBound)); i += 1 }
        if fields & Self.timer != 0 { members.append(("t", timerT, ranges[i].lowerBound)); i += 1 }
        if fields & Self.kptr != 0 { members.append(("p", ptr, ranges[i].lowerBound)); i += 1 }
        if data != 0 { members.append(("data", data, end)) }
        let value = type(name("bpfs_val"), kind: 4, vlen: UInt32(members.count), sizeOrType: UInt32(size))
        for m in members { u32(name(m.0)); u32(m.1); u32(UInt32(m.2 * 8)) }
        var out: [UInt8] = []
        func h16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func h32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        h16(0xEB9F); out += [1, 0]; h32(24); h32(0); h32(UInt32(types.count)); h32(UInt32(types.count)); h32(UInt32(strings.count))
        return (out + types + strings, key, value)
    }
}
