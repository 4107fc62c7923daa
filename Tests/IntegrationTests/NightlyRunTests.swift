import Foundation
import XCTest

/// Real campaigns for issue 16: latency percentiles, baselines, shards and merges, trends.
final class NightlyRunTests: XCTestCase {
    func library(_ name: String) throws -> String {
        let p = URL(fileURLWithPath: Harness.binary).deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.fileExists(atPath: p) else { throw XCTSkip("\(p) not built: run `swift build` first") }
        return p
    }

    static func scenario(_ summary: [String: Any], _ name: String) -> [String: Any]? {
        (summary["scenarios"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    static func latency(_ scenario: [String: Any], _ kind: String) -> [String: Any]? {
        (scenario["latency"] as? [[String: Any]])?.first { $0["kind"] as? String == kind }
    }

    /// A plugin sleeps 2 ms before every BPF_MAP_LOOKUP_ELEM: map_lookup's percentiles are all at
    /// least 2 ms (a sleep never returns early, and a reported percentile is the top of its
    /// bucket), while updates, which do not sleep, stay below them. JUnit and the page carry them.
    func testInjectedLookupLatencyShowsInThePercentiles() throws {
        let plugin = try library("libbpfstress-sleep-plugin.so")
        let dir = Harness.tempDir("latency")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(["run", "--runtime", "plugin:\(plugin):1,2000", "--scenario", "map-parallel",
                                 "--duration", "4s", "--workers", "1", "--threads", "2", "--seed", "11",
                                 "--report-dir", dir, "--quiet"], timeout: 90)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let s = try Harness.json(dir + "/latest/summary.json")
        let sc = try XCTUnwrap(Self.scenario(s, "map-parallel"))
        let lookup = try XCTUnwrap(Self.latency(sc, "map_lookup"), "\(sc)")
        let update = try XCTUnwrap(Self.latency(sc, "map_update"), "\(sc)")
        XCTAssertEqual(lookup["sampled"] as? Bool, true)
        XCTAssertGreaterThan(lookup["count"] as? Int ?? 0, 0)
        for key in ["p50Us", "p90Us", "p99Us", "p999Us", "maxUs"] {
            XCTAssertGreaterThanOrEqual(lookup[key] as? Double ?? 0, 2000, key)
        }
        let p = ["p50Us", "p90Us", "p99Us", "p999Us", "maxUs"].map { lookup[$0] as? Double ?? 0 }
        XCTAssertEqual(p, p.sorted(), "percentiles are monotonic")
        XCTAssertLessThan(update["p50Us"] as? Double ?? .infinity, lookup["p50Us"] as? Double ?? 0)
        let junit = try String(contentsOfFile: dir + "/latest/junit.xml", encoding: .utf8)
        let prop = try XCTUnwrap(junit.range(of: "name=\"latency.map_lookup.p99_us\" value=\""))
        let value = Double(junit[prop.upperBound...].prefix { $0 != "\"" }) ?? 0
        XCTAssertGreaterThanOrEqual(value, 2000)
        let html = try String(contentsOfFile: dir + "/latest/index.html", encoding: .utf8)
        XCTAssertTrue(html.contains("<svg class=\"latency-plot\" id=\"latency-map_lookup\""))
        XCTAssertTrue(html.contains("<svg class=\"latency-plot\" id=\"latency-map_update\""))
    }
}
