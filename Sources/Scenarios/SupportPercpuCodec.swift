// The per-CPU value layout (round_up(value_size, 8) x possible CPUs) and its value codec.
import Basics
import BPFKit
import Foundation
import StressCore

/// Sizes of one per-CPU entry in user buffers: each CPU's slot is round_up(value_size, 8).
public struct PercpuLayout: Equatable, Sendable, CustomStringConvertible {
    public let valueSize: Int
    public let cpus: Int
    public init(valueSize: Int, cpus: Int) { self.valueSize = valueSize; self.cpus = cpus }
    public var slotStride: Int { (valueSize + 7) & ~7 }
    /// Bytes of one entry in a batch values buffer (the correct size).
    public var entryBytes: Int { slotStride * cpus }
    /// Bytes of one packed entry in MapContent.
    public var packedBytes: Int { valueSize * cpus }

    /// Buffer layout (padded slots) -> packed meaningful bytes.
    public func pack(_ entry: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(packedBytes)
        let b = entry.startIndex
        for c in 0..<cpus { out += entry[(b + c * slotStride)..<(b + c * slotStride + valueSize)] }
        return out
    }

    /// Packed -> buffer layout, zero padding.
    public func unpack(_ packed: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: entryBytes)
        for c in 0..<cpus { for i in 0..<valueSize { out[c * slotStride + i] = packed[c * valueSize + i] } }
        return out
    }

    public var description: String { "value_size=\(valueSize) ncpus=\(cpus) stride=\(entryBytes)" }
}

/// Per-CPU values that encode (key, cpu, generation), checkable slot by slot. Byte 0 of
/// every 8-byte word holds the generation xor a key/cpu/word hash; the other bytes are a
/// hash of (key, cpu, generation, index). The kernel copies values in 8-byte words, so a
/// word is the unit that can legally tear when nothing locks the value (arrays).
public enum PercpuValueCodec {
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func genMask(key: UInt32, cpu: Int, word: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: mix(UInt64(key) << 24 ^ UInt64(cpu) << 12 ^ UInt64(word) ^ 0x5157))
    }

    static func fillByte(key: UInt32, cpu: Int, gen: UInt8, index: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: mix(UInt64(key) << 32 ^ UInt64(cpu) << 20 ^ UInt64(gen) << 12 ^ UInt64(index)))
    }

    /// One CPU's slot: `valueSize` bytes.
    public static func slot(key: UInt32, cpu: Int, gen: UInt8, valueSize: Int) -> [UInt8] {
        (0..<valueSize).map { i in
            i % 8 == 0 ? gen ^ genMask(key: key, cpu: cpu, word: i / 8) : fillByte(key: key, cpu: cpu, gen: gen, index: i)
        }
    }

    /// A whole packed entry: every CPU's slot with the same generation.
    public static func entry(key: UInt32, gen: UInt8, layout: PercpuLayout) -> [UInt8] {
        (0..<layout.cpus).flatMap { slot(key: key, cpu: $0, gen: gen, valueSize: layout.valueSize) }
    }

    /// Generation of each 8-byte word of a slot, nil for a word whose bytes match no generation.
    public static func wordGenerations(key: UInt32, cpu: Int, slot: ArraySlice<UInt8>) -> [UInt8?] {
        let b = slot.startIndex
        return stride(from: 0, to: slot.count, by: 8).map { off in
            let gen = slot[b + off] ^ genMask(key: key, cpu: cpu, word: off / 8)
            for i in (off + 1)..<min(off + 8, slot.count) where slot[b + i] != fillByte(key: key, cpu: cpu, gen: gen, index: i) {
                return nil
            }
            return gen
        }
    }

    /// Checks one packed entry. `tornAllowed`: words may come from different generations
    /// (values copied without a lock); otherwise every word of every CPU must agree.
    /// Returns a description of the first problem, or nil.
    /// An array element nobody has written yet reads as zeros: with `tornAllowed` (arrays)
    /// an all-zero word is accepted as that initial state.
    public static func verify(key: UInt32, packed: [UInt8], layout: PercpuLayout, tornAllowed: Bool) -> String? {
        guard packed.count == layout.packedBytes else { return "entry of key \(key) has \(packed.count) bytes, want \(layout.packedBytes)" }
        var gens = Set<UInt8>()
        for c in 0..<layout.cpus {
            let s = packed[(c * layout.valueSize)..<((c + 1) * layout.valueSize)]
            let words = wordGenerations(key: key, cpu: c, slot: s)
            for (w, g) in words.enumerated() {
                if let g { gens.insert(g); continue }
                let lo = s.startIndex + 8 * w
                if tornAllowed && s[lo..<min(lo + 8, s.endIndex)].allSatisfy({ $0 == 0 }) { continue }
                return "key \(key) cpu \(c) word \(w) does not decode (bytes \(hex(Array(s))))"
            }
        }
        if !tornAllowed && gens.count > 1 {
            return "key \(key) mixes generations \(gens.sorted()) across CPUs/words"
        }
        return nil
    }
}

func hex(_ b: [UInt8], limit: Int = 32) -> String {
    b.prefix(limit).map { String(format: "%02x", $0) }.joined() + (b.count > limit ? "…" : "")
}

/// Compares two map contents; empty when equal, else a short diff.
