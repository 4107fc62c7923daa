// Log-linear latency histogram: bucket math (the Swift twin of bpfs_hist_index), merging, percentiles.
import Foundation
import Reports

/// A latency distribution in the telemetry's buckets: below 128 ns one bucket per ns, then 64
/// linear sub-buckets per power of two up to 2^37 ns (137 s), so a bucket is at most 1/64 of its
/// value wide (about 2 significant digits). Histograms with the same buckets merge by addition,
/// which is why threads, workers, shards and nights can be combined exactly.
public struct Histogram: Sendable, Equatable {
    public static let linear = 128
    public static let sub = 64
    public static let bucketCount = 2048

    public var counts: [UInt64]
    public var count: UInt64 = 0
    public var sumNs: UInt64 = 0
    public var maxNs: UInt64 = 0
    /// The kind's ops were timed on a sample.
    public var sampled = false

    public init() { counts = [UInt64](repeating: 0, count: Self.bucketCount) }

    /// Bucket of a duration (same as bpfs_hist_index in bpfs_telemetry.h).
    public static func index(of ns: UInt64) -> Int {
        if ns < UInt64(linear) { return Int(ns) }
        let e = 63 - ns.leadingZeroBitCount
        let i = linear + (e - 7) * sub + Int((ns >> UInt64(e - 6)) & UInt64(sub - 1))
        return min(i, bucketCount - 1)
    }

    /// Smallest duration in bucket `i`.
    public static func lowerBound(_ i: Int) -> UInt64 {
        if i < linear { return UInt64(i) }
        let g = (i - linear) / sub, s = (i - linear) % sub
        return UInt64(sub + s) << UInt64(g + 1)
    }

    /// One past the largest duration in bucket `i`.
    public static func upperBound(_ i: Int) -> UInt64 {
        if i < linear { return UInt64(i + 1) }
        return lowerBound(i) + (UInt64(1) << UInt64((i - linear) / sub + 1))
    }

    public mutating func record(_ ns: UInt64, times n: UInt64 = 1) {
        counts[Self.index(of: ns)] += n
        count += n
        sumNs &+= ns &* n
        maxNs = max(maxNs, ns)
    }

    public mutating func merge(_ o: Histogram) {
        for i in 0..<Self.bucketCount where o.counts[i] != 0 { counts[i] += o.counts[i] }
        count += o.count
        sumNs &+= o.sumNs
        maxNs = max(maxNs, o.maxNs)
        sampled = sampled || o.sampled
    }

    /// The value at percentile `p` (0...100): the top of the bucket holding the ceil(p% x count)-th
    /// smallest duration, never above the largest one seen. 0 for an empty histogram.
    public func percentile(_ p: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        if p >= 100 { return maxNs }
        let rank = max(1, UInt64((Double(count) * p / 100).rounded(.up)))
        var seen: UInt64 = 0
        for i in 0..<Self.bucketCount where counts[i] != 0 {
            seen += counts[i]
            if seen >= rank { return min(Self.upperBound(i) - 1, maxNs) }
        }
        return maxNs
    }

    public var meanNs: Double { count == 0 ? 0 : Double(sumNs) / Double(count) }

    /// `index:count` of the non-empty buckets, comma-separated (summary.json's `buckets`).
    public var encoded: String {
        counts.indices.filter { counts[$0] != 0 }.map { "\($0):\(counts[$0])" }.joined(separator: ",")
    }

    /// Parses `encoded`; nil when malformed. `maxNs` is not in the encoding: pass it.
    public init?(encoded: String, maxNs: UInt64, sumNs: UInt64 = 0, sampled: Bool = false) {
        self.init()
        for part in encoded.split(separator: ",") {
            let f = part.split(separator: ":")
            guard f.count == 2, let i = Int(f[0]), let n = UInt64(f[1]), i >= 0, i < Self.bucketCount else { return nil }
            counts[i] += n
            count += n
        }
        self.maxNs = maxNs
        self.sumNs = sumNs
        self.sampled = sampled
    }

    /// The distribution behind a summary's latency entry.
    public init?(_ l: LatencySummary) {
        self.init(encoded: l.buckets, maxNs: UInt64((l.maxUs * 1000).rounded()),
                  sumNs: UInt64((l.meanUs * 1000 * Double(l.count)).rounded()), sampled: l.sampled)
    }

    public func summary(kind: String) -> LatencySummary {
        func us(_ ns: UInt64) -> Double { Double(ns) / 1000 }
        return LatencySummary(kind: kind, sampled: sampled, count: count, meanUs: meanNs / 1000,
                              p50Us: us(percentile(50)), p90Us: us(percentile(90)), p99Us: us(percentile(99)),
                              p999Us: us(percentile(99.9)), maxUs: us(maxNs), buckets: encoded)
    }
}

extension Array where Element == LatencySummary {
    /// Merges two latency lists kind by kind (shards of one night, or several runs).
    public func merged(with other: [LatencySummary]) -> [LatencySummary] {
        var byKind: [String: Histogram] = [:]
        for l in self + other {
            guard let h = Histogram(l) else { continue }
            byKind[l.kind, default: Histogram()].merge(h)
        }
        return byKind.keys.sorted().map { byKind[$0]!.summary(kind: $0) }
    }
}
