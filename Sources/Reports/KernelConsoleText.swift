import Foundation

/// A compiled regular expression with the two queries the parsers need. Patterns are fixed
/// strings written in bpfstress's own parsers, so a bad one is a programming error (try!).
public struct Pattern: @unchecked Sendable {
    let re: NSRegularExpression
    public init(_ pattern: String) { re = try! NSRegularExpression(pattern: pattern, options: []) }

    public func matches(_ s: String) -> Bool {
        re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    /// Capture groups of the first match (index 0 is the whole match); nil when no match.
    /// An unmatched group is "".
    public func groups(_ s: String) -> [String]? {
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

    /// The message part of a console line. Keeps the message's own indentation after one
    /// separating space, since traces are indented (" func+0x1/0x2").
    public static func strip(_ raw: String) -> String {
        var s = Substring(raw.trimmingCharacters(in: CharacterSet(charactersIn: "\r\n")))
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

    /// Compiler clones and LTO suffixes that differ between builds: `.constprop.0`, `.isra.0`, `.part.1`,
    /// `.cold`, `.llvm.123`, and BPF program tags (`bpf_prog_4f1b2c6a7c9e8d12_name` -> `bpf_prog_name`).
    static let suffix = Pattern(#"\.(constprop|isra|part|cold|llvm|lto_priv|localalias)(\.[0-9]+)*.*$"#)
    static let progTag = Pattern(#"^bpf_prog_[0-9a-f]{16}_"#)

    public static func normalizeFunction(_ name: String) -> String {
        var n = suffix.replacing(name, with: "")
        n = progTag.replacing(n, with: "bpf_prog_")
        return n
    }

    /// `func+0x12/0x40` anywhere in s (first occurrence) -> `func`.
    static let offsetToken = Pattern(#"([A-Za-z_][A-Za-z0-9_.$]*)\+0x[0-9a-fA-F]+/0x[0-9a-fA-F]+"#)

    public static func functionWithOffset(_ s: String) -> String? {
        offsetToken.groups(s).map { normalizeFunction($0[1]) }
    }

    /// One trace line -> function, or nil when the line is not a frame.
    /// Accepts ` func+0x12/0x40 [mod]`, ` [<ffffffff81000000>] func+0x12/0x40`, and symbolized
    /// ` func kernel/bpf/syscall.c:123 [inline]`. `? func+...` entries are unreliable: `reliable` is false.
    public static func traceFrame(_ line: String) -> (function: String, reliable: Bool)? {
        var t = Substring(line.trimmingCharacters(in: .whitespaces))
        if t.hasPrefix("[<") , let close = t.range(of: ">]") { t = t[close.upperBound...].drop(while: { $0 == " " }) }
        var reliable = true
        if t.hasPrefix("? ") { reliable = false; t = t.dropFirst(2) }
        let s = String(t)
        if let g = traceToken.groups(s) { return (normalizeFunction(g[1]), reliable) }
        if let g = inlineToken.groups(s) { return (normalizeFunction(g[1]), reliable) }
        return nil
    }
    static let traceToken = Pattern(#"^([A-Za-z_][A-Za-z0-9_.$]*)\+0x[0-9a-fA-F]+/0x[0-9a-fA-F]+"#)
    static let inlineToken = Pattern(#"^([A-Za-z_][A-Za-z0-9_.$]*) [A-Za-z0-9_./-]+\.[chS]:\d+"#)
}
