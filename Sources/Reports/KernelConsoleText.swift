import Foundation

/// A compiled regular expression with the two queries the parsers need. Patterns are fixed
/// strings written in bpfstress's own parsers, so a bad one is a programming error (try!).
public struct Pattern: @unchecked Sendable {
    let re: NSRegularExpression
    /// Text every match contains (the pattern's leading literal): checked first, since a Swift string
    /// handed to NSRegularExpression is converted to UTF-16 on each call.
    let literal: String
    public init(_ pattern: String) {
        re = try! NSRegularExpression(pattern: pattern, options: [])
        literal = Self.leadingLiteral(pattern)
    }

    /// The literal text a pattern starts with (after `^`), or "" when a top-level `|` or `(?i)` makes it optional.
    static func leadingLiteral(_ p: String) -> String {
        if p.hasPrefix("(?i") { return "" }
        var depth = 0, inClass = false, escaped = false
        for ch in p {
            if escaped { escaped = false; continue }
            if ch == "\\" { escaped = true; continue }
            if inClass { if ch == "]" { inClass = false }; continue }
            if ch == "[" { inClass = true } else if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            else if ch == "|" && depth == 0 { return "" }
        }
        var out = ""
        var it = Array(p)
        if it.first == "^" { it.removeFirst() }
        var i = 0
        while i < it.count {
            var ch = it[i]
            if "^$.|()[]{}*+?".contains(ch) { if "*?{".contains(ch), !out.isEmpty { out.removeLast() }; break }
            if ch == "\\" {
                guard i + 1 < it.count, !it[i + 1].isLetter, !it[i + 1].isNumber else { break }
                i += 1
                ch = it[i]
            }
            if i + 1 < it.count, "*?{".contains(it[i + 1]) { break }
            out.append(ch)
            i += 1
        }
        return out
    }

    public func matches(_ s: String) -> Bool {
        if !literal.isEmpty && !s.fastContains(literal) { return false }
        return re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    /// Capture groups of the first match (index 0 is the whole match); nil when no match.
    /// An unmatched group is "".
    public func groups(_ s: String) -> [String]? {
        if !literal.isEmpty && !s.fastContains(literal) { return nil }
        guard let m = re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) else { return nil }
        return (0..<m.numberOfRanges).map { i in
            Range(m.range(at: i), in: s).map { String(s[$0]) } ?? ""
        }
    }

    public func replacing(_ s: String, with template: String) -> String {
        re.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: template)
    }
}

/// Console line clean-up: what a log line looks like once the transport's decorations are gone.
public enum ConsoleLine {
    /// Decorations in front of a kernel message, removed repeatedly from the start of a line:
    /// syslog/journal `Nov  3 02:14:07 host kernel: `, dmesg -x `kern  :warn  : `, printk level `<4>`,
    /// timestamps `[  123.456789]` and dmesg -T `[Mon Nov  3 02:14:07 2026]`, caller ids `[T1234]` / `[ C1]`,
    /// and /dev/kmsg records `4,1234,5678,-;`.
    static let prefixes: [Pattern] = [
        Pattern(#"^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \S+ kernel: "#),
        Pattern(#"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.,0-9]*(Z|[+-]\d\d:?\d\d)? \S+ kernel: "#),
        Pattern(#"^[a-z]+\s*:[a-z]+\s*: "#),
        Pattern(#"^<\d>"#),
        Pattern(#"^\d+,\d+,\d+,[^;]*;"#),
        Pattern(#"^\[\s*\d+\.\d+\]"#),
        Pattern(#"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \d{4}\]"#),
        Pattern(#"^\[\s*[TC]\d+\]"#),
    ]

    static let months: Set<String> = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Whether one of `prefixes` could match: they start with `[`, `<`, a digit, a month, or `word :`.
    static func mayHaveDecoration(_ s: Substring) -> Bool {
        guard let c = s.first else { return false }
        if c == "[" || c == "<" || c.isNumber { return true }
        if c.isUppercase { return months.contains(String(s.prefix(3))) }
        if c.isLowercase { return s.prefix(10).contains(":") && s.prefix(10).contains(" ") }
        return false
    }

    /// The rest after a leading `[  123.456789]`, `[T1234]` or `[ C1]`; nil when `s` does not start with one.
    static func bracket(_ s: Substring) -> Substring? { stamp(s)?.rest }

    /// A leading `[  123.456789]` (caller nil; `full` when both sides of the dot have digits) or caller
    /// id `[ T1234]` / `[ C1]`, and what follows it. Read as bytes: every line of every log comes here.
    static func stamp(_ s: Substring) -> (rest: Substring, caller: Substring?, full: Bool)? {
        let u = s.utf8
        guard u.first == UInt8(ascii: "["), let close = u.firstIndex(of: UInt8(ascii: "]")) else { return nil }
        var i = u.index(after: u.startIndex)
        while i < close && u[i] == UInt8(ascii: " ") { i = u.index(after: i) }
        guard i < close else { return nil }
        let idStart = i
        let isCaller = u[i] == UInt8(ascii: "T") || u[i] == UInt8(ascii: "C")
        if isCaller { i = u.index(after: i) }
        guard i < close else { return nil }
        var dots = 0, before = 0, after = 0
        while i < close {
            let b = u[i]
            if b == UInt8(ascii: ".") { dots += 1 } else if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                if dots == 0 { before += 1 } else { after += 1 }
            } else { return nil }
            i = u.index(after: i)
        }
        let rest = s[u.index(after: close)...]
        if isCaller { return dots == 0 ? (rest, s[idStart..<close], true) : nil }
        return dots == 1 ? (rest, nil, before > 0 && after > 0) : nil
    }

    /// Who printed a raw console line, as syzkaller tells it: the caller id after the timestamp
    /// (`[  12.345678][ T5012] ` gives "T5012", `[ C1]` gives "C1"), "console" for a timestamp without
    /// one, "" for a line without a timestamp. A report keeps only lines of its own header's context, so
    /// that another task's interleaved lines never become its frames (CONFIG_PRINTK_CALLER).
    public static func context(_ raw: Substring) -> String {
        var s = raw
        if s.hasPrefix("** "), let r = s.range(of: " printk messages dropped ** ") { s = s[r.upperBound...] }
        if let f = s.first, f != "[" && f != "<", let r = s.range(of: " login: ") { s = s[r.upperBound...] }
        if s.hasPrefix("<"), let close = s.firstIndex(of: ">"), s[s.index(after: s.startIndex)..<close].allSatisfy(\.isNumber) {
            s = s[s.index(after: close)...]
        }
        guard let t = stamp(s), t.caller == nil, t.full else { return "" }
        s = t.rest
        var caller = ""
        if let c = stamp(s), let id = c.caller {
            caller = String(id)
            s = c.rest
        }
        guard s.first == " " else { return "" }
        return caller.isEmpty ? "console" : caller
    }

    /// ` ? func+0x1/0x2` or ` [<ffffffff81000000>] ? func+0x1/0x2`: an unreliable trace entry.
    public static func isQuestionable(_ line: String) -> Bool {
        var t = Substring(line).drop(while: { $0 == " " })
        if t.hasPrefix("[<"), let r = t.range(of: ">]") { t = t[r.upperBound...] }
        return t.hasPrefix(" ? ") || t.hasPrefix("? ")
    }

    /// The message part of a console line. Keeps the message's own indentation after one
    /// separating space, since traces are indented (" func+0x1/0x2").
    public static func strip(_ raw: String) -> String {
        var s = Substring(raw)
        while let l = s.last, l == "\r" || l == "\n" || l == "\r\n" { s = s.dropLast() }
        // Most lines start with a timestamp or with the message itself: skip the patterns for those.
        guard let c = s.first, c == "[" || c == "<" || c.isLetter || c.isNumber else { return String(s) }
        // Fast path for the common `[  123.456789] ` and `[  123.456789][ T1234] ` prefixes.
        if c == "[" {
            var t = s
            while let b = bracket(t) { t = b }
            if t.startIndex != s.startIndex {
                if t.hasPrefix(" ") { t = t.dropFirst() }
                if let f = t.first, f == "[" || f == "<" || f.isLetter || f.isNumber { s = t } else { return String(t) }
            }
        }
        if !mayHaveDecoration(s) { return String(s) }
        var changed = true
        var rounds = 0
        while changed && rounds < 8 {
            changed = false
            rounds += 1
            let str = String(s)
            for p in prefixes {
                if let g = p.groups(str), let whole = g.first, !whole.isEmpty {
                    s = s.dropFirst(whole.count)
                    changed = true
                    break
                }
            }
            // One space separates a decoration from the message.
            if changed, s.hasPrefix(" ") { s = s.dropFirst() }
        }
        return String(s)
    }
}

/// Up to 64 literal strings found in one pass over a line's bytes (a table of their first bytes),
/// instead of one substring search per literal.
public struct LiteralSet: Sendable {
    let byFirstByte: [[(index: Int, bytes: [UInt8])]]

    public init(_ words: [String]) {
        precondition(words.count <= 64 && words.allSatisfy { !$0.isEmpty })
        var t = [[(index: Int, bytes: [UInt8])]](repeating: [], count: 256)
        for (i, w) in words.enumerated() { let b = Array(w.utf8); t[Int(b[0])].append((i, b)) }
        byFirstByte = t
    }

    /// Bit i set when word i occurs in `s`.
    public func found(in s: String) -> UInt64 {
        var found: UInt64 = 0
        let u = s.utf8
        var i = u.startIndex
        while i != u.endIndex {
            for c in byFirstByte[Int(u[i])] where u[i...].starts(with: c.bytes) { found |= 1 << UInt64(c.index) }
            i = u.index(after: i)
        }
        return found
    }
}

extension String {
    /// Lines split at LF and CRLF (a serial console's line ends), empty lines kept.
    public var consoleLines: [Substring] {
        split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
    }
}

/// Substring search on UTF-8 bytes. Foundation's `contains` on Linux goes through NSString and
/// CFStringFind, which made it most of triage's time.
@inlinable func utf8Contains(_ h: Substring.UTF8View, _ n: String.UTF8View) -> Bool {
    guard let first = n.first else { return true }
    var i = h.startIndex
    while let j = h[i...].firstIndex(of: first) {
        if h[j...].starts(with: n) { return true }
        i = h.index(after: j)
    }
    return false
}

extension String {
    @inlinable public func fastContains(_ needle: String) -> Bool { utf8Contains(self[...].utf8, needle.utf8) }
}

extension Substring {
    @inlinable public func fastContains(_ needle: String) -> Bool { utf8Contains(utf8, needle.utf8) }
}
