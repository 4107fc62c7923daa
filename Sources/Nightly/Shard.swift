// Shard derivation for `run --shard I/N`: a disjoint worker-slot range, hence disjoint worker seeds.
import Foundation

/// Shard I of N (1-based). Every shard runs the whole campaign with the campaign seed, but its
/// workers take slots [firstSlot, firstSlot + slotSpan), and a worker's seed is
/// `seed + slot * 0x9E3779B9` (an odd multiplier, so distinct slots give distinct seeds): N
/// machines of a CI matrix explore N disjoint parts of one night's seed space.
public struct ShardSpec: Sendable, Equatable {
    public static let slotSpan = 65_536
    public static let maxShards = 1024
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, count <= Self.maxShards else {
            throw NightlyError("--shard: N must be 1...\(Self.maxShards) (got \(count))")
        }
        guard index >= 1, index <= count else { throw NightlyError("--shard: I must be 1...\(count) (got \(index))") }
        self.index = index
        self.count = count
    }

    /// Parses `I/N`, e.g. `2/4`.
    public static func parse(_ text: String) throws -> ShardSpec {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw NightlyError("--shard takes I/N, e.g. 1/4 (got '\(text)')")
        }
        return try ShardSpec(index: i, count: n)
    }

    public var firstSlot: Int { (index - 1) * Self.slotSpan }

    /// Fails when a run would need more worker slots (workers plus restarts) than a shard owns.
    public func check(slotsNeeded: Int) throws {
        guard slotsNeeded <= Self.slotSpan else {
            throw NightlyError("--shard: the campaign needs \(slotsNeeded) worker slots, a shard has \(Self.slotSpan)")
        }
    }
}
