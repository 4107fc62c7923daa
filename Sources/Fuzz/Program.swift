import BPFKit
import Foundation

// A fuzz program is a list of typed map calls. Its text form is one call per line:
//
//     create map=0 type=hash key=4 value=8 max=16 flags=NO_PREALLOC
//     update map=0 key=#1 value=@v3 flags=NOEXIST
//     lookup map=0 key=0x01000000
//     lookup_batch map=0 in=NULL count=8
//
// Only arguments that differ from the defaults are printed, so `print(parse(x))` is canonical.

/// The map calls a program can make.
public enum CallOp: String, CaseIterable, Sendable {
    case create, update, lookup, delete
    case nextKey = "next_key"
    case lookupAndDelete = "lookup_and_delete"
    case freeze
    case lookupBatch = "lookup_batch"
    case lookupAndDeleteBatch = "lookup_and_delete_batch"
    case updateBatch = "update_batch"
    case deleteBatch = "delete_batch"
    /// A whole get_next_key walk plus a lookup of every key: checks each key comes once.
    case walk
    /// close(2) of the map's fd; later calls on the slot use the closed fd (EBADF).
    case close

    /// Position in the declaration (a cheap hash input; the raw value is a String).
    var ordinal: UInt8 {
        switch self {
        case .create: return 0
        case .update: return 1
        case .lookup: return 2
        case .delete: return 3
        case .nextKey: return 4
        case .lookupAndDelete: return 5
        case .freeze: return 6
        case .lookupBatch: return 7
        case .lookupAndDeleteBatch: return 8
        case .updateBatch: return 9
        case .deleteBatch: return 10
        case .walk: return 11
        case .close: return 12
        }
    }
}

/// A user buffer argument. Every buffer the executor builds ends right before a PROT_NONE
/// guard page with canary bytes in front, so its length is exactly what the text says.
public enum Buf: Hashable, Sendable, CustomStringConvertible {
    /// The size the call needs (key size, value size, per-CPU stride × CPUs, …).
    case auto
    /// A NULL pointer.
    case null
    /// A pointer to the guard page itself (unmapped for the kernel).
    case unmapped
    /// Exactly these bytes (a key or a value literal).
    case bytes([UInt8])
    /// A little-endian integer filling the map's key size (`#5`).
    case int(UInt64)
    /// A value generated from a seed (`@v3`), of the needed size or `len` bytes.
    case pattern(UInt32, len: Int?)
    /// An output buffer of exactly `n` bytes (`len:12`).
    case len(Int)

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .null: return "NULL"
        case .unmapped: return "BAD"
        case let .bytes(b): return "0x" + b.map { String(format: "%02x", $0) }.joined()
        case let .int(v): return "#\(v)"
        case let .pattern(s, nil): return "@v\(s)"
        case let .pattern(s, len?): return "@v\(s):\(len)"
        case let .len(n): return "len:\(n)"
        }
    }

    static func parse(_ s: String) -> Buf? {
        switch s {
        case "auto": return .auto
        case "NULL": return .null
        case "BAD": return .unmapped
        default: break
        }
        if s.hasPrefix("0x") {
            let hex = Array(s.dropFirst(2))
            guard hex.count % 2 == 0 else { return nil }
            var out: [UInt8] = []
            var i = 0
            while i < hex.count {
                guard let b = UInt8(String(hex[i...i + 1]), radix: 16) else { return nil }
                out.append(b); i += 2
            }
            return .bytes(out)
        }
        if s.hasPrefix("#") { return UInt64(s.dropFirst()).map { .int($0) } }
        if s.hasPrefix("len:") { return Int(s.dropFirst(4)).flatMap { $0 >= 0 ? .len($0) : nil } }
        if s.hasPrefix("@v") {
            let body = s.dropFirst(2).split(separator: ":", maxSplits: 1)
            guard let seed = body.first.flatMap({ UInt32($0) }) else { return nil }
            if body.count == 2 {
                guard let n = Int(body[1]), n >= 0 else { return nil }
                return .pattern(seed, len: n)
            }
            return .pattern(seed, len: nil)
        }
        return nil
    }
}

/// Which descriptor a call passes.
public enum FDMode: String, Hashable, Sendable, CaseIterable {
    /// The slot's map fd.
    case map
    /// An fd number that is not open.
    case closed
    /// An open fd that is not a map (/dev/null).
    case file
    /// -1.
    case negative = "-1"

    /// Position in the declaration (a cheap hash input; the raw value is a String).
    var ordinal: UInt8 {
        switch self {
        case .map: return 0
        case .closed: return 1
        case .file: return 2
        case .negative: return 3
        }
    }
}

/// The in_batch cursor of a batch lookup.
public enum Token: Hashable, Sendable, CustomStringConvertible {
    case null
    /// The out_batch the previous batch call on the same map wrote.
    case last
    case unmapped
    case value(UInt32)

    public var description: String {
        switch self {
        case .null: return "NULL"
        case .last: return "last"
        case .unmapped: return "BAD"
        case let .value(v): return "#\(v)"
        }
    }

    static func parse(_ s: String) -> Token? {
        switch s {
        case "NULL": return .null
        case "last": return .last
        case "BAD": return .unmapped
        default: return s.hasPrefix("#") ? UInt32(s.dropFirst()).map { .value($0) } : nil
        }
    }
}

/// One call with all of its arguments; each op reads the fields it needs.
public struct Call: Hashable, Sendable, CustomStringConvertible {
    // The fields every element op reads come first: they share the first cache lines of a
    // Call (a long program streams its calls through the cache once per execution).
    public var op: CallOp
    /// Which descriptor the call passes.
    public var fd: FDMode = .map
    /// Map slot (0...3) the call works on.
    public var map: Int = 0
    /// flags (update, lookup), or batch.flags.
    public var flags: UInt64 = 0
    // element ops
    public var key: Buf = .auto
    public var value: Buf = .auto
    /// Output buffer (lookup value, next_key key).
    public var out: Buf = .auto
    // create
    public var type: BPFMapType = .hash
    public var keySize: UInt32 = 4
    public var valueSize: UInt32 = 8
    public var maxEntries: UInt32 = 16
    public var mapFlags: UInt32 = 0
    public var numa: UInt32? = nil
    /// map_extra (bloom filter: the hash count in bits 0-3; any other type: must be 0).
    public var mapExtra: UInt64 = 0
    /// freeze: the attr size passed (0: the wrapper's own), its last byte non-zero.
    public var attrSize: UInt32 = 0
    // batch ops
    public var elemFlags: UInt64 = 0
    public var count: UInt32 = 0
    public var keys: [UInt64] = []
    /// Seed of the first value of update_batch (value i has seed vals+i).
    public var vals: UInt32 = 0
    public var inBatch: Token = .null
    /// Keys / values buffer sizes of a batch (auto = count × element size).
    public var keysBuf: Buf = .auto
    public var valuesBuf: Buf = .auto

    public init(_ op: CallOp, map: Int = 0) { self.op = op; self.map = map }

    public var description: String { ProgramText.format(self) }
}

/// A Buf argument of an element op without the `.bytes` payload, so that ElemCall is
/// trivially copyable (copying a Buf is an outlined switch plus a retain for `.bytes`).
enum PlainBuf: Equatable {
    case auto, null, unmapped
    case int(UInt64)
    case pattern(UInt32, len: Int?)
    case len(Int)
    /// `.bytes`: the Buf is read from the call itself (ElemCall.src).
    case inCall

    @inline(__always)
    init(_ b: Buf) {
        switch b {
        case .auto: self = .auto
        case .null: self = .null
        case .unmapped: self = .unmapped
        case let .int(v): self = .int(v)
        case let .pattern(s, len): self = .pattern(s, len: len)
        case let .len(n): self = .len(n)
        case .bytes: self = .inCall
        }
    }

    /// The Buf, nil for `.inCall`.
    var buf: Buf? {
        switch self {
        case .auto: return .auto
        case .null: return .null
        case .unmapped: return .unmapped
        case let .int(v): return .int(v)
        case let .pattern(s, len): return .pattern(s, len: len)
        case let .len(n): return .len(n)
        case .inCall: return nil
        }
    }
}

/// The arguments of an element op (update, lookup, delete, next_key, lookup_and_delete),
/// read out of a Call in place. The executor and the model take this on the hot path
/// instead of the whole Call: copying a Call (5 Bufs, a keys array, ~220 bytes) per call
/// cost more than the model's own work. Trivially copyable.
struct ElemCall {
    var op: CallOp
    var map: Int
    var fd: FDMode
    var k: PlainBuf
    var v: PlainBuf
    var o: PlainBuf
    var flags: UInt64
    /// The call the arguments come from, read only for `.bytes` buffers (rare). An unsafe
    /// pointer keeps ElemCall trivially copyable; an ElemCall lives only inside the scope
    /// that holds the call (one runElem / checkElem), and is never stored.
    let src: UnsafePointer<Call>

    @inline(__always)
    static func isElem(_ op: CallOp) -> Bool {
        switch op {
        case .update, .lookup, .delete, .nextKey, .lookupAndDelete: return true
        default: return false
        }
    }

    /// Field by field from the call at `p` (no copy of the whole Call).
    @inline(__always)
    init(_ p: UnsafePointer<Call>) {
        src = p
        op = p.pointee.op; map = p.pointee.map; fd = p.pointee.fd
        k = PlainBuf(p.pointee.key); v = PlainBuf(p.pointee.value); o = PlainBuf(p.pointee.out)
        flags = p.pointee.flags
    }

    /// The full Buf arguments (messages, rare buffer kinds).
    var key: Buf { k.buf ?? src.pointee.key }
    var value: Buf { v.buf ?? src.pointee.value }
    var out: Buf { o.buf ?? src.pointee.out }
}

/// A program: calls run in order, on fresh maps.
public struct Program: Hashable, Sendable {
    public var calls: [Call]
    public init(_ calls: [Call]) { self.calls = calls }
    public var text: String { ProgramText.format(self) }
}

/// A parse error: one line naming file:line and what is wrong.
public struct ProgramParseError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int
    public let message: String
    public var description: String { "\(file):\(line): \(message)" }
}

/// The text format (see the top of this file).
public enum ProgramText {
    static let mapTypes: [(String, BPFMapType)] = [
        ("hash", .hash), ("array", .array), ("percpu_hash", .percpuHash), ("percpu_array", .percpuArray),
        ("lru_hash", .lruHash), ("lru_percpu_hash", .lruPercpuHash), ("lpm_trie", .lpmTrie),
        ("queue", .queue), ("stack", .stack), ("bloom_filter", .bloomFilter), ("ringbuf", .ringbuf),
        ("user_ringbuf", .userRingbuf),
    ]
    static let mapFlagNames: [(String, UInt32)] = [
        ("NO_PREALLOC", 1 << 0), ("NO_COMMON_LRU", 1 << 1), ("NUMA_NODE", 1 << 2), ("RDONLY", 1 << 3),
        ("WRONLY", 1 << 4), ("STACK_BUILD_ID", 1 << 5), ("ZERO_SEED", 1 << 6), ("RDONLY_PROG", 1 << 7),
        ("WRONLY_PROG", 1 << 8), ("CLONE", 1 << 9), ("MMAPABLE", 1 << 10), ("PRESERVE_ELEMS", 1 << 11),
        ("INNER_MAP", 1 << 12),
    ]
    static let updateFlagNames: [(String, UInt64)] = [("NOEXIST", 1), ("EXIST", 2), ("F_LOCK", 4)]

    public static func typeName(_ t: BPFMapType) -> String {
        mapTypes.first { $0.1 == t }?.0 ?? "type\(t.rawValue)"
    }

    static func flagText<T: FixedWidthInteger>(_ v: T, _ names: [(String, T)], zero: String) -> String {
        if v == 0 { return zero }
        var parts: [String] = []
        var rest = v
        for (n, bit) in names where v & bit == bit && bit != 0 && bit.nonzeroBitCount == 1 {
            parts.append(n); rest &= ~bit
        }
        if rest != 0 { parts.append("0x" + String(rest, radix: 16)) }
        return parts.joined(separator: "|")
    }

    static func parseFlags<T: FixedWidthInteger>(_ s: String, _ names: [(String, T)], zero: String) -> T? {
        if s == zero || s == "0" { return 0 }
        var v: T = 0
        for part in s.split(separator: "|") {
            if let bit = names.first(where: { $0.0 == part })?.1 { v |= bit; continue }
            if part.hasPrefix("0x"), let n = T(part.dropFirst(2), radix: 16) { v |= n; continue }
            if let n = T(part) { v |= n; continue }
            return nil
        }
        return v
    }

    public static func format(_ c: Call) -> String {
        let d = Call(c.op)
        var a: [String] = [c.op.rawValue, "map=\(c.map)"]
        switch c.op {
        case .create:
            a += ["type=\(typeName(c.type))", "key=\(c.keySize)", "value=\(c.valueSize)", "max=\(c.maxEntries)"]
            if c.mapFlags != 0 { a.append("flags=" + flagText(c.mapFlags, mapFlagNames, zero: "0")) }
            if let n = c.numa { a.append("numa=\(n)") }
            if c.mapExtra != 0 { a.append("extra=\(c.mapExtra)") }
            return a.joined(separator: " ")
        default: break
        }
        if c.key != d.key { a.append("key=\(c.key)") }
        if c.value != d.value { a.append("value=\(c.value)") }
        if c.out != d.out { a.append("out=\(c.out)") }
        if c.inBatch != d.inBatch { a.append("in=\(c.inBatch)") }
        if c.count != d.count { a.append("count=\(c.count)") }
        if !c.keys.isEmpty { a.append("keys=" + c.keys.map(String.init).joined(separator: ",")) }
        if c.vals != d.vals { a.append("vals=@v\(c.vals)") }
        if c.keysBuf != d.keysBuf { a.append("kbuf=\(c.keysBuf)") }
        if c.valuesBuf != d.valuesBuf { a.append("vbuf=\(c.valuesBuf)") }
        if c.flags != 0 { a.append("flags=" + flagText(c.flags, updateFlagNames, zero: "ANY")) }
        if c.elemFlags != 0 { a.append("elem_flags=" + flagText(c.elemFlags, updateFlagNames, zero: "ANY")) }
        if c.attrSize != 0 { a.append("size=\(c.attrSize)") }
        if c.fd != .map { a.append("fd=\(c.fd.rawValue)") }
        return a.joined(separator: " ")
    }

    public static func format(_ p: Program) -> String {
        p.calls.map { format($0) + "\n" }.joined()
    }

    /// Parses a whole program; `#` starts a comment, blank lines are skipped.
    public static func parse(_ text: String, file: String = "<program>") throws -> Program {
        var calls: [Call] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            // A comment starts at a '#' that begins a word (`#N` values always follow '=').
            var line = Substring(raw)
            if let r = line.range(of: " #") { line = line[..<r.lowerBound] }
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("#") { continue }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            calls.append(try parseCall(trimmed, file: file, line: i + 1))
        }
        return Program(calls)
    }

    /// Parses one call line.
    public static func parseCall(_ line: String, file: String = "<program>", line n: Int = 1) throws -> Call {
        func fail(_ m: String) -> ProgramParseError { ProgramParseError(file: file, line: n, message: m) }
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let first = words.first else { throw fail("empty call") }
        guard let op = CallOp(rawValue: first) else {
            throw fail("unknown call '\(first)' (expected one of: \(CallOp.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var c = Call(op)
        var seen = Set<String>()
        for w in words.dropFirst() {
            guard let eq = w.firstIndex(of: "="), eq != w.startIndex else { throw fail("'\(w)' is not name=value") }
            let k = String(w[..<eq]), v = String(w[w.index(after: eq)...])
            guard seen.insert(k).inserted else { throw fail("argument '\(k)' given twice") }
            func num<T: FixedWidthInteger>(_: T.Type) throws -> T {
                if v.hasPrefix("0x"), let x = T(v.dropFirst(2), radix: 16) { return x }
                guard let x = T(v) else { throw fail("\(k)=\(v): not a number") }
                return x
            }
            func buf() throws -> Buf {
                guard let b = Buf.parse(v) else { throw fail("\(k)=\(v): expected NULL, BAD, auto, 0xHEX, #N, @vN[:LEN] or len:N") }
                return b
            }
            switch (op, k) {
            case (_, "map"):
                c.map = try num(Int.self)
                guard (0..<Executor.maxSlots).contains(c.map) else { throw fail("map=\(v): slot must be 0...\(Executor.maxSlots - 1)") }
            case (.create, "type"):
                guard let t = mapTypes.first(where: { $0.0 == v })?.1 else {
                    throw fail("type=\(v): unknown map type (expected one of: \(mapTypes.map(\.0).joined(separator: ", ")))")
                }
                c.type = t
            case (.create, "key"): c.keySize = try num(UInt32.self)
            case (.create, "value"): c.valueSize = try num(UInt32.self)
            case (.create, "max"): c.maxEntries = try num(UInt32.self)
            case (.create, "flags"):
                guard let f = parseFlags(v, mapFlagNames, zero: "0") else { throw fail("flags=\(v): unknown map flag") }
                c.mapFlags = f
            case (.create, "numa"): c.numa = try num(UInt32.self)
            case (.create, "extra"): c.mapExtra = try num(UInt64.self)
            case (.create, _): throw fail("create has no argument '\(k)' (expected: map, type, key, value, max, flags, numa, extra)")
            case (_, "key"): c.key = try buf()
            case (_, "value"): c.value = try buf()
            case (_, "out"): c.out = try buf()
            case (_, "kbuf"): c.keysBuf = try buf()
            case (_, "vbuf"): c.valuesBuf = try buf()
            case (_, "in"):
                guard let t = Token.parse(v) else { throw fail("in=\(v): expected NULL, last, BAD or #N") }
                c.inBatch = t
            case (_, "count"): c.count = try num(UInt32.self)
            case (_, "keys"):
                c.keys = try v.split(separator: ",").map { s in
                    guard let x = UInt64(s) else { throw fail("keys=\(v): '\(s)' is not a number") }
                    return x
                }
            case (_, "vals"):
                guard v.hasPrefix("@v"), let s = UInt32(v.dropFirst(2)) else { throw fail("vals=\(v): expected @vN") }
                c.vals = s
            case (_, "flags"):
                guard let f = parseFlags(v, updateFlagNames, zero: "ANY") else { throw fail("flags=\(v): unknown flag") }
                c.flags = f
            case (_, "elem_flags"):
                guard let f = parseFlags(v, updateFlagNames, zero: "ANY") else { throw fail("elem_flags=\(v): unknown flag") }
                c.elemFlags = f
            case (.freeze, "size"):
                c.attrSize = try num(UInt32.self)
                guard c.attrSize == 0 || (5...8192).contains(c.attrSize) else { throw fail("size=\(v): attr size must be 5...8192") }
            case (_, "fd"):
                guard let m = FDMode(rawValue: v) else { throw fail("fd=\(v): expected map, closed, file or -1") }
                c.fd = m
            default:
                throw fail("\(op.rawValue) has no argument '\(k)'")
            }
        }
        return c
    }

    /// Reads and parses a program file.
    public static func load(path: String) throws -> Program {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ProgramParseError(file: path, line: 0, message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }
}
