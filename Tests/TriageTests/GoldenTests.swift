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

    /// The families of the held-out measurement (issue 14), from a report's type and title.
    static func family(_ e: Expected) -> String {
        switch e.type {
        case "hang", "lockdep", "warning", "kasan", "kmsan", "kfence", "kcsan": return e.type == "hang" ? "hangs" : e.type
        case "bug": return "BUG"
        case "gpf", "panic", "trap": return "DoS"
        default: return "other"
        }
    }

    /// Title agreement per family over every kernel golden (printed for the README; a golden that
    /// disagrees already fails testKernelConsoleGoldenFiles, so this asserts the counts it prints).
    func testTitleAgreementPerFamily() throws {
        var total: [String: Int] = [:], agree: [String: Int] = [:]
        for f in Self.files("kernel") {
            let (expected, raw) = try Self.load(f)
            let got = try Triage.reports(inText: raw, file: f)
            for (i, e) in expected.enumerated() {
                total[Self.family(e), default: 0] += 1
                if i < got.count && got[i].title == e.title { agree[Self.family(e), default: 0] += 1 }
            }
        }
        var table = "| family | agreement |\n|---|---|\n"
        for k in total.keys.sorted() { table += "| \(k) | \(agree[k] ?? 0) of \(total[k]!) |\n" }
        print(table)
        for k in ["hangs", "lockdep", "warning", "BUG", "DoS", "kasan", "kmsan", "kfence", "kcsan", "other"] {
            XCTAssertNotNil(total[k], "no golden report of family \(k)")
            XCTAssertEqual(agree[k], total[k], k)
        }
        XCTAssertGreaterThanOrEqual(total["hangs"] ?? 0, 25)
    }

    func testUserSpaceGoldenFiles() throws {
        let files = Self.files("userspace")
        XCTAssertGreaterThanOrEqual(files.count, 6)
        for f in files { XCTAssertEqual(try check(f).count, 1, f) }
    }

    func testWinDbgGoldenFiles() throws {
        let files = Self.files("windbg")
        XCTAssertGreaterThanOrEqual(files.count, 6)
        for f in files { XCTAssertEqual(try check(f).count, 1, f) }
    }

    /// One bug, two dumps (other addresses, pid and tids, thread order, `~*kn` instead of `~*k`): one bucket;
    /// the same deadlock seen in kernel mode is the same title.
    func testWinDbgBucketsAreStableAcrossDumpsOfOneBug() throws {
        let dir = Self.goldenDir + "/windbg/"
        func rep(_ name: String) throws -> TriageReport { try Triage.reports(inText: try Self.load(dir + name).raw, file: name)[0] }
        let a = try rep("user-epoch-deadlock-k.txt"), b = try rep("user-epoch-deadlock-kn-other-run.txt")
        XCTAssertEqual(a.signature, b.signature)
        XCTAssertEqual(a.title, try rep("kernel-epoch-deadlock-process-0-7.txt").title)
        XCTAssertNotEqual(a.signature, try rep("user-critsec-deadlock-kb.txt").signature)
        XCTAssertNotEqual(a.signature, try rep("analyze-v-access-violation-memcpy.txt").signature)
    }

    /// Every deadlock golden (gdb, eu-stack, bpfstress, WinDbg) keeps its title and bucket when its threads
    /// come in the other order.
    func testDeadlockTitlesAreStableUnderThreadReordering() throws {
        let deadlocks = (Self.files("userspace") + Self.files("windbg")).filter { $0.contains("deadlock") }
        XCTAssertGreaterThanOrEqual(deadlocks.count, 8)
        for f in deadlocks {
            let raw = try Self.load(f).raw
            let a = try Triage.reports(inText: raw, file: f)[0]
            let b = try Triage.reports(inText: Self.reversedThreads(raw), file: f)[0]
            XCTAssertTrue(a.title.hasPrefix("deadlock in "), f)
            XCTAssertEqual(a.title, b.title, f)
            XCTAssertEqual(a.signature, b.signature, f)
        }
    }

    /// The dump with its thread blocks in reverse order (a block starts at a thread header line).
    static func reversedThreads(_ text: String) -> String {
        let header = try! NSRegularExpression(pattern: #"^(Thread \d+ \(|TID \d+:|--- thread \d+ |\s*[.#]?\s*\d+\s+Id: |\s*THREAD [0-9a-f]+\s+Cid|\S+> !thread)"#)
        var blocks: [[Substring]] = [[]]
        for l in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let s = String(l)
            if header.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil { blocks.append([]) }
            blocks[blocks.count - 1].append(l)
        }
        let head = blocks.removeFirst()
        return (head + blocks.reversed().flatMap { $0 }).joined(separator: "\n")
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
