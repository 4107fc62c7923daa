import Foundation
import XCTest
@testable import Reports

final class AtomicFileTests: XCTestCase {
    func testWriteReplacesContentExactlyAndLeavesNoTemp() throws {
        let dir = try makeTempDir("atomic")
        defer { removeTree(dir) }
        let path = dir + "/report.json"
        try AtomicFile.write("old contents that are longer than the new ones\n", to: path)
        let payload = Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try AtomicFile.write(payload, to: path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), payload)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["report.json"])
        XCTAssertEqual(AtomicFile.tempPath(for: path), dir + "/.report.json.tmp.\(getpid())")
    }

    func testTextWriteIsUTF8() throws {
        let dir = try makeTempDir("atomic-text")
        defer { removeTree(dir) }
        try AtomicFile.write("héllo 🔥\n", to: dir + "/t.txt")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: dir + "/t.txt")), Data("héllo 🔥\n".utf8))
    }

    func testFailureThrowsCallAndErrnoAndLeavesNoTemp() throws {
        let dir = try makeTempDir("atomic-fail")
        defer { removeTree(dir) }
        // rename onto a non-empty directory fails; the temp file must be cleaned up.
        let target = dir + "/occupied"
        try FileManager.default.createDirectory(atPath: target + "/child", withIntermediateDirectories: true)
        XCTAssertThrowsError(try AtomicFile.write("x", to: target)) { e in
            let io = e as? ReportIOError
            XCTAssertEqual(io?.call, "rename")
            XCTAssertTrue(io?.errno == EISDIR || io?.errno == ENOTEMPTY, "\(String(describing: io))")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["occupied"])

        XCTAssertThrowsError(try AtomicFile.write("x", to: dir + "/missing/sub/file")) { e in
            XCTAssertEqual((e as? ReportIOError)?.call, "open")
            XCTAssertEqual((e as? ReportIOError)?.errno, ENOENT)
        }
    }
}

final class BucketStoreTests: XCTestCase {
    func finding(_ sig: String, _ n: Int, op: String? = nil, check: String = "counter-exact") -> Finding {
        Finding(type: .failure, title: "title-\(sig)", signature: sig, scenario: "percpu-batch", check: check,
                worker: n % 2, op: op, time: Date(timeIntervalSince1970: Double(1000 + n)), dump: "dump \(sig) #\(n)")
    }

    func testCountsFirstThreeDumpsAndOrder() {
        let store = BucketStore()
        XCTAssertTrue(store.isEmpty)
        store.add(finding("bb", 5, op: "lookup_batch"))
        store.add(finding("aa", 1))
        for n in 6..<12 { store.add(finding("bb", n, op: n % 2 == 0 ? "update" : "lookup_batch")) }
        store.add(finding("aa", 0)) // earlier time than the first aa
        XCTAssertFalse(store.isEmpty)
        let b = store.buckets
        XCTAssertEqual(b.map(\.signature), ["bb", "aa"])
        XCTAssertEqual(b[0].count, 7)
        XCTAssertEqual(b[0].dumps, ["dump bb #5", "dump bb #6", "dump bb #7"])
        XCTAssertEqual(b[0].ops, ["lookup_batch", "update"])
        XCTAssertEqual(b[0].firstSeen, Date(timeIntervalSince1970: 1005))
        XCTAssertEqual(b[0].lastSeen, Date(timeIntervalSince1970: 1011))
        XCTAssertEqual(b[1].count, 2)
        XCTAssertNil(b[1].ops)
        XCTAssertEqual(b[1].firstSeen, Date(timeIntervalSince1970: 1000))
        XCTAssertEqual(b[1].lastSeen, Date(timeIntervalSince1970: 1001))
        XCTAssertEqual(b[1].title, "title-aa")
        XCTAssertEqual(b[1].check, "counter-exact")
        XCTAssertEqual(b[1].scenario, "percpu-batch")
    }

    func testConcurrentAddsAreAllCounted() {
        let store = BucketStore()
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            for n in 0..<500 { store.add(finding(t % 2 == 0 ? "even" : "odd", n)) }
        }
        XCTAssertEqual(store.buckets.map(\.count).reduce(0, +), 4000)
        XCTAssertEqual(Set(store.buckets.map(\.signature)), ["even", "odd"])
        XCTAssertTrue(store.buckets.allSatisfy { $0.dumps.count == 3 })
    }
}

final class RunDirectoryTests: XCTestCase {
    let start = Date(timeIntervalSince1970: 1_795_383_005.9) // 2026-11-22T21:30:05Z

    func testNamingCollisionSuffixAndLatestLink() throws {
        let root = try makeTempDir("rundir") + "/reports/nested"
        defer { removeTree(URL(fileURLWithPath: root).deletingLastPathComponent().deletingLastPathComponent().path) }
        let a = try RunDirectory.create(root: root, startedAt: start, seed: 42)
        XCTAssertEqual(a.path, root + "/20261122T213005Z-42")
        let b = try RunDirectory.create(root: root, startedAt: start, seed: 42)
        XCTAssertEqual(b.path, root + "/20261122T213005Z-42-2")
        let c = try RunDirectory.create(root: root, startedAt: start, seed: 42)
        XCTAssertEqual(c.path, root + "/20261122T213005Z-42-3")
        var isDir: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: c.path, isDirectory: &isDir) && isDir.boolValue)

        try a.updateLatestLink()
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/latest"), "20261122T213005Z-42")
        try b.write("junit.xml", "<x/>")
        try b.updateLatestLink()
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/latest"), "20261122T213005Z-42-2")
        XCTAssertEqual(try String(contentsOfFile: root + "/latest/junit.xml", encoding: .utf8), "<x/>")
        // No temp link left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root).sorted(),
                       ["20261122T213005Z-42", "20261122T213005Z-42-2", "20261122T213005Z-42-3", "latest"])
    }

    func testWriteFindingsLayoutAndJSON() throws {
        let root = try makeTempDir("findings")
        defer { removeTree(root) }
        let dir = try RunDirectory.create(root: root, startedAt: start, seed: 7)
        let bucket = FindingBucket(signature: "3fa9c0", type: .hang, title: "hang in bpf_map_update_elem",
                                   scenario: "lock-contention", check: "no-hang", count: 5,
                                   firstSeen: Date(timeIntervalSince1970: 1_795_383_010),
                                   lastSeen: Date(timeIntervalSince1970: 1_795_383_020),
                                   dumps: ["d1", "d2", "d3"], ops: ["update"])
        var odd = bucket
        odd.signature = "../evil"
        odd.dumps = ["only"]
        odd.ops = nil
        try dir.writeFindings([bucket, odd])
        let f = dir.path + "/findings/3fa9c0"
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: f).sorted(),
                       ["dump-1.txt", "dump-2.txt", "dump-3.txt", "finding.json"])
        XCTAssertEqual(try String(contentsOfFile: f + "/dump-2.txt", encoding: .utf8), "d2")
        let decoded = try ReportJSON.decoder().decode(FindingBucket.self,
                                                      from: Data(contentsOf: URL(fileURLWithPath: f + "/finding.json")))
        XCTAssertEqual(decoded, bucket)
        let json = try String(contentsOfFile: f + "/finding.json", encoding: .utf8)
        XCTAssertTrue(json.contains(#""firstSeen" : "2026-11-22T21:30:10Z""#), json)
        XCTAssertTrue(json.contains(#""type" : "hang""#), json)
        // A hostile signature stays inside findings/.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/findings").sorted(),
                       ["3fa9c0", "___evil"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/findings/___evil").sorted(),
                       ["dump-1.txt", "finding.json"])
    }

    func testRunLogWritesTimestampedLinesToTempThenRenames() throws {
        let root = try makeTempDir("runlog")
        defer { removeTree(root) }
        let path = root + "/run.log"
        let log = try RunLog(path: path)
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for n in 0..<50 { log.line("thread \(t) line \(n)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: path + ".tmp"))
        try log.finish()
        log.line("after finish is ignored")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"))
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 200)
        let re = try NSRegularExpression(pattern: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z thread [0-3] line \d+$"#)
        for l in lines {
            let s = String(l)
            XCTAssertNotNil(re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)), s)
        }
        XCTAssertEqual(Set(lines.map { $0.split(separator: " ", maxSplits: 1)[1] }).count, 200)
    }

    func testRunSummaryJSONRoundTripSortedKeys() throws {
        let s = RunSummary(version: "0.1.0", campaign: "smoke", seed: 42, runtime: "linux-bpf", kernelRelease: "6.18.0",
                           hostname: "vm", startedAt: Date(timeIntervalSince1970: 1_795_383_005),
                           endedAt: Date(timeIntervalSince1970: 1_795_383_025), durationSeconds: 20, workers: 2,
                           threads: 2, exitCode: 0,
                           scenarios: [ScenarioSummary(name: "a", workers: 2, threads: 2, ops: 10, opsPerSecond: .nan,
                                                       opsByKind: ["z": 1, "a": 9], checks: [CheckSummary(name: "c", passed: 1, failed: 0)])],
                           workerDeaths: [WorkerDeath(slot: 1, pid: 99, scenario: "a", reason: "SIGSEGV",
                                                      at: Date(timeIntervalSince1970: 1_795_383_006))])
        let json = try ReportJSON.string(s)
        XCTAssertTrue(json.contains(#""tool" : "bpfstress""#))
        XCTAssertTrue(json.contains(#""startedAt" : "2026-11-22T21:30:05Z""#))
        XCTAssertTrue(json.contains(#""opsPerSecond" : "nan""#))
        let keys = ["buckets", "campaign", "durationSeconds", "endedAt", "exitCode", "hostname", "kernelRelease",
                    "runtime", "scenarios", "seed", "startedAt", "threads", "tool", "version", "workerDeaths", "workers"]
        let positions = keys.map { json.range(of: "\n  \"\($0)\"")!.lowerBound }
        XCTAssertEqual(positions, positions.sorted())
        let back = try ReportJSON.decoder().decode(RunSummary.self, from: Data(json.utf8))
        XCTAssertTrue(back.scenarios[0].opsPerSecond.isNaN)
        var cmp = back
        cmp.scenarios[0].opsPerSecond = s.scenarios[0].opsPerSecond
        var orig = s
        orig.scenarios[0].opsPerSecond = 0; cmp.scenarios[0].opsPerSecond = 0
        XCTAssertEqual(cmp, orig)
    }
}
