import XCTest
@testable import Nightly
import Reports

/// Merging shard run directories: sums, merged distributions and buckets, and the refusals.
final class MergeTests: XCTestCase {
    var root = ""
    override func setUp() {
        root = NSTemporaryDirectory() + "nightly-merge-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    func bucket(_ sig: String, count: Int, at t: Double) -> FindingBucket {
        FindingBucket(signature: sig, type: .failure, title: "t \(sig)", scenario: "map-parallel", check: "exact",
                      count: count, firstSeen: Date(timeIntervalSince1970: t), lastSeen: Date(timeIntervalSince1970: t + 1),
                      dumps: ["dump \(sig) \(t)"], ops: ["map_update"])
    }

    func shard(_ i: Int, of n: Int, campaign: String = "c", buckets: [FindingBucket], updateNs: UInt64) throws -> String {
        var s = RegressionTests.summary(opsPerSecond: 100 * Double(i), lookupNs: updateNs, campaign: campaign)
        s.scenarios[0].checks = [CheckSummary(name: "exact", passed: UInt64(10 * i), failed: UInt64(buckets.count))]
        s.buckets = buckets
        s.exitCode = buckets.isEmpty ? 0 : 1
        s.shard = ShardInfo(index: i, count: n, firstSlot: (i - 1) * ShardSpec.slotSpan, slotSpan: ShardSpec.slotSpan,
                            workerSeeds: [UInt64(i)])
        let dir = root + "/s\(i)-\(campaign)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try ReportJSON.encode(s).write(to: URL(fileURLWithPath: dir + "/summary.json"))
        try "log of shard \(i)\n".write(toFile: dir + "/run.log", atomically: true, encoding: .utf8)
        return dir
    }

    func testShardsMergeIntoOneRunDirectory() throws {
        let a = try shard(1, of: 2, buckets: [bucket("aa", count: 2, at: 10), bucket("bb", count: 1, at: 20)], updateNs: 5000)
        let b = try shard(2, of: 2, buckets: [bucket("aa", count: 3, at: 5)], updateNs: 50_000)
        let parts = try Merge.load([a, b])
        let out = try Merge.write(parts, root: root + "/merged")
        let s = try Regression.loadRun(out.path)
        XCTAssertEqual(s.scenarios.count, 1)
        XCTAssertEqual(s.scenarios[0].opsPerSecond, 300)
        XCTAssertEqual(s.scenarios[0].checks.map(\.passed), [30])
        XCTAssertEqual(s.scenarios[0].latency?.first?.count, 2000)
        // The merged p99 comes from the merged distribution: half the ops at ~50 us.
        XCTAssertGreaterThanOrEqual(s.scenarios[0].latency?.first?.p99Us ?? 0, 50)
        XCTAssertEqual(s.buckets.map(\.signature), ["aa", "bb"])
        XCTAssertEqual(s.buckets.map(\.count), [5, 1])
        XCTAssertEqual(s.buckets[0].firstSeen, Date(timeIntervalSince1970: 5))
        XCTAssertEqual(s.buckets[0].dumps, ["dump aa 10.0", "dump aa 5.0"])
        XCTAssertEqual(s.shards?.map(\.index), [1, 2])
        XCTAssertEqual(s.exitCode, 1)
        for f in ["junit.xml", "index.html", "run.log", "findings/aa/dump-2.txt", "findings/bb/finding.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.path + "/" + f), f)
        }
        let junit = try String(contentsOfFile: out.path + "/junit.xml", encoding: .utf8)
        XCTAssertTrue(junit.contains("<testsuite name=\"map-parallel [shard 1/2]\" package=\"bpfstress\" id=\"0\""))
        XCTAssertTrue(junit.contains("<testsuite name=\"map-parallel [shard 2/2]\" package=\"bpfstress\" id=\"1\""))
        let log = try String(contentsOfFile: out.path + "/run.log", encoding: .utf8)
        XCTAssertEqual(log, "=== shard 1/2: \(a) ===\nlog of shard 1\n\n=== shard 2/2: \(b) ===\nlog of shard 2\n")
    }

    func testMergeRefusesMixedCampaignsAndShardCounts() throws {
        let a = try shard(1, of: 2, buckets: [], updateNs: 1000)
        let other = try shard(2, of: 2, campaign: "other", buckets: [], updateNs: 1000)
        XCTAssertThrowsError(try Merge.load([a, other])) {
            XCTAssertEqual("\($0)", "merge: the runs are of different campaigns (c, other)")
        }
        let three = try shard(3, of: 3, buckets: [], updateNs: 1000)
        XCTAssertThrowsError(try Merge.load([a, three])) {
            XCTAssertEqual("\($0)", "merge: the runs are shards of different shard counts")
        }
        XCTAssertThrowsError(try Merge.load([])) { XCTAssertEqual("\($0)", "merge needs at least one run directory") }
    }

    func testShardSpecParsing() throws {
        XCTAssertEqual(try ShardSpec.parse("2/4"), try ShardSpec(index: 2, count: 4))
        XCTAssertEqual(try ShardSpec.parse("2/4").firstSlot, ShardSpec.slotSpan)
        for (bad, msg) in [("4", "--shard takes I/N, e.g. 1/4 (got '4')"), ("a/b", "--shard takes I/N, e.g. 1/4 (got 'a/b')"),
                           ("0/4", "--shard: I must be 1...4 (got 0)"), ("5/4", "--shard: I must be 1...4 (got 5)"),
                           ("1/0", "--shard: N must be 1...1024 (got 0)"), ("1/2/3", "--shard takes I/N, e.g. 1/4 (got '1/2/3')")] {
            XCTAssertThrowsError(try ShardSpec.parse(bad)) { XCTAssertEqual("\($0)", msg) }
        }
        XCTAssertThrowsError(try ShardSpec(index: 1, count: 2).check(slotsNeeded: ShardSpec.slotSpan + 1))
    }
}
