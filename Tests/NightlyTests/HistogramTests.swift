import CBPFStress
import XCTest
@testable import Nightly
import Reports

final class HistogramTests: XCTestCase {
    /// The Swift bucket math is the C one: every boundary and random values agree, and each
    /// value lies in [lowerBound, upperBound) of its bucket, which is at most 1/64 of it wide.
    func testBucketIndexMatchesTheCSideAndBoundsHoldTheValue() {
        var values: [UInt64] = Array(0...300)
        for e in 7..<40 { let p = UInt64(1) << UInt64(e); values += [p - 1, p, p + 1] }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 { values.append(UInt64.random(in: 0...(UInt64(1) << 38), using: &rng)) }
        for v in values {
            let i = Histogram.index(of: v)
            XCTAssertEqual(i, Int(bpfs_hist_index(v)), "value \(v)")
            guard v < UInt64(1) << 37 else { XCTAssertEqual(i, Histogram.bucketCount - 1); continue }
            XCTAssertLessThanOrEqual(Histogram.lowerBound(i), v)
            XCTAssertGreaterThan(Histogram.upperBound(i), v)
            let width = Histogram.upperBound(i) - Histogram.lowerBound(i)
            if v >= 128 { XCTAssertLessThanOrEqual(Double(width) / Double(v), 1.0 / 64, "value \(v)") }
        }
        XCTAssertEqual(Int(BPFS_HIST_BUCKETS), Histogram.bucketCount)
        XCTAssertEqual(Histogram.upperBound(Histogram.bucketCount - 1), UInt64(1) << 37)
        // Contiguous buckets: no gap, no overlap.
        for i in 1..<Histogram.bucketCount { XCTAssertEqual(Histogram.lowerBound(i), Histogram.upperBound(i - 1)) }
    }

    /// Percentiles of a known distribution: 1..1000 us, one each.
    func testPercentilesOfAKnownDistribution() {
        var h = Histogram()
        for us in 1...1000 { h.record(UInt64(us) * 1000) }
        XCTAssertEqual(h.count, 1000)
        for (p, exact) in [(50.0, 500_000.0), (90, 900_000), (99, 990_000), (99.9, 999_000)] {
            let v = Double(h.percentile(p))
            XCTAssertGreaterThanOrEqual(v, exact, "p\(p)")
            XCTAssertLessThanOrEqual(v, exact * (1 + 1.0 / 64), "p\(p)")
        }
        XCTAssertEqual(h.percentile(100), 1_000_000)
        XCTAssertEqual(h.maxNs, 1_000_000)
        XCTAssertEqual(h.meanNs, 500_500, accuracy: 0.001)
        XCTAssertEqual(Histogram().percentile(99), 0)
    }

    /// Merging is addition, the encoding round-trips, and a summary rebuilds its histogram.
    func testMergeEncodeAndSummaryRoundTrip() throws {
        var a = Histogram(), b = Histogram(), all = Histogram()
        for v in stride(from: UInt64(100), to: 5_000_000, by: 997) { a.record(v); all.record(v) }
        for v in stride(from: UInt64(3_000), to: 90_000_000, by: 30_011) { b.record(v); all.record(v) }
        var m = a
        m.merge(b)
        XCTAssertEqual(m, all)
        let back = try XCTUnwrap(Histogram(encoded: m.encoded, maxNs: m.maxNs, sumNs: m.sumNs))
        XCTAssertEqual(back, m)
        let s = m.summary(kind: "map_update")
        XCTAssertEqual(try XCTUnwrap(Histogram(s)).counts, m.counts)
        XCTAssertEqual(s.p99Us, Double(m.percentile(99)) / 1000)
        let merged = [a.summary(kind: "k")].merged(with: [b.summary(kind: "k")])
        XCTAssertEqual(merged.count, 1)
        XCTAssertEqual(merged[0].buckets, all.encoded)
        XCTAssertEqual(merged[0].p99Us, all.summary(kind: "k").p99Us)
        XCTAssertNil(Histogram(encoded: "12:3,zz", maxNs: 0))
        XCTAssertNil(Histogram(encoded: "5000:1", maxNs: 0))
    }

    /// Summaries from before latency histograms (no `latency`, `shard`, `baseline`) still decode.
    func testOldSummaryWithoutLatencyDecodes() throws {
        let old = """
        {"buckets":[],"campaign":"smoke","durationSeconds":1,"endedAt":"2026-11-20T10:00:01Z","exitCode":0,
         "hostname":"h","kernelRelease":"6.18","runtime":"kernel","scenarios":[{"checks":[],"name":"map-parallel",
         "ops":5,"opsByKind":{},"opsPerSecond":5,"status":"ran","threads":1,"toleratedErrnos":{},"workers":1}],
         "parameters":{},"timeline":[],"seed":1,"startedAt":"2026-11-20T10:00:00Z","threads":1,"tool":"bpfstress","version":"0.1.0","workerDeaths":[],"workers":1}
        """
        let s = try ReportJSON.decoder().decode(RunSummary.self, from: Data(old.utf8))
        XCTAssertNil(s.scenarios[0].latency)
        XCTAssertNil(s.shard)
        XCTAssertNil(s.baseline)
    }
}
