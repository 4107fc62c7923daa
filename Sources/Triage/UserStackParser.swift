import Foundation
import Reports

/// Bucket keys for reports that carry no bpfstress signature.
public enum TriageSignature {
    /// Signature.compute over the title alone: syzbot buckets console reports by title.
    public static func of(title: String) -> String { Signature.compute(title: title, frames: []) }
}

/// One thread of a user-space dump: frames innermost first (function names, "??" when unknown).
public struct UserThread: Sendable, Equatable {
    public var id: String
    public var frames: [String]
    public init(id: String, frames: [String]) { self.id = id; self.frames = frames }
}

/// gdb `thread apply all bt`, `eu-stack -p` and bpfstress dump-N.txt parsing, titled with
/// Reports.Culprit (the same plumbing rules as bpfstress's own findings).
public enum UserStackParser {
    static let gdbThread = Pattern(#"^Thread (\d+) \(.*\):\s*$"#)
    static let gdbFrame = Pattern(#"^#\d+\s+(?:0x[0-9a-fA-F]+ in )?(.+)$"#)
    static let gdbSignal = Pattern(#"^(?:Thread (\d+) "[^"]*"|Program) (?:received|terminated with) signal (SIG[A-Z0-9]+)"#)
    static let euThread = Pattern(#"^TID (\d+):\s*$"#)
    static let euFrame = Pattern(#"^#\d+\s+0x[0-9a-fA-F]+\s+(.+)$"#)
    static let bsThread = Pattern(#"^--- thread (\d+) "#)
    static let bsFrame = Pattern(#"^\s+#\d+ 0x[0-9a-fA-F]+ (.+) \([^()]*\)\s*$"#)
    static let bsHang = Pattern(#"^HANG: .*scenario (\S+)"#)
    static let bsCrash = Pattern(#"^CRASH: .*scenario (\S+)"#)
    static let bsSignal = Pattern(#"^signal (SIG[A-Z0-9]+) .*thread (\d+)"#)
    static let bsInFlight = Pattern(#"^\s+thread \d+ tid (\d+): op "#)

    // Cheap substring checks first: most inputs are kernel logs, and a pattern per line of each costs.
    public static func looksLikeGDB(_ text: String) -> Bool {
        guard text.fastContains("\n#0 "), text.fastContains("Thread ") else { return false }
        return text.split(separator: "\n").contains { $0.hasPrefix("Thread ") && gdbThread.matches(String($0)) }
    }
    public static func looksLikeEUStack(_ text: String) -> Bool {
        guard text.fastContains("TID "), text.fastContains("PID ") else { return false }
        return text.split(separator: "\n").contains { $0.hasPrefix("PID ") && $0.fastContains(" - ") }
            && text.split(separator: "\n").contains { $0.hasPrefix("TID ") && euThread.matches(String($0)) }
    }
    public static func looksLikeBPFStressDump(_ text: String) -> Bool {
        if text.fastContains("=== process ") && text.fastContains("\n--- thread ") { return true }
        guard text.fastContains("HANG: ") || text.fastContains("CRASH: ") else { return false }
        return text.split(separator: "\n").contains {
            ($0.hasPrefix("HANG: ") || $0.hasPrefix("CRASH: ")) && (bsHang.matches(String($0)) || bsCrash.matches(String($0)))
        }
    }

    /// gdb function text -> name: drops "(args) at file:line" and " from lib".
    static func gdbName(_ s: String) -> String {
        if s.hasPrefix("<signal handler called>") { return "<signal handler called>" }
        var name = s
        for sep in [" (", " from "] { if let r = name.range(of: sep) { name = String(name[..<r.lowerBound]) } }
        return name
    }

    /// eu-stack function text -> name: drops symbol versions (`@GLIBC_2.2.5`) and ` - module` columns.
    static func euName(_ s: String) -> String {
        var name = s
        if let r = name.range(of: " - ") { name = String(name[..<r.lowerBound]) }
        if let at = name.firstIndex(of: "@") { name = String(name[..<at]) }
        return name.trimmingCharacters(in: .whitespaces)
    }

    public static func parseGDB(_ text: String, file: String = "") -> TriageReport {
        var threads: [UserThread] = []
        var signal: (tid: String?, name: String)?
        for raw in text.split(separator: "\n") {
            let l = String(raw)
            if let g = gdbThread.groups(l) { threads.append(UserThread(id: g[1], frames: [])); continue }
            if let g = gdbSignal.groups(l), signal == nil { signal = (g[1].isEmpty ? nil : g[1], g[2]); continue }
            if !threads.isEmpty, let g = gdbFrame.groups(l) { threads[threads.count - 1].frames.append(gdbName(g[1])) }
        }
        return titled(threads, signal: signal, file: file, text: text)
    }

    public static func parseEUStack(_ text: String, file: String = "") -> TriageReport {
        var threads: [UserThread] = []
        for raw in text.split(separator: "\n") {
            let l = String(raw)
            if let g = euThread.groups(l) { threads.append(UserThread(id: g[1], frames: [])); continue }
            if !threads.isEmpty, let g = euFrame.groups(l) { threads[threads.count - 1].frames.append(euName(g[1])) }
        }
        return titled(threads, signal: nil, file: file, text: text)
    }

    /// A bpfstress dump-N.txt (without its finding.json): the same titles as the live run gives,
    /// "hang in FUNC in SCENARIO" / "SIGSEGV in FUNC in SCENARIO".
    public static func parseBPFStressDump(_ text: String, file: String = "") -> TriageReport {
        var threads: [UserThread] = []
        var inUser = false
        var scenario: String?
        var signal: (tid: String?, name: String)?
        var inFlight: Set<String> = []
        for raw in text.split(separator: "\n") {
            let l = String(raw)
            if let g = bsHang.groups(l) ?? bsCrash.groups(l), scenario == nil { scenario = g[1]; continue }
            if let g = bsSignal.groups(l), signal == nil { signal = (g[2], g[1]); continue }
            if let g = bsInFlight.groups(l) { inFlight.insert(g[1]); continue }
            if let g = bsThread.groups(l) { threads.append(UserThread(id: g[1], frames: [])); inUser = false; continue }
            let t = l.trimmingCharacters(in: .whitespaces)
            if t == "user stack:" { inUser = true; continue }
            if t.hasSuffix(":") && !t.hasPrefix("#") { inUser = false; continue }
            if inUser, !threads.isEmpty, let g = bsFrame.groups(l) {
                var name = g[1]
                if let r = name.range(of: "+0x", options: .backwards) { name = String(name[..<r.lowerBound]) }
                threads[threads.count - 1].frames.append(name)
            }
        }
        let pool = inFlight.isEmpty || signal != nil ? threads : threads.filter { inFlight.contains($0.id) }
        var r = titled(pool.isEmpty ? threads : pool, signal: signal, file: file, text: text)
        if let s = scenario { r.title += " in \(s)"; r.signature = TriageSignature.of(title: r.title) }
        return r
    }

    static let idleWaits = ["pthread_join", "pthread_clockjoin", "pthread_timedjoin", "pthread_cond_wait",
                            "pthread_cond_timedwait", "pthread_cond_clockwait", "nanosleep", "clock_nanosleep",
                            "usleep", "sleep", "wait4", "waitpid", "waitid", "sigtimedwait", "sigwait", "pause"]

    static func has(_ t: UserThread, _ names: [String]) -> Bool { Deadlock.has(t.frames, names) }

    /// A thread waiting for a lock or in a condition wait (Deadlock.waiter).
    static func blocked(_ t: UserThread) -> BlockedThread? { Deadlock.waiter(t.frames) }

    /// How strongly a thread looks like the stuck one (as bpfstress's own hang titles rank threads).
    static func priority(_ t: UserThread) -> Int {
        let meaningful = Culprit.meaningfulFrames(t.frames)
        if meaningful.isEmpty { return 0 }
        if has(t, ["bpf"]) { return 5 }
        if has(t, Deadlock.mutexWaits) { return 4 }
        if has(t, idleWaits) { return 1 }
        if let top = t.frames.first, !Culprit.isPlumbing(top) { return 3 } // running user code: a spin
        return 2
    }

    /// `SIGxxx in FUNC` for a crash, `deadlock in LOCK from A and B` when threads wait for one lock call from
    /// different callers (Deadlock),
    /// else `hang in FUNC` for the most telling thread (alphabetically first culprit among equals).
    static func titled(_ threads: [UserThread], signal: (tid: String?, name: String)?, file: String, text: String) -> TriageReport {
        if let s = signal {
            let crashed = threads.first { $0.id == s.tid } ?? (threads.count == 1 ? threads[0] : threads.first { $0.id == "1" })
            let title = Culprit.crashTitle(signalName: s.name, functions: crashed?.frames ?? [])
            return TriageReport(file: file, type: "crash", title: title, frame: culpritOf(title: title),
                                corrupted: crashed == nil, text: text)
        }
        if let d = Deadlock.title(threads.compactMap(blocked)) {
            return TriageReport(file: file, type: "hang", title: d.title, frame: d.primitive, text: text)
        }
        let best = threads.map(priority).max() ?? 0
        if best > 0 {
            let culprit = threads.filter { priority($0) == best }.map { Culprit.meaningfulFrames($0.frames)[0] }.min()!
            return TriageReport(file: file, type: "hang", title: "hang in \(culprit)", frame: culprit, text: text)
        }
        return TriageReport(file: file, type: "hang", title: "hang", frame: "", corrupted: true, text: text)
    }

    /// The culprit named by a title: after " from " when present (`SIGSEGV in memcpy from CALLER`),
    /// else the word after the first " in ".
    public static func culpritOf(title: String) -> String {
        if let r = title.range(of: " from ") { return String(title[r.upperBound...].split(separator: " ").first ?? "") }
        if let r = title.range(of: " in ") { return String(title[r.upperBound...].split(separator: " ").first ?? "") }
        return ""
    }
}
