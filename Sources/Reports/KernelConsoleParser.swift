import Foundation

/// One report found in a kernel console log, gdb/eu-stack dump or bpfstress finding.
public struct TriageReport: Sendable, Equatable {
    public var file: String
    /// hang, lockdep, warning, bug, gpf, kasan (kernel); hang, crash, failure, kernel, leak (bpfstress).
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

    public init(file: String, type: String, title: String, frame: String, corrupted: Bool = false, text: String = "",
                signature: String? = nil, count: Int = 1, firstSeen: Date? = nil, lastSeen: Date? = nil) {
        self.file = file; self.type = type; self.title = title; self.frame = frame; self.corrupted = corrupted
        self.text = text; self.signature = signature ?? Signature.compute(title: title, frames: [])
        self.count = count; self.firstSeen = firstSeen; self.lastSeen = lastSeen
    }
}

/// Splits a kernel console log (or dmesg capture) into reports and titles each one with the
/// format table in `KernelFormats`.
public enum KernelConsoleParser {
    /// Most lines kept per report.
    public static let maxLines = 400

    /// True for a line that ends a report (`---[ end trace`, `</TASK>` after a trace, `====`).
    public static func isEndMarker(_ line: String) -> Bool {
        KernelFormats.endMarkers.contains { $0.matches(line) }
    }

    public static func headerFormat(_ line: String) -> (format: KernelFormat, groups: [String])? {
        for f in KernelFormats.all { if let g = f.header.groups(line) { return (f, g) } }
        return nil
    }

    /// Every report in `log`, in order.
    public static func parse(_ log: String, file: String = "") -> [TriageReport] {
        var out: [TriageReport] = []
        var cur: (format: KernelFormat, groups: [String], lines: [String])?
        func close(ended: Bool) {
            if let c = cur { out.append(report(c.format, c.groups, c.lines, ended: ended, file: file)) }
            cur = nil
        }
        for raw in log.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = ConsoleLine.strip(String(raw))
            let head = line.trimmingCharacters(in: .whitespaces)
            if let (f, g) = headerFormat(head) {
                if let c = cur, c.format.absorbs.contains(f.type) { cur!.lines.append(line); continue }
                close(ended: false)
                cur = (f, g, [head])
                continue
            }
            guard cur != nil else { continue }
            cur!.lines.append(line)
            if cur!.lines.count > 2, KernelFormats.endMarkers.contains(where: { $0.matches(line) }) {
                close(ended: true)
            } else if cur!.lines.count >= maxLines {
                close(ended: true)
            }
        }
        close(ended: false)
        return out
    }

    /// Trace frames (function, reliable) in order, with IRQ frames dropped when asked.
    static func stackFrames(_ lines: [String], skipIRQ: Bool) -> [String] {
        var inTrace = false, inIRQ = false
        var frames: [String] = []
        for l in lines {
            let t = l.trimmingCharacters(in: .whitespaces)
            if KernelFormats.traceStart.matches(t) { inTrace = true; continue }
            guard inTrace else { continue }
            if t == "<IRQ>" || t == "<NMI>" || t == "<SOFTIRQ>" { inIRQ = true; continue }
            if t == "</IRQ>" || t == "</NMI>" || t == "</SOFTIRQ>" { inIRQ = false; continue }
            if t == "</TASK>" || t.isEmpty { if !frames.isEmpty { break } else { continue } }
            if t.hasPrefix("Allocated by task") || t.hasPrefix("Freed by task") { break }
            if skipIRQ && inIRQ { continue }
            if let f = ConsoleLine.traceFrame(t), f.reliable { frames.append(f.function) }
        }
        return frames
    }

    /// The culprit: the first frame that is an anchor (named by the anchor) or not skipped.
    static func pick(_ candidates: [String], _ format: KernelFormat) -> String? {
        for f in candidates {
            var bare = Substring(f)
            while bare.hasPrefix("_") { bare = bare.dropFirst() }
            if format.anchors.contains(String(bare)) { return String(bare) }
            if !KernelFormats.isSkipped(f, extra: format.skip) { return f }
        }
        return nil
    }

    static func report(_ format: KernelFormat, _ groups: [String], _ lines: [String], ended: Bool, file: String) -> TriageReport {
        var frame: String?
        for source in format.frames where frame == nil {
            switch source {
            case .header(let i):
                if i < groups.count, let f = ConsoleLine.functionWithOffset(groups[i]) ?? ConsoleLine.traceFrame(groups[i])?.function {
                    frame = pick([f], format)
                }
            case .rip:
                if let l = lines.dropFirst().first(where: { KernelFormats.kernelRIP.matches($0) }),
                   let g = KernelFormats.kernelRIP.groups(l), let f = ConsoleLine.functionWithOffset(g[1]) {
                    frame = pick([f], format)
                }
            case .lockAt:
                if let l = lines.first(where: { KernelFormats.lockAt.matches($0) }),
                   let g = KernelFormats.lockAt.groups(l), let f = ConsoleLine.functionWithOffset(g[1]) {
                    frame = pick([f], format)
                }
            case .stack:
                frame = pick(stackFrames(lines, skipIRQ: format.skipIRQ), format)
            }
        }
        var corrupted = !ended
        var title = format.title
        for i in stride(from: min(9, groups.count - 1), through: 1, by: -1) {
            var g = groups[i]
            for sep in [" in ", " at "] { if let r = g.range(of: sep) { g = String(g[..<r.lowerBound]) } }
            title = title.replacingOccurrences(of: "$\(i)", with: g)
        }
        if title.contains("{ACCESS}") {
            if let l = lines.prefix(4).first(where: { KernelFormats.access.matches($0.trimmingCharacters(in: .whitespaces)) }),
               let g = KernelFormats.access.groups(l.trimmingCharacters(in: .whitespaces)) {
                title = title.replacingOccurrences(of: "{ACCESS}", with: g[1])
            } else {
                title = title.replacingOccurrences(of: " {ACCESS}", with: "")
                corrupted = true
            }
        }
        if let f = frame {
            title = title.replacingOccurrences(of: "{FRAME}", with: f)
        } else {
            title = title.replacingOccurrences(of: " in {FRAME}", with: "")
            if !format.frameless { corrupted = true }
        }
        if format.frameless { corrupted = false }
        return TriageReport(file: file, type: format.type, title: title, frame: frame ?? "", corrupted: corrupted,
                            text: lines.joined(separator: "\n"))
    }
}
