// map-parallel's value model and oracle: own ranges exact, overlap values written by some writer.
import Basics
import BPFKit
import Foundation
import StressCore

/// Values of map-parallel: every value says which key it belongs to (high 32 bits) and
/// who wrote it, with a check byte, so a value under the wrong key or a torn one shows.
public enum ParallelValues {
    static func check(_ key: UInt32, _ payload: UInt32) -> UInt8 {
        UInt8(truncatingIfNeeded: PercpuValueCodec.mix(UInt64(key) << 32 | UInt64(payload)))
    }
    /// Own-range value of `key` in round `round`, `phase` 0 (NOEXIST insert) or 1 (EXIST update).
    public static func own(key: UInt32, round: Int, phase: Int) -> UInt64 {
        let payload = UInt32(truncatingIfNeeded: (round & 0x7F_FFFF) << 1 | (phase & 1))
        return UInt64(key) << 32 | UInt64(payload & 0xFF_FFFF) << 8 | UInt64(check(key, payload & 0xFF_FFFF))
    }
    /// Overlap value written by `writer` (any 24-bit id).
    public static func overlap(key: UInt32, writer: UInt32) -> UInt64 {
        let p = writer & 0xFF_FFFF
        return UInt64(key) << 32 | UInt64(p) << 8 | UInt64(check(key, p ^ 0x80_0000))
    }
    /// True when `value` is an overlap value some writer wrote for `key`.
    public static func isOverlapValue(_ value: UInt64, key: UInt32) -> Bool {
        guard UInt32(value >> 32) == key else { return false }
        let p = UInt32((value >> 8) & 0xFF_FFFF)
        return UInt8(value & 0xFF) == check(key, p ^ 0x80_0000)
    }
}

/// The oracle of map-parallel's quiescent points: the exact content, the two counts and
/// the number of winners per overlap key.
public enum ParallelMapOracle {
    /// `content` read by lookup_batch, `walkKeys` by get_next_key. For arrays `expected`
    /// lists the non-zero slots and every other slot must read 0.
    public static func checkContent(expected: [UInt32: UInt64], content: [UInt32: UInt64], walkKeys: [UInt32],
                                    batchCount: Int, isArray: Bool, maxEntries: Int) -> [Violation] {
        var v: [Violation] = []
        let wantCount = isArray ? maxEntries : expected.count
        if walkKeys.count != batchCount || batchCount != wantCount {
            v.append(Violation("counts-agree", "get_next_key counted \(walkKeys.count), lookup_batch \(batchCount), expected \(wantCount)"))
        }
        if Set(walkKeys).count != walkKeys.count {
            v.append(Violation("counts-agree", "get_next_key visited a key twice"))
        }
        var diffs: [String] = []
        for (k, want) in expected.sorted(by: { $0.key < $1.key }) where diffs.count < 6 {
            guard let got = content[k] else { diffs.append("key \(k) missing"); continue }
            if got != want { diffs.append("key \(k) = 0x\(String(got, radix: 16)) want 0x\(String(want, radix: 16))") }
        }
        for (k, got) in content.sorted(by: { $0.key < $1.key }) where expected[k] == nil && diffs.count < 6 {
            if !isArray || got != 0 { diffs.append("key \(k) = 0x\(String(got, radix: 16)) not expected") }
        }
        if !diffs.isEmpty { v.append(Violation("final-content-exact", diffs.joined(separator: "; "))) }
        return v
    }

    /// Each overlap key must have exactly one successful NOEXIST insert (or delete) per round.
    public static func checkWinners(_ wins: [UInt32: Int], keys: [UInt32], what: String) -> [Violation] {
        let bad = keys.filter { wins[$0, default: 0] != 1 }
        guard !bad.isEmpty else { return [] }
        return [Violation("one-winner", "\(what): " + bad.prefix(6).map { "key \($0) won by \(wins[$0, default: 0]) threads" }.joined(separator: ", "))]
    }
}
