// Splits a kernel console log into reports and titles each one as syzbot does (KernelFormats).

import Foundation

/// One report found in a kernel console log, gdb/eu-stack/WinDbg dump or bpfstress finding.
public struct TriageReport: Sendable, Equatable {
    public var file: String
    /// Kernel: hang, lockdep, warning, bug, gpf, panic, trap, kasan, kmsan, kfence, kcsan, ubsan, netdev, other.
    /// User space: hang, crash, failure, kernel, leak.
    public var type: String
    public var title: String
    /// The culprit frame named in the title; "" when none could be found.
    public var frame: String
    /// The report was cut off or interleaved: title is the best that could be made.
    public var corrupted: Bool
    /// The report's text (decorations stripped for console logs).
    public var text: String
    /// Bucket key: the finding's own signature for bpfstress findings, else a hash of the title.
    public var signature: String
    /// How many occurrences this report stands for (a bpfstress bucket's count; else 1).
    public var count: Int = 1
    public var firstSeen: Date? = nil
    public var lastSeen: Date? = nil
    /// The culprit's file:line, when a vmlinux was given (`triage --vmlinux`); never part of the title.
    public var location: String? = nil

    public init(file: String, type: String, title: String, frame: String, corrupted: Bool = false, text: String = "",
                signature: String? = nil, count: Int = 1, firstSeen: Date? = nil, lastSeen: Date? = nil) {
        self.file = file; self.type = type; self.title = title; self.frame = frame; self.corrupted = corrupted
        self.text = text; self.signature = signature ?? Signature.compute(title: title, frames: [])
        self.count = count; self.firstSeen = firstSeen; self.lastSeen = lastSeen
    }
}

public enum KernelConsoleParser {
    /// Most lines kept per report.
    public static let maxLines = 1000

    static let endMarkers: [Pattern] = [Pattern(#"^\s*</TASK>"#), Pattern(#"---\[ end trace"#), Pattern(#"^={20,}\s*$"#)]

    /// True for a line that ends a report (`---[ end trace`, `</TASK>`, KASAN's closing `====`).
    public static func isEndMarker(_ line: String) -> Bool {
        guard line.fastContains("</TASK>") || line.fastContains("---[ end trace") || line.hasPrefix("=====") else { return false }
        return endMarkers.contains { $0.matches(line) }
    }

    /// True for a `Kernel panic - not syncing` or `invalid opcode:` line: right after a report it is that
    /// report's tail (`Fatal exception`, `panic_on_warn set`), not a report of its own. The live
    /// /dev/kmsg and console watchers use it to drop such lines shortly after a report ended.
    public static func isTrailer(_ line: String) -> Bool { group(line)?.trails ?? false }

    /// The report group a line starts, if any: its header string is in the line and no suppression matches.
    static func group(_ line: String) -> OopsGroup? {
        let found = headersIn(line)
        guard found != 0, !line.fastContains("---[ end ") else { return nil }
        for (i, g) in KernelFormats.groups.enumerated() where found & (1 << UInt64(i)) != 0 {
            if g.suppressions.contains(where: { $0.matches(line) }) { continue }
            return g
        }
        return nil
    }

    /// The groups' headers, found in one pass over a line (every line of every log goes through here).
    static let headers = LiteralSet(KernelFormats.groups.map(\.header))

    /// Bit i set when group i's header occurs in `line`.
    static func headersIn(_ line: String) -> UInt64 { headers.found(in: line) }

    static let fallbacks: [String: KernelFormat] = Dictionary(uniqueKeysWithValues: KernelFormats.groups.map {
        ($0.header, KernelFormat($0.type, NSRegularExpression.escapedPattern(for: $0.header), ""))
    })

    /// The format a report's first line matches (a group's generic one when none of its formats does).
    public static func headerFormat(_ line: String) -> (format: KernelFormat, groups: [String])? {
        guard let g = group(line) else { return nil }
        for f in g.formats { if let m = f.title.groups(line) { return (f, m) } }
        return (fallbacks[g.header]!, [line])
    }

    /// Every report in `log`, in order of their headers, each once (KernelReportSplitter).
    public static func parse(_ log: String, file: String = "") -> [TriageReport] {
        KernelReportSplitter.split(log).map { report($0.group, $0.lines, file: file) }
    }

    /// Titles one report (its first line holds the header) with the first of its group's formats that fits.
    static func report(_ group: OopsGroup, _ lines: [String], file: String) -> TriageReport {
        let text = lines.joined(separator: "\n")
        let head = lines[0]
        // syzkaller matches the formats' titles against the whole report and takes the earliest match. A
        // symbolized report repeats its header, inlined frames first (`WARNING: ... at x.c:1 f x.c:1
        // [inline]`, then `... at x.c:1 g+0x1/0x2`): when no format fits a header line, the next header line
        // that one fits names the report, and its frames are read from there.
        var at = 0
        while at + 1 < lines.count, lines[at + 1].fastContains(group.header),
              !group.formats.contains(where: { $0.title.matches(lines[at]) }) { at += 1 }
        let titleLine = lines[at], rest = at == 0 ? lines : Array(lines[at...])
        var matchedTitle = false
        for f in group.formats {
            guard let tg = f.multiline ? f.title.groups(rest.joined(separator: "\n")) : f.title.groups(titleLine) else { continue }
            matchedTitle = true
            var args = Array(tg.dropFirst())
            if let r = f.report {
                guard let rg = r.groups(text) else { continue }
                args = Array(rg.dropFirst())
            }
            var corrupted = f.corrupted
            var frames: [String] = []
            if let s = f.stack {
                let (fr, ok) = KernelStack.frames(s, rest)
                frames = fr
                if !ok { corrupted = true }
            }
            args += frames
            let raw = fill(f.template, args)
            let title = sanitize(raw)
            // A timestamp merged into the title's text (checked before numbers become NUM).
            if !corrupted { corrupted = raw.range(of: #"\[ *[0-9]+\.[0-9]+\]"#, options: .regularExpression) != nil }
            if !corrupted { corrupted = KernelStack.isCorrupted(lines, noStackTrace: f.noStackTrace) }
            let frame = culprit(f.template, args)
            return TriageReport(file: file, type: f.type, title: title, frame: frame == "corrupted" ? "" : frame,
                                corrupted: corrupted, text: text)
        }
        // No format fits: the header's line from the header on, as syzkaller does.
        let start = head.range(of: group.header)!.lowerBound
        return TriageReport(file: file, type: group.type, title: sanitize(String(head[start...])), frame: "",
                            corrupted: matchedTitle, text: text)
    }

    /// `%1`..`%9` replaced by the arguments (missing ones by "corrupted").
    static func fill(_ template: String, _ args: [String]) -> String {
        var out = ""
        var it = template.makeIterator()
        while let c = it.next() {
            if c == "%", let d = it.next() {
                if let n = d.wholeNumberValue, n >= 1 { out += n <= args.count ? args[n - 1] : "corrupted" } else { out.append(c); out.append(d) }
            } else { out.append(c) }
        }
        return out
    }

    /// The argument after the template's last " in %N": the culprit the title names.
    static func culprit(_ template: String, _ args: [String]) -> String {
        guard let r = template.range(of: " in %", options: .backwards) else { return "" }
        let rest = template[r.upperBound...]
        guard rest.count == 1, let n = rest.first?.wholeNumberValue, n >= 1, n <= args.count else { return "" }
        return args[n - 1]
    }

    static let replacements: [(Pattern, String)] = [
        (Pattern(#"syz-executor\.?[0-9]+((/|:)[0-9]+)?"#), "syz-executor"),
        (Pattern(#"syzkaller[0-9]+((/|:)[0-9]+)?"#), "syzkaller"),
        (Pattern(#"([^a-zA-Z0-9])(?:0x)?[0-9a-f]{6,}"#), "$1ADDR"),
        (Pattern(#"([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})"#), "IP"),
        (Pattern(#"(\.\w+)(:[0-9]+)+"#), "$1:LINE"),
        (Pattern(#"([a-zA-Z][a-zA-Z0-9_.]+)\+0x[0-9a-z]+/0x[0-9a-z]+"#), "$1"),
        (Pattern(#"CPU#[0-9]+"#), "CPU"),
        (Pattern(#"(\W)(\d+)(\W|$)"#), "$1NUM$3"),
        (Pattern(#"(\d+){7,}"#), "NUM"),
    ]

    /// Addresses, line numbers, offsets, CPU numbers and plain numbers out of a title; one space; 120 chars.
    public static func sanitize(_ title: String) -> String {
        var s = title
        if s.contains(where: { $0.isNumber }) {
            for (re, with) in replacements {
                for _ in 0..<8 {
                    let n = re.replacing(s, with: with)
                    if n == s { break }
                    s = n
                }
            }
        }
        var out = ""
        var prev: Character = " "
        for ch in s.prefix(120) {
            let c: Character = ch == "\t" ? " " : ch
            if c.asciiValue.map({ $0 < 0x20 || $0 >= 0x7f }) ?? true { continue }
            if c == " " && prev == " " { continue }
            out.append(c)
            prev = c
        }
        return out.trimmingCharacters(in: .whitespaces)
    }
}
