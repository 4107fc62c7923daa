// The race call's text form, generation, thread A's fixed sequence, the map types it runs on, and its signature outcome.
import BPFKit
import CBPFStress
import Foundation

// Text form:
//
//     race map=0 with=batch rounds=32 keys=1,2,3 vals=@v5
//
// Thread A makes `rounds` calls on the keys (0...3 when none are given): an
// update of keys[j % n] to @v(vals+j), or on hash maps every third call (j % 3 == 2) a
// delete of keys[(j / 3) % n] (the deletes go round the keys, whatever n is). Thread B makes calls of
// its kind (`with=`: walk, batch, delbatch, freeze, mmap, close) until A is done. Fields:
// flags (the kind), count (rounds), keys, vals.
enum RaceOps {
    static let kinds = ["walk", "batch", "delbatch", "freeze", "mmap", "close"]
    /// Most calls thread B makes in one race, and entries it records (bounded loops).
    static let bCalls = 256, bEntries = 1024
    /// Entries per batch call of thread B.
    static let batchCount = 16

    static func kind(_ c: Call) -> Int { Int(min(c.flags, UInt64(kinds.count - 1))) }

    /// The map types and shapes the model can follow under a race; others get the executor's
    /// own EOPNOTSUPP (LRU eviction, LPM and queue semantics under races are not modelled).
    static func supported(_ c: Call, _ s: MapShape) -> Bool {
        // Small maps only: B's record of what it saw stays small (bEntries x value length).
        guard c.fd == .map, s.keySize >= 1, s.keySize <= 64, s.valueLen <= 256, s.maxEntries <= 64, s.valueSize > 0 else { return false }
        switch kind(c) {
        case 4: return s.type == .array && s.flags & BPFMapFlags.mmapable != 0
        case 2: return s.isHashFamily && !s.isLRU
        default: return (s.isHashFamily && !s.isLRU) || s.isArray
        }
    }

    /// Thread A's calls: (delete?, key, value seed).
    static func sequence(_ c: Call, _ s: MapShape) -> [(del: Bool, key: UInt64, seed: UInt32)] {
        let keys = c.keys.isEmpty ? [0, 1, 2, 3] : c.keys
        return (0..<Int(min(c.count, 64))).map { j in
            let del = s.isHashFamily && j % 3 == 2
            return (del, keys[(del ? j / 3 : j) % keys.count], c.vals &+ UInt32(j))
        }
    }

    static func format(_ c: Call) -> String {
        var a = ["race", "map=\(c.map)", "with=\(kinds[kind(c)])", "rounds=\(c.count)"]
        if !c.keys.isEmpty { a.append("keys=" + c.keys.map(String.init).joined(separator: ",")) }
        if c.vals != 0 { a.append("vals=@v\(c.vals)") }
        if c.fd != .map { a.append("fd=\(c.fd.rawValue)") }
        return a.joined(separator: " ")
    }

    static func parse(_ c: inout Call, _ k: String, _ v: String, fail: (String) -> ProgramParseError) throws {
        switch k {
        case "with":
            guard let i = kinds.firstIndex(of: v) else { throw fail("with=\(v): expected one of \(kinds.joined(separator: ", "))") }
            c.flags = UInt64(i)
        case "rounds":
            guard let n = UInt32(v), (1...64).contains(n) else { throw fail("rounds=\(v): expected 1...64") }
            c.count = n
        case "keys":
            c.keys = try v.split(separator: ",").map { s in
                guard let x = UInt64(s) else { throw fail("keys=\(v): '\(s)' is not a number") }
                return x
            }
            guard (1...8).contains(c.keys.count) else { throw fail("keys=\(v): 1...8 keys") }
        case "vals":
            guard v.hasPrefix("@v"), let s = UInt32(v.dropFirst(2)) else { throw fail("vals=\(v): expected @vN") }
            c.vals = s
        case "fd":
            guard let m = FDMode(rawValue: v) else { throw fail("fd=\(v): expected map, closed, file or -1") }
            c.fd = m
        default: throw fail("race has no argument '\(k)' (expected: map, with, rounds, keys, vals, fd)")
        }
    }

    /// kind, then what happened: B's freeze or close landed (1), A saw it (2), B saw entries (4).
    static func outcome(_ c: Call, _ r: CallResult) -> Int32 {
        guard r.errno == 0, let rec = RaceRecord(decoding: r) else { return Int32(kind(c)) << 4 }
        var o = Int32(kind(c)) << 4
        if rec.bErrno.contains(0) && (kind(c) == 3 || kind(c) == 5) { o |= 1 }
        if rec.aErrno.contains(EPERM) || rec.aErrno.contains(EINVAL) { o |= 2 }
        if !rec.entries.isEmpty { o |= 4 }
        return o
    }
}

extension Generator {
    /// A race on `slot`'s map (kinds that fit its type mostly).
    mutating func raceCall(_ c: inout Call, on create: Call?) {
        let t = create?.type ?? .hash
        let mmapable = t == .array && (create?.mapFlags ?? 0) & BPFMapFlags.mmapable != 0
        var kinds = [0, 1, 3, 5]
        if t != .array && t != .percpuArray { kinds += [2, 2] }
        if mmapable { kinds += [4, 4, 4] }
        c.flags = UInt64(pick(kinds))
        c.count = pick([8, 16, 32, 64])
        let maxK = UInt64(max(1, min(Int(create?.maxEntries ?? 16), 8)))
        c.keys = (0..<(1 + int(5))).map { _ in UInt64(int(Int(maxK) + (chance(0.1) ? 1 : 0))) }
        c.vals = UInt32(int(64))
    }
}
