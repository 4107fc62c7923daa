// Finds a kernel report's culprit frames by walking its stack parts, and says whether its traces are intact.

import Foundation

enum KernelStack {
    /// The frames a format's stack parts find in `lines` (one per trace part); false when one found none.
    static func frames(_ spec: StackSpec, _ lines: [String]) -> (frames: [String], ok: Bool) {
        let first = walk(spec.parts, spec, lines)
        if first.ok || spec.parts2.isEmpty { return first }
        return walk(spec.parts2, spec, lines)
    }

    /// Parts in order over the lines. A trace ends at the next trace keyword, or at a line that
    /// matches the part after it (which is then taken). Skip-listed frames are dropped as they are read.
    static func walk(_ parts: [StackPart], _ spec: StackSpec, _ lines: [String]) -> (frames: [String], ok: Bool) {
        var i = 0
        var raw: [String] = []
        var out: [String] = []
        var ok = true
        var traces = 0
        var p = 0
        func take(_ groups: [String]) {
            for g in groups.dropFirst() where !g.isEmpty && !spec.skip.matches(g) { raw.append(g) }
        }
        while true {
            let isTrace: Bool
            if p < parts.count, case .trace = parts[p] { isTrace = true } else { isTrace = false }
            if p == parts.count || (isTrace && traces > 0) {
                if let f = pick(raw, spec.rule) { out.append(f) } else { out.append("corrupted"); ok = false }
                raw = []
            }
            if p == parts.count { break }
            switch parts[p] {
            case .trace:
                traces += 1
                partLoop: while i < lines.count {
                    let ln = lines[i]; i += 1
                    if ln.fastContains("should_fail"), KernelFormats.corruptedLine.matches(ln) { ok = false; break partLoop }
                    if isStackStart(ln) { break partLoop }
                    if p + 1 < parts.count, let g = groups(parts[p + 1], ln) {
                        take(g)
                        p += 1
                        break partLoop
                    }
                    if let g = frameGroups(ln) { take(g) }
                }
            case .seek(let re), .capture(let re):
                while i < lines.count {
                    let ln = lines[i]; i += 1
                    if ln.fastContains("should_fail"), KernelFormats.corruptedLine.matches(ln) { ok = false; break }
                    guard let g = re.groups(ln) else { continue }
                    if case .capture = parts[p] { take(g) }
                    break
                }
            }
            p += 1
        }
        return (out, ok)
    }

    /// A trace keyword line (cheap substring checks before the patterns).
    static func isStackStart(_ l: String) -> Bool {
        guard stackStartWords.found(in: l) != 0 else { return false }
        return KernelFormats.stackStarts.contains { $0.matches(l) }
    }

    /// Words every trace keyword line holds (checked in one pass before the patterns).
    static let stackStartWords = LiteralSet(["race", "Allocated", "Freed", "acktrace", "Uninit"])

    static func groups(_ part: StackPart, _ line: String) -> [String]? {
        switch part {
        case .trace: return nil
        case .seek(let re): return re.matches(line) ? [line] : nil
        case .capture(let re): return re.groups(line)
        }
    }

    /// ` func+0x1/0x2` or ` [<ffffffff81000000>] func+0x1/0x2` -> [line, func]; cheap checks first.
    static func frameGroups(_ line: String) -> [String]? {
        guard line.fastContains("+0x") else { return nil }
        return KernelFormats.frameLine.groups(line)
    }

    static func pick(_ raw: [String], _ rule: FrameRule) -> String? {
        guard !raw.isEmpty else { return nil }
        let frames = raw.map(KernelSkipLists.stripped)
        switch rule {
        case .first: return frames[0]
        case .stall: return stall(frames)
        case .hang: return hang(frames)
        }
    }

    static let stallAnchors = KernelSkipLists.stallAnchors.map(Pattern.init)

    static func stall(_ frames: [String]) -> String? {
        var prev = frames[0]
        for f in frames {
            if stallAnchors.contains(where: { $0.matches(f) }) {
                return f.fastContains("smp_call_function") ? "smp_call_function" : prev
            }
            prev = f
        }
        return nil
    }

    static func hang(_ frames: [String]) -> String? {
        for f in frames {
            for a in KernelSkipLists.hangAnchors where f.fastContains(a.frame) { return a.name ?? f }
        }
        return frames.first { f in !KernelSkipLists.hangSkip.contains { f.fastContains($0) } }
    }

    /// A report is cut off when it should have a trace and has none, or a trace keyword is not
    /// followed by a frame within 15 lines.
    static func isCorrupted(_ lines: [String], noStackTrace: Bool) -> Bool {
        if noStackTrace { return false }
        var hasTrace = false
        var seen = Set<Int>()
        for (i, l) in lines.enumerated() {
            guard isStackStart(l), let k = KernelFormats.stackStarts.firstIndex(where: { $0.matches(l) }),
                  !seen.contains(k) else { continue }
            seen.insert(k)
            let after = lines[(i + 1)...].prefix(15)
            if after.count < 2 { return true }
            var found = false
            for a in after {
                if isStackStart(a) { break }
                if a.fastContains("(stack is not available)") || frameGroups(a) != nil { found = true; break }
            }
            if !found { return true }
            hasTrace = true
        }
        return !hasTrace
    }
}
