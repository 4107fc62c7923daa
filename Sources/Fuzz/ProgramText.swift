// The text form of fuzz programs: one call per line, canonical printing, parsing with file:line errors.
import BPFKit
import Foundation

/// A parse error: one line naming file:line and what is wrong.
public struct ProgramParseError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int
    public let message: String
    public var description: String { "\(file):\(line): \(message)" }
}

/// The text format (see the top of Program.swift).
public enum ProgramText {
    static let mapTypes: [(String, BPFMapType)] = [
        ("hash", .hash), ("array", .array), ("percpu_hash", .percpuHash), ("percpu_array", .percpuArray),
        ("lru_hash", .lruHash), ("lru_percpu_hash", .lruPercpuHash), ("lpm_trie", .lpmTrie),
        ("queue", .queue), ("stack", .stack), ("bloom_filter", .bloomFilter), ("ringbuf", .ringbuf),
        ("user_ringbuf", .userRingbuf), ("array_of_maps", .arrayOfMaps), ("hash_of_maps", .hashOfMaps),
        ("sockmap", .sockmap), ("sockhash", .sockhash), ("reuseport_sockarray", .reuseportSockarray), ("xskmap", .xskmap),
        ("prog_array", .progArray), ("perf_event_array", .perfEventArray), ("cgroup_array", .cgroupArray),
        ("sk_storage", .skStorage), ("inode_storage", .inodeStorage), ("task_storage", .taskStorage), ("cgrp_storage", .cgrpStorage), ("cgroup_storage", .cgroupStorage), ("percpu_cgroup_storage", .percpuCgroupStorage),
        ("devmap", .devmap), ("devmap_hash", .devmapHash), ("cpumap", .cpumap), ("stack_trace", .stackTrace), ("arena", .arena),
    ]
    static let mapFlagNames: [(String, UInt32)] = [
        ("NO_PREALLOC", 1 << 0), ("NO_COMMON_LRU", 1 << 1), ("NUMA_NODE", 1 << 2), ("RDONLY", 1 << 3),
        ("WRONLY", 1 << 4), ("STACK_BUILD_ID", 1 << 5), ("ZERO_SEED", 1 << 6), ("RDONLY_PROG", 1 << 7),
        ("WRONLY_PROG", 1 << 8), ("CLONE", 1 << 9), ("MMAPABLE", 1 << 10), ("PRESERVE_ELEMS", 1 << 11),
        ("INNER_MAP", 1 << 12), ("SEGV_ON_FAULT", 1 << 17), ("NO_USER_CONV", 1 << 18),
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
        if let s = IdentityOps.format(c) { return s }
        if let s = PoolOps.format(c) ?? DevCPUProg.format(c) { return s }
        if c.op == .race { return RaceOps.format(c) }
        if c.op == .ringMmap { return RingMmap.format(c) }
        if c.op == .failNth { return FaultNth.format(c) }
        let d = Call(c.op)
        var a: [String] = [c.op.rawValue, "map=\(c.map)"]
        switch c.op {
        case .create:
            a += ["type=\(typeName(c.type))", "key=\(c.keySize)", "value=\(c.valueSize)", "max=\(c.maxEntries)"]
            if c.mapFlags != 0 { a.append("flags=" + flagText(c.mapFlags, mapFlagNames, zero: "0")) }
            if let n = c.numa { a.append("numa=\(n)") }
            if c.mapExtra != 0 { a.append("extra=\(c.mapExtra)") }
            if c.inner != -1 { a.append("inner=\(innerText(c.inner))") }
            if c.btf != 0 { a.append("btf=" + BTFValue(fields: c.btf).text) }
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
        if c.op == .mmap { a.append("prot=\(c.flags)") } else if c.flags != 0 { a.append("flags=" + flagText(c.flags, updateFlagNames, zero: "ANY")) }
        if c.elemFlags != 0 { a.append("elem_flags=" + flagText(c.elemFlags, updateFlagNames, zero: "ANY")) }
        if c.attrSize != 0 { a.append("size=\(c.attrSize)") }
        if c.inner != -1 { a.append("inner=\(innerText(c.inner))") }
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
                guard let b = Buf.parse(v) else { throw fail("\(k)=\(v): expected NULL, BAD, auto, 0xHEX, #N, @vN[:LEN], len:N or obj:N (0...7)") }
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
            case (.create, "inner"), (.putInner, "inner"):
                guard let i = parseInner(v) else { throw fail("inner=\(v): expected a slot 0...\(Executor.maxSlots - 1), file or closed") }
                c.inner = i
            case (.create, "btf"):
                guard let b = BTFValue.parse(v) else { throw fail("btf=\(v): expected lock, timer, kptr or plain, joined by |") }
                c.btf = b
            case (.create, _): throw fail("create has no argument '\(k)' (expected: map, type, key, value, max, flags, numa, extra, inner, btf)")
            case (.pin, _), (.unpin, _), (.objGet, _), (.fdByID, _), (.nextID, _), (.info, _): try IdentityOps.parse(&c, k, v, fail: fail)
            case (.race, _): try RaceOps.parse(&c, k, v, fail: fail)
            case (.open, _), (.drop, _), (.putProg, "obj"): try PoolOps.parse(&c, k, v, fail: fail)
            case (.ringMmap, _): try RingMmap.parse(&c, k, v, fail: fail)
            case (.failNth, _): try FaultNth.parse(&c, k, v, fail: fail)
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
            case (.mmap, "prot"):
                c.flags = try num(UInt64.self)
                guard c.flags <= 3 else { throw fail("prot=\(v): expected 0...3 (PROT_READ 1 | PROT_WRITE 2)") }
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
        if let m = checkCreate(c) ?? PoolOps.check(c, seen: seen) { throw fail(m) }
        if c.op == .failNth && c.count == 0 { throw fail("fail_nth needs n=N (the fault site to fail, 1...10000)") }
        return c
    }

    /// `inner=`: a slot, or the fd of /dev/null (-2), or a closed fd (-3).
    static func innerText(_ i: Int) -> String { i == -2 ? "file" : i == -3 ? "closed" : String(i) }
    static func parseInner(_ v: String) -> Int? {
        switch v {
        case "file": return -2
        case "closed": return -3
        default: return Int(v).flatMap { (0..<Executor.maxSlots).contains($0) ? $0 : nil }
        }
    }

    /// Checks a parsed create: BTF values only on the map types the model knows them for.
    static func checkCreate(_ c: Call) -> String? {
        guard c.op == .create, c.btf != 0, !ShadowModel.btfTypes.contains(c.type) else { return nil }
        if let m = ShadowModel.storageBTFCheck(c) { return m.isEmpty ? nil : m }
        return "btf=\(BTFValue(fields: c.btf).text): BTF values are fuzzed on \(ShadowModel.btfTypes.map(typeName).joined(separator: ", ")) only"
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
