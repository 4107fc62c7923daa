import Foundation
import Reports

/// syzkaller-style titles for hangs and crashes, built on Reports.Culprit.
public enum FindingTitles {
    /// Signal names for titles.
    public static func signalName(_ sig: Int32) -> String {
        let names: [Int32: String] = [1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
                                      7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV",
                                      12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 31: "SIGSYS"]
        return names[sig] ?? "signal \(sig)"
    }

    /// Title of a crash in `thread`: `SIGSEGV in FUNC` or `SIGSEGV in memcpy from CALLER`.
    /// A fatal signal sent with kill(2) (si_code <= 0): "killed by SIGSEGV from pid N".
    public static func sentSignal(_ signal: Int32, from sender: Int32) -> String {
        "killed by \(signalName(signal)) from pid \(sender)"
    }

    /// One bucket for every such kill, whichever pid sent it.
    public static func sentSignalSignature(_ signal: Int32) -> String {
        Signature.compute(title: "killed by \(signalName(signal)) from another process", frames: [])
    }

    public static func crash(signal: Int32, thread: ThreadCapture) -> String {
        Culprit.crashTitle(signalName: signalName(signal), functions: thread.userStack.map(\.function))
    }

    /// Meaningful frames of a thread (innermost first) for titles and signatures.
    public static func meaningful(_ t: ThreadCapture) -> [String] {
        Culprit.meaningfulFrames(t.userStack.map(\.function))
    }

    /// How strongly a thread's state suggests it is the one that hangs.
    static func priority(_ t: ThreadCapture) -> Int {
        let names = Set(t.userStack.compactMap(\.function).map { Culprit.shortName($0) })
        func has(_ prefixes: [String]) -> Bool {
            names.contains { n in prefixes.contains { n.hasPrefix($0) || n.hasPrefix("__" + $0) || n.hasPrefix("___" + $0) } }
        }
        if meaningful(t).isEmpty { return 0 }
        if t.syscall?.name == "bpf" { return 5 }
        if has(["pthread_mutex_lock", "pthread_mutex_timedlock", "lll_lock_wait", "pthread_rwlock_rdlock",
                "pthread_rwlock_wrlock", "sem_wait", "sem_timedwait", "pthread_spin_lock"]) { return 4 }
        if has(["pthread_join", "pthread_cond_wait", "pthread_cond_timedwait", "pthread_clockjoin", "nanosleep",
                "clock_nanosleep", "usleep", "sleep", "wait4", "waitpid", "waitid", "sigtimedwait", "sigwait"]) {
            return 1
        }
        if t.syscall != nil { return 2 }
        return 3 // running in user code: a spin
    }

    /// Threads (in the same process) that wait on each other's mutexes.
    static func deadlockCycle(_ p: ProcessCapture) -> [ThreadCapture]? {
        let byTid = Dictionary(p.threads.map { ($0.tid, $0) }, uniquingKeysWith: { a, _ in a })
        for start in p.threads where start.futexOwner != nil {
            var path: [Int32] = [start.tid]
            var cur = start
            while let next = cur.futexOwner, let nt = byTid[next], path.count <= p.threads.count {
                if let i = path.firstIndex(of: next) {
                    let cycle = path[i...].compactMap { byTid[$0] }
                    return cycle.count >= 2 ? cycle : nil
                }
                path.append(next)
                cur = nt
            }
        }
        return nil
    }

    /// For a mutex wait cycle, triage's deadlock rule (Reports.Deadlock): `deadlock in pthread_mutex_lock
    /// from A and B`, the lock call and its callers sorted (`deadlock in A` when the threads call it from
    /// one function); else `hang in FUNC` for the most telling thread. Among equally telling threads the
    /// alphabetically first culprit wins, so two runs of the same bug give the same title whatever the
    /// tids. culpritFrames: meaningful frames of every involved thread, for Signature.compute.
    public static func hang(_ captures: [ProcessCapture]) -> (title: String, culpritFrames: [[String]]) {
        for p in captures {
            if let cycle = deadlockCycle(p) {
                let frames = cycle.map(meaningful).filter { !$0.isEmpty }
                let blocked = cycle.compactMap { Deadlock.blocked($0.userStack.compactMap(\.function)) }
                if let d = Deadlock.title(blocked) { return (d.title, frames) }
                if let first = frames.map({ $0[0] }).min() {
                    return ("deadlock in \(first)", frames)
                }
            }
        }
        let all = captures.flatMap(\.threads)
        let best = all.map(priority).max() ?? 0
        if best > 0 {
            let involved = all.filter { priority($0) == best }.map(meaningful)
            let culprit = involved.map { $0[0] }.min()!
            return ("hang in \(culprit)", involved)
        }
        if let sc = all.compactMap(\.syscall).first(where: { $0.name == "bpf" }) ?? all.compactMap(\.syscall).first {
            let what = sc.name == "bpf" ? sc.decoded : sc.name
            return ("hang in \(what)", [[what]])
        }
        return ("hang", [])
    }
}
