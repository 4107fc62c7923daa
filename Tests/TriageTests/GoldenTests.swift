import Foundation
import Reports
import Triage
import XCTest

/// Golden files: each holds its expected reports (TITLE, TYPE, FRAME, optional CORRUPTED; one block per
/// report, in order; or `REPORTS: 0`) above a blank line and the raw log/dump.
final class GoldenTests: XCTestCase {
    static let goldenDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden").path

    struct Expected: Equatable, CustomStringConvertible {
        var title = "", type = "", frame = "", corrupted = false
        var description: String { "\(type) | \(title) | \(frame)\(corrupted ? " | corrupted" : "")" }
    }

    static func load(_ path: String) throws -> (expected: [Expected], raw: String) {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let split = text.range(of: "\n\n") else { throw NSError(domain: "golden: no blank line in \(path)", code: 1) }
        var expected: [Expected] = []
        for line in text[..<split.lowerBound].split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "TITLE": expected.append(Expected(title: parts[1]))
            case "TYPE": expected[expected.count - 1].type = parts[1]
            case "FRAME": expected[expected.count - 1].frame = parts[1]
            case "CORRUPTED": expected[expected.count - 1].corrupted = parts[1] == "true"
            default: break
            }
        }
        return (expected, String(text[split.upperBound...]))
    }

    static func files(_ sub: String) -> [String] {
        let dir = goldenDir + "/" + sub
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasSuffix(".txt") }.sorted().map { dir + "/" + $0 }
    }

    func check(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> [Expected] {
        let (expected, raw) = try Self.load(path)
        let got = try Triage.reports(inText: raw, file: path).map {
            Expected(title: $0.title, type: $0.type, frame: $0.frame, corrupted: $0.corrupted)
        }
        XCTAssertEqual(got, expected, (path as NSString).lastPathComponent, file: file, line: line)
        return expected
    }

    func testKernelConsoleGoldenFiles() throws {
        let files = Self.files("kernel")
        var reports = 0
        var types: [String: Int] = [:]
        for f in files {
            let e = try check(f)
            reports += e.count
            for x in e { types[x.type, default: 0] += 1 }
            let clean = try String(contentsOfFile: f, encoding: .utf8).hasPrefix("REPORTS: 0\n")
            if clean { XCTAssertEqual(e, [], f) } else { XCTAssertFalse(e.isEmpty, f) }
        }
        XCTAssertGreaterThanOrEqual(reports, 90, "golden kernel reports")
        for t in ["hang", "lockdep", "warning", "bug", "gpf", "kasan", "other"] {
            XCTAssertGreaterThanOrEqual(types[t] ?? 0, 4, "golden reports of type \(t)")
        }
        for t in ["panic", "trap", "kmsan", "kfence", "kcsan", "ubsan", "netdev"] {
            XCTAssertGreaterThanOrEqual(types[t] ?? 0, 1, "golden reports of type \(t)")
        }
    }

    func testUserSpaceGoldenFiles() throws {
        let files = Self.files("userspace")
        XCTAssertGreaterThanOrEqual(files.count, 6)
        for f in files { XCTAssertEqual(try check(f).count, 1, f) }
    }

    func testEveryKernelGoldenHasTimestampsOrDecorationsStripped() throws {
        // The golden logs carry decorations; titles never do.
        for f in Self.files("kernel") {
            for r in try Triage.reports(inText: try Self.load(f).raw, file: f) {
                XCTAssertFalse(r.title.contains("0x"), r.title)
                XCTAssertNil(r.title.range(of: #"\[\s*[0-9TC]"#, options: .regularExpression), r.title)
                XCTAssertNil(r.title.range(of: #"\d{3,}"#, options: .regularExpression), r.title)
            }
        }
    }
}
