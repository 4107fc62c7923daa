import Foundation

/// Bucket key of a finding: equal signatures mean "the same bug".
public enum Signature {
    /// How many meaningful frames per thread go into the hash.
    public static let framesPerThread = 5

    /// 16 lowercase hex chars: FNV-1a 64 of the title plus the top `framesPerThread` frames of
    /// each involved thread. Threads are sorted and de-duplicated, so neither thread order nor
    /// the number of identical threads changes the result. Pass meaningful (non-plumbing) frames.
    public static func compute(title: String, frames: [[String]]) -> String {
        let threads = Set(frames.map { $0.prefix(framesPerThread).joined(separator: "\u{1f}") })
            .filter { !$0.isEmpty }.sorted()
        var text = title
        for t in threads { text += "\u{1e}" + t }
        return hex(fnv1a64(Array(text.utf8)))
    }

    /// FNV-1a, 64-bit: small, stable across runs and platforms (unlike Hasher).
    public static func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
