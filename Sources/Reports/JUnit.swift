import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How one JUnit testcase ended. At most one failure/error/skipped element per testcase (strict Ant schema).
public enum TestOutcome: Sendable, Equatable {
    case passed
    /// `text` goes in the element body: GitLab ignores `message`, so the stack must be there.
    case failed(type: String, message: String, text: String)
    case errored(type: String, message: String, text: String)
    case skipped(message: String)
}

public struct TestCaseResult: Sendable, Equatable {
    public var name: String
    public var classname: String
    /// Seconds.
    public var time: Double
    public var outcome: TestOutcome

    public init(name: String, classname: String, time: Double = 0, outcome: TestOutcome) {
        self.name = name; self.classname = classname; self.time = time; self.outcome = outcome
    }
}

public struct TestSuiteResult: Sendable {
    public var name: String
    public var package: String
    public var id: Int
    public var timestamp: Date
    public var hostname: String
    /// Seconds.
    public var time: Double
    /// An array, not a dictionary: readers show properties in document order.
    public var properties: [(name: String, value: String)]
    public var cases: [TestCaseResult]
    public var systemOut: String
    public var systemErr: String

    public init(name: String, package: String, id: Int, timestamp: Date, hostname: String, time: Double,
                properties: [(name: String, value: String)] = [], cases: [TestCaseResult] = [],
                systemOut: String = "", systemErr: String = "") {
        self.name = name; self.package = package; self.id = id; self.timestamp = timestamp
        self.hostname = hostname; self.time = time; self.properties = properties; self.cases = cases
        self.systemOut = systemOut; self.systemErr = systemErr
    }

    public var tests: Int { cases.count }
    public var failures: Int { cases.filter { if case .failed = $0.outcome { return true } else { return false } }.count }
    public var errors: Int { cases.filter { if case .errored = $0.outcome { return true } else { return false } }.count }
    public var skipped: Int { cases.filter { if case .skipped = $0.outcome { return true } else { return false } }.count }
}

/// Renders JUnit XML in the one shape that validates against both the lenient Jenkins schema and the
/// strict windyroad (Ant) schema; see PLATFORM-NOTES "JUnit XML".
public enum JUnitWriter {
    public static func render(_ suites: [TestSuiteResult]) -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n"
        for suite in suites {
            // `skipped` is allowed on <testsuite> by both schemas (never on <testsuites>).
            out += "  <testsuite"
            out += attr("name", nonEmpty(suite.name, "unnamed"))
            out += attr("package", nonEmpty(suite.package, "bpfstress"))
            out += attr("id", String(suite.id))
            out += attr("tests", String(suite.tests))
            out += attr("failures", String(suite.failures))
            out += attr("errors", String(suite.errors))
            out += attr("skipped", String(suite.skipped))
            out += attr("time", decimal(suite.time))
            out += attr("timestamp", timestamp(suite.timestamp))
            out += attr("hostname", nonEmpty(suite.hostname, "localhost"))
            out += ">\n"
            // The strict schema requires <properties> even when empty.
            if suite.properties.isEmpty {
                out += "    <properties/>\n"
            } else {
                out += "    <properties>\n"
                for p in suite.properties {
                    out += "      <property" + attr("name", nonEmpty(p.name, "unnamed")) + attr("value", p.value) + "/>\n"
                }
                out += "    </properties>\n"
            }
            for c in suite.cases {
                out += "    <testcase" + attr("name", nonEmpty(c.name, "unnamed"))
                    + attr("classname", nonEmpty(c.classname, "bpfstress")) + attr("time", decimal(c.time))
                switch c.outcome {
                case .passed:
                    out += "/>\n"
                case let .failed(type, message, text):
                    out += ">\n      <failure" + attr("message", message) + attr("type", type) + ">"
                        + sanitize(text) + "</failure>\n    </testcase>\n"
                case let .errored(type, message, text):
                    out += ">\n      <error" + attr("message", message) + attr("type", type) + ">"
                        + sanitize(text) + "</error>\n    </testcase>\n"
                case let .skipped(message):
                    out += ">\n      <skipped" + attr("message", message) + attr("type", "skipped") + "/>\n    </testcase>\n"
                }
            }
            out += "    <system-out>" + sanitize(suite.systemOut) + "</system-out>\n"
            out += "    <system-err>" + sanitize(suite.systemErr) + "</system-err>\n"
            out += "  </testsuite>\n"
        }
        out += "</testsuites>\n"
        return out
    }

    /// Makes arbitrary text safe for XML 1.0 text and attributes: escapes & < > " ' as entities; replaces
    /// C0 controls except \t \n \r with a visible `\xNN`, and U+FFFE/U+FFFF with `\uFFFE`/`\uFFFF`.
    /// Character references such as `&#x1b;` are illegal for these code points too, and CDATA breaks on
    /// `]]>`, so neither is used. DEL and C1 controls are legal XML 1.0 and kept. Lone surrogates cannot
    /// occur in a Swift String (lossy decoding already turned them into U+FFFD).
    public static func sanitize(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        out.reserveCapacity(s.unicodeScalars.count)
        func append(_ text: String) { out.append(contentsOf: text.unicodeScalars) }
        for u in s.unicodeScalars {
            switch u.value {
            case 0x26: append("&amp;")
            case 0x3C: append("&lt;")
            case 0x3E: append("&gt;")
            case 0x22: append("&quot;")
            case 0x27: append("&apos;")
            case 0x09, 0x0A, 0x0D: out.append(u)
            case 0x00..<0x20: append("\\x" + hex(u.value, width: 2))
            case 0xFFFE, 0xFFFF: append("\\u" + hex(u.value, width: 4).uppercased())
            case 0xD800...0xDFFF: append("\\u" + hex(u.value, width: 4).uppercased())  // unreachable in Swift; kept for clarity
            default: out.append(u)
            }
        }
        return String(out)
    }

    /// `timestamp` as the strict schema wants it: UTC, `YYYY-MM-DDTHH:MM:SS`, no zone, no fraction.
    public static func timestamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tmv = tm()
        gmtime_r(&t, &tmv)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1,
                      Int(tmv.tm_mday), Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec))
    }

    /// xs:decimal: no exponent, no NaN/inf.
    static func decimal(_ v: Double) -> String {
        guard v.isFinite else { return "0.000" }
        return String(format: "%.3f", v)
    }

    private static func attr(_ name: String, _ value: String) -> String {
        " \(name)=\"\(sanitize(value))\""
    }

    /// The strict schema declares name/classname/hostname as non-empty tokens.
    private static func nonEmpty(_ s: String, _ fallback: String) -> String {
        s.allSatisfy({ $0.isWhitespace }) ? fallback : s
    }

    private static func hex(_ v: UInt32, width: Int) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }
}
