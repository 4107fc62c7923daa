import Foundation

/// Latency of one op kind in one scenario, as summary.json holds it (microseconds). `buckets`
/// keeps the whole distribution (Nightly.Histogram's sparse encoding) so that baselines,
/// trends and shard merges work on distributions, not on percentiles that cannot be merged.
public struct LatencySummary: Codable, Sendable, Equatable {
    public var kind: String
    /// True when the kind's ops were timed on a sample (element ops: 1 op in 16 on average).
    public var sampled: Bool
    /// Timed ops (the sample, when sampled).
    public var count: UInt64
    public var meanUs: Double
    public var p50Us: Double
    public var p90Us: Double
    public var p99Us: Double
    public var p999Us: Double
    public var maxUs: Double
    /// `index:count` pairs of the non-empty buckets, comma-separated.
    public var buckets: String

    public init(kind: String, sampled: Bool, count: UInt64, meanUs: Double, p50Us: Double, p90Us: Double,
                p99Us: Double, p999Us: Double, maxUs: Double, buckets: String) {
        self.kind = kind; self.sampled = sampled; self.count = count; self.meanUs = meanUs; self.p50Us = p50Us
        self.p90Us = p90Us; self.p99Us = p99Us; self.p999Us = p999Us; self.maxUs = maxUs; self.buckets = buckets
    }
}

/// Which part of a sharded campaign a run was (`run --shard I/N`), and the worker seeds it used.
public struct ShardInfo: Codable, Sendable, Equatable {
    /// 1-based.
    public var index: Int
    public var count: Int
    /// Worker slots of this shard are [firstSlot, firstSlot + slotSpan).
    public var firstSlot: Int
    public var slotSpan: Int
    /// Seeds of the workers this shard actually spawned.
    public var workerSeeds: [UInt64]

    public init(index: Int, count: Int, firstSlot: Int, slotSpan: Int, workerSeeds: [UInt64] = []) {
        self.index = index; self.count = count; self.firstSlot = firstSlot; self.slotSpan = slotSpan
        self.workerSeeds = workerSeeds
    }
}
