import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Reports

final class SanitizeTests: XCTestCase {
    func testEveryC0ControlExceptTabNewlineReturnBecomesVisibleEscape() {
        for v in UInt32(0)..<0x20 {
            let s = "a" + String(Character(Unicode.Scalar(v)!)) + "b"
            let out = JUnitWriter.sanitize(s)
            switch v {
            case 0x09, 0x0A, 0x0D:
                XCTAssertEqual(out, s, "control \(v) must be kept")
            default:
                let hex = String(v, radix: 16)
                XCTAssertEqual(out, "a\\x" + (hex.count == 1 ? "0" + hex : hex) + "b", "control \(v)")
            }
        }
        XCTAssertEqual(JUnitWriter.sanitize("\u{1b}[31mred"), "\\x1b[31mred")
        XCTAssertEqual(JUnitWriter.sanitize("\0"), "\\x00")
    }

    func testMarkupCharactersBecomeEntities() {
        XCTAssertEqual(JUnitWriter.sanitize("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&apos;f")
        XCTAssertEqual(JUnitWriter.sanitize("]]>"), "]]&gt;")
    }

    func testDELAndC1AreKeptBecauseXML10AllowsThem() {
        XCTAssertEqual(JUnitWriter.sanitize("x\u{7f}y"), "x\u{7f}y")
        XCTAssertEqual(JUnitWriter.sanitize("\u{85}"), "\u{85}")
    }

    func testNonCharactersFFFEAndFFFF() {
        XCTAssertEqual(JUnitWriter.sanitize("a\u{FFFE}b\u{FFFF}c"), "a\\uFFFEb\\uFFFFc")
        // U+FFFD is a legal character and must pass through.
        XCTAssertEqual(JUnitWriter.sanitize("\u{FFFD}"), "\u{FFFD}")
    }

    func testEmojiAndOtherScalarsPassThrough() {
        let s = "worker 👩‍💻 crashed 🔥 in 函数 ∑ é \u{10FFFD}"
        XCTAssertEqual(JUnitWriter.sanitize(s), s)
        XCTAssertEqual(JUnitWriter.sanitize("🔥\u{1}🔥"), "🔥\\x01🔥")
    }

    func testLossilyDecodedLoneSurrogateBytesBecomeReplacementCharacter() {
        // CESU-style encoded lone surrogate D800 followed by invalid byte; lossy decoding yields U+FFFD.
        let bytes: [UInt8] = [0x61, 0xED, 0xA0, 0x80, 0xFF, 0x62]
        let s = String(decoding: bytes, as: UTF8.self)
        let out = JUnitWriter.sanitize(s)
        XCTAssertTrue(out.hasPrefix("a") && out.hasSuffix("b"))
        XCTAssertFalse(out.unicodeScalars.contains { (0xD800...0xDFFF).contains($0.value) })
    }

    func testNeverEmitsCharacterReferences() {
        var all = ""
        for v in UInt32(0)..<0x80 { all.unicodeScalars.append(Unicode.Scalar(v)!) }
        let out = JUnitWriter.sanitize(all + "\u{FFFE}\u{FFFF}")
        XCTAssertFalse(out.contains("&#"))
        XCTAssertFalse(out.unicodeScalars.contains { $0.value < 0x20 && ![0x09, 0x0A, 0x0D].contains($0.value) })
    }

    func testTimestampShape() {
        // 2026-11-22T21:30:05.75Z
        let d = Date(timeIntervalSince1970: 1_795_383_005.75)
        XCTAssertEqual(JUnitWriter.timestamp(d), "2026-11-22T21:30:05")
    }
}

final class JUnitRenderTests: XCTestCase {
    static let nasty = "stack:\n  #0 bpf_map_lookup\u{1b}[0m\0 ]]> <tag> & \"q\" 'a' \u{7}\u{FFFE} 🔥"

    func sampleSuites() -> [TestSuiteResult] {
        let t = Date(timeIntervalSince1970: 1_795_383_005)
        let s1 = TestSuiteResult(
            name: "load-attach-v4v6", package: "bpfstress", id: 0, timestamp: t, hostname: "vm<1>", time: 20.5,
            properties: [("seed", "42"), ("kernel.release", "6.18.0"), ("note", Self.nasty)],
            cases: [
                TestCaseResult(name: "attach-ok", classname: "bpfstress.load-attach-v4v6", time: 0.25, outcome: .passed),
                TestCaseResult(name: "counter-exact", classname: "bpfstress.load-attach-v4v6", time: 1,
                               outcome: .failed(type: "failure", message: "count \u{1b} off <by> 1", text: Self.nasty)),
                TestCaseResult(name: "no-crash", classname: "bpfstress.load-attach-v4v6", time: 0,
                               outcome: .errored(type: "crash", message: "SIGSEGV", text: "#0 \0 crash_here")),
                TestCaseResult(name: "v6", classname: "bpfstress.load-attach-v4v6", time: 0,
                               outcome: .skipped(message: "no IPv6 & no \u{1} luck")),
            ],
            systemOut: "log line \u{1b}[1m bold ]]>\n", systemErr: "err \0\n")
        let s2 = TestSuiteResult(name: "empty", package: "", id: 1, timestamp: t, hostname: "", time: .nan)
        return [s1, s2]
    }

    func testRenderShapeAndCounts() {
        let xml = JUnitWriter.render(sampleSuites())
        XCTAssertTrue(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"))
        XCTAssertTrue(xml.contains(#"<testsuite name="load-attach-v4v6" package="bpfstress" id="0" tests="4" failures="1" errors="1" skipped="1" time="20.500" timestamp="2026-11-22T21:30:05" hostname="vm&lt;1&gt;">"#), xml)
        XCTAssertTrue(xml.contains(#"<failure message="count \x1b off &lt;by&gt; 1" type="failure">stack:"#), xml)
        XCTAssertTrue(xml.contains(#"bpf_map_lookup\x1b[0m\x00 ]]&gt; &lt;tag&gt; &amp; &quot;q&quot; &apos;a&apos; \x07\uFFFE 🔥</failure>"#), xml)
        XCTAssertTrue(xml.contains(#"<skipped message="no IPv6 &amp; no \x01 luck" type="skipped"/>"#), xml)
        // Empty names/hostnames get a fallback; NaN time becomes 0.
        XCTAssertTrue(xml.contains(#"<testsuite name="empty" package="bpfstress" id="1" tests="0" failures="0" errors="0" skipped="0" time="0.000" timestamp="2026-11-22T21:30:05" hostname="localhost">"#), xml)
        XCTAssertFalse(xml.contains("CDATA"))
        XCTAssertFalse(xml.contains("&#"))
        // properties first, system-out/err last within each suite.
        let first = xml.range(of: "<properties>")!.lowerBound
        let tc = xml.range(of: "<testcase")!.lowerBound
        let so = xml.range(of: "<system-out>")!.lowerBound
        let se = xml.range(of: "<system-err>")!.lowerBound
        XCTAssertTrue(first < tc && tc < so && so < se)
    }

    func testRenderedXMLParsesInFoundationAndTheConsumers() throws {
        let dir = try makeTempDir("junit")
        defer { removeTree(dir) }
        let file = dir + "/junit.xml"
        let xml = JUnitWriter.render(sampleSuites())
        try AtomicFile.write(xml, to: file)
        // A second, independent XML parser reads the failure text back exactly as sanitized.
        let doc = try XMLDocument(data: Data(xml.utf8))
        let failure = try doc.nodes(forXPath: "//failure").first as? XMLElement
        XCTAssertEqual(failure?.stringValue, JUnitWriter.sanitize(Self.nasty)
            .replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&apos;", with: "'"))
        let consumers = try validateJUnit(file)
        XCTAssertEqual(consumers.status, 0, consumers.output)
        XCTAssertTrue(consumers.output.contains("ok: junitparser (2 suites)") && consumers.output.contains("ok: xunitparser"),
                      consumers.output)
    }

    /// Skipped in a clone with no ../shared/junit beside it.
    func testRenderedXMLValidatesAgainstBothSchemas() throws {
        let dir = try makeTempDir("junit-xsd")
        defer { removeTree(dir) }
        let file = dir + "/junit.xml"
        try AtomicFile.write(JUnitWriter.render(sampleSuites()), to: file)
        for schema in ["junit-10-jenkins.xsd", "JUnit-windyroad.xsd"] {
            let r = try xmllint(file, schema: schema)
            XCTAssertEqual(r.status, 0, "\(schema): \(r.output)")
            XCTAssertTrue(r.output.contains("validates"), r.output)
        }
    }

    /// Guards the guard: proves the consumers (and xmllint, when the schemas are there) really
    /// reject what sanitize removes.
    func rawControlCharacterFile() throws -> (dir: String, file: String) {
        let dir = try makeTempDir("junit-bad")
        let file = dir + "/bad.xml"
        try AtomicFile.write(JUnitWriter.render(sampleSuites()).replacingOccurrences(of: "\\x1b", with: "\u{1b}"), to: file)
        return (dir, file)
    }

    func testRawControlCharacterFailsTheConsumers() throws {
        let (dir, file) = try rawControlCharacterFile()
        defer { removeTree(dir) }
        let consumers = try validateJUnit(file)
        XCTAssertNotEqual(consumers.status, 0, consumers.output)
        XCTAssertTrue(consumers.output.contains("FAIL: junitparser: "), consumers.output)
    }

    /// Skipped in a clone with no ../shared/junit beside it.
    func testRawControlCharacterFailsTheStrictSchema() throws {
        let (dir, file) = try rawControlCharacterFile()
        defer { removeTree(dir) }
        let r = try xmllint(file, schema: "JUnit-windyroad.xsd")
        XCTAssertNotEqual(r.status, 0)
    }

    func testValidateJunitScriptAcceptsRenderedFileAndRejectsBrokenCounts() throws {
        let dir = try makeTempDir("junit-script")
        defer { removeTree(dir) }
        let good = dir + "/good.xml"
        try AtomicFile.write(JUnitWriter.render(sampleSuites()), to: good)
        let ok = try validateJUnit(good)
        XCTAssertEqual(ok.status, 0, ok.output)
        XCTAssertTrue(ok.output.contains("ok: junitparser") && ok.output.contains("ok: xunitparser"), ok.output)

        // Counts that disagree with the testcases pass both schemas; only the python consumers catch them.
        let miscounted = dir + "/miscounted.xml"
        try AtomicFile.write(JUnitWriter.render(sampleSuites()).replacingOccurrences(of: #"tests="4""#, with: #"tests="5""#),
                             to: miscounted)
        let m = try validateJUnit(miscounted)
        XCTAssertNotEqual(m.status, 0, m.output)
        XCTAssertTrue(m.output.contains("FAIL: junitparser: ValueError: suite 'load-attach-v4v6': tests=5 but it has 4"), m.output)
        XCTAssertTrue(m.output.contains("FAIL: xunitparser: suite 'load-attach-v4v6'"), m.output)

        guard schemasPresent else {
            XCTAssertTrue(ok.output.contains("skip: JUnit-windyroad.xsd (no schema at "), ok.output)
            return
        }
        XCTAssertTrue(ok.output.contains("ok: junit-10-jenkins.xsd") && ok.output.contains("ok: JUnit-windyroad.xsd"), ok.output)
        XCTAssertTrue(m.output.contains("ok: JUnit-windyroad.xsd"), m.output)
        // A testcase outside the strict order (system-out inside a testcase) must be rejected.
        let bad = dir + "/bad.xml"
        let xml = JUnitWriter.render(sampleSuites()).replacingOccurrences(
            of: #"time="0.250"/>"#, with: #"time="0.250"><system-out>x</system-out></testcase>"#)
        try AtomicFile.write(xml, to: bad)
        let r = try validateJUnit(bad)
        XCTAssertNotEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("FAIL: JUnit-windyroad.xsd"), r.output)
    }
}
