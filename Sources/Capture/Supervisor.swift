import CBPFCapture
import Foundation
import Reports
#if canImport(Glibc)
import Glibc
#endif

/// What a fatal signal looked like when it was delivered.
public struct CrashInfo: Codable, Sendable, Equatable {
    public var signal: Int32
    /// si_code (e.g. SEGV_ACCERR = 2).
    public var code: Int32
    /// si_addr: the faulting address for SEGV/BUS (0 for a signal sent with kill).
    public var address: UInt64
    public var pid: Int32
    public var tid: Int32
    /// The sender's pid when the signal came from kill(2) (si_code <= 0), not from a fault.
    public var senderPID: Int32? = nil
}

/// Outcome of `Supervisor.run`.
public struct SupervisionResult: Sendable {
    public var command: [String]
    public var pid: Int32
    /// Exit code when the command exited normally.
    public var exitCode: Int32?
    /// Terminating signal when it died by one (also after our TERM/KILL on a hang).
    public var signal: Int32?
    public var stdout: String
    public var stderr: String
    public var timedOut: Bool
    public var idleTimedOut: Bool
    public var crash: CrashInfo?
    /// Threads of every process in the tree at the hang or crash.
    public var captures: [ProcessCapture]
    /// hang or crash finding with title, signature and dump; nil when the run was clean.
    public var finding: Finding?
    public var durationSeconds: Double
    /// Why the engine itself could not do its job (spawn failed, ...).
    public var error: String?
}

/// Runs a command under ptrace: a fatal signal stops it at delivery so every thread can be
/// captured before it dies; no output for `idleTimeout` or a run longer than `timeout` is a
/// hang: the whole tree is captured, then terminated (TERM, grace, KILL) by pid.
///
/// Everything runs synchronously on the calling thread: ptrace requests must come from the
/// thread that seized. The command gets SWIFT_BACKTRACE=enable=no so Swift's own backtracer
/// does not compete with us as a tracer (see bpfs_crash.h).
public enum Supervisor {
    static let crashSignals: Set<Int32> = [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE, SIGSYS]
    /// Seconds between TERM and KILL.
    public static var terminationGrace: Double = 2

    public static func run(command: [String], timeout: Double, idleTimeout: Double,
                           name: String = "supervise") -> SupervisionResult {
        let s = Session(command: command, timeout: timeout, idleTimeout: idleTimeout, name: name)
        return s.run()
    }
}

final class Session {
    let command: [String]
    let timeout: Double
    let idleTimeout: Double
    let name: String

    var root: Int32 = -1
    /// Traced tids (every thread of every process in the tree).
    var tracked: Set<Int32> = []
    var tgidCache: [Int32: Int32] = [:]
    var rootStatus: WaitStatus?
    var traced = false
    var crash: CrashInfo?
    var captures: [ProcessCapture] = []
    var out: [UInt8] = []
    var err: [UInt8] = []
    var fds: [Int32] = []
    var lastOutput = Date()
    let start = Date()
    static let outputCap = 8 << 20

    init(command: [String], timeout: Double, idleTimeout: Double, name: String) {
        self.command = command; self.timeout = timeout; self.idleTimeout = idleTimeout; self.name = name
    }

    func result(error: String? = nil) -> SupervisionResult {
        SupervisionResult(command: command, pid: root, exitCode: rootStatus.flatMap { $0.exited ? $0.exitCode : nil },
                          signal: rootStatus.flatMap { $0.signaled ? $0.termSignal : nil },
                          stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self),
                          timedOut: false, idleTimedOut: false, crash: crash, captures: captures, finding: nil,
                          durationSeconds: Date().timeIntervalSince(start), error: error)
    }

    /// The path execvp(3) would run for `name` (PATH searched when it has no slash), or nil.
    static func executable(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where access("\(dir)/\(name)", X_OK) == 0 { return "\(dir)/\(name)" }
        return nil
    }

    func run() -> SupervisionResult {
        guard !command.isEmpty else { return result(error: "empty command") }
        // A command that cannot start is a usage error (exit 2), not a failing command: find
        // it the way execvp will, before anything is spawned.
        guard Self.executable(command[0]) != nil else {
            return result(error: "cannot start \(command[0]): no executable file of that name")
        }
        let o: (read: Int32, write: Int32), e: (read: Int32, write: Int32), g: (read: Int32, write: Int32)
        do { o = try Spawn.pipe(); e = try Spawn.pipe(); g = try Spawn.pipe() } catch {
            return result(error: "pipe: \(error)")
        }
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        do {
            root = try Spawn.start(command, env: env, fds: [-1, o.write, e.write], gateFD: g.read)
        } catch {
            [o.read, o.write, e.read, e.write, g.read, g.write].forEach { _ = close($0) }
            return result(error: "spawn \(command[0]): \(error)")
        }
        close(o.write); close(e.write); close(g.read)
        fds = [o.read, e.read]
        // Seize before the child execs: it is blocked on the gate pipe.
        let opts = UInt(BPFS_O_TRACECLONE | BPFS_O_TRACEFORK | BPFS_O_TRACEVFORK | BPFS_O_TRACEEXEC
                        | BPFS_O_TRACEEXIT | BPFS_O_EXITKILL)
        // If seizing fails (another tracer), the root is still waited for as a plain child
        // and a hang capture falls back to /proc plus a standalone capture.
        traced = bpfs_ptrace_seize(root, opts) == 0
        tracked.insert(root)
        var one: UInt8 = 1
        _ = write(g.write, &one, 1)
        close(g.write)
        tgidCache[root] = root

        var hung = false, idle = false, total = false
        var killStage = 0
        var killTime = Date.distantFuture
        while true {
            pumpIO(timeoutMs: 10)
            pumpTrace()
            if rootStatus != nil && tracked.isEmpty { break }
            if rootStatus != nil && killStage == 0 {
                // Root is gone; what is left of the tree belongs to the command: end it.
                killTree(SIGKILL); killStage = 2; killTime = Date()
            }
            let now = Date()
            if killStage == 0 {
                idle = idleTimeout > 0 && now.timeIntervalSince(lastOutput) >= idleTimeout
                total = timeout > 0 && now.timeIntervalSince(start) >= timeout
                if idle || total {
                    hung = crash == nil
                    if hung { captureHang() }
                    killTree(SIGTERM); killStage = 1; killTime = now
                }
            } else if killStage == 1 && now.timeIntervalSince(killTime) >= Supervisor.terminationGrace {
                killTree(SIGKILL); killStage = 2; killTime = now
            } else if killStage == 2 && now.timeIntervalSince(killTime) >= 5 {
                break // unkillable (D state); give up waiting, bounded
            }
        }
        // Remaining output: bounded, a leftover grandchild may hold the pipe.
        let drainEnd = Date().addingTimeInterval(1)
        while !fds.isEmpty && Date() < drainEnd { pumpIO(timeoutMs: 20) }
        fds.forEach { _ = close($0) }
        fds = []

        var r = result()
        r.idleTimedOut = hung && idle
        r.timedOut = hung && total
        r.finding = makeFinding(hung: hung, idle: idle)
        return r
    }

    // MARK: output

    func pumpIO(timeoutMs: Int32) {
        guard !fds.isEmpty else { usleep(UInt32(timeoutMs) * 1000); return }
        var p = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let n = poll(&p, nfds_t(p.count), timeoutMs)
        guard n > 0 else { return }
        var buf = [UInt8](repeating: 0, count: 65536)
        var closed: [Int32] = []
        for pf in p where pf.revents != 0 {
            let k = read(pf.fd, &buf, buf.count)
            if k > 0 {
                lastOutput = Date()
                if pf.fd == fds.first {
                    if out.count < Session.outputCap { out += buf[0..<k] }
                } else if err.count < Session.outputCap { err += buf[0..<k] }
            } else if k == 0 || (errno != EINTR && errno != EAGAIN) {
                closed.append(pf.fd)
            }
        }
        for c in closed { close(c); fds.removeAll { $0 == c } }
    }

    // MARK: tracing

    func tgid(_ tid: Int32) -> Int32 {
        if let t = tgidCache[tid] { return t }
        let t = ProcFS.statusField(tid, "Tgid").flatMap { Int32($0) } ?? tid
        tgidCache[tid] = t
        return t
    }

    /// Handles every pending ptrace/wait event of every traced thread.
    func pumpTrace() {
        for tid in tracked.sorted() {
            for _ in 0..<8 {
                guard let r = try? Spawn.wait(tid, noHang: true) else {
                    tracked.remove(tid) // ECHILD: gone and reaped elsewhere
                    break
                }
                if r.pid == 0 { break }
                handle(tid, WaitStatus(r.status))
                if !tracked.contains(tid) { break }
            }
        }
    }

    func eventMessage(_ tid: Int32) -> UInt {
        var msg: UInt = 0
        _ = bpfs_ptrace_geteventmsg(tid, &msg)
        return msg
    }

    func handle(_ tid: Int32, _ s: WaitStatus) {
        if !s.stopped {
            tracked.remove(tid)
            if tid == root { rootStatus = s }
            return
        }
        switch s.event {
        case Int32(BPFS_EVENT_FORK), Int32(BPFS_EVENT_VFORK), Int32(BPFS_EVENT_CLONE):
            let child = Int32(truncatingIfNeeded: eventMessage(tid))
            if child > 0 { tracked.insert(child) }
            _ = bpfs_ptrace_cont(tid, 0)
        case Int32(BPFS_EVENT_EXIT):
            let st = WaitStatus(Int32(truncatingIfNeeded: eventMessage(tid)))
            // Fallback: a crash we did not see at delivery (the handler re-raised, say).
            if crash == nil, st.signaled, Supervisor.crashSignals.contains(st.termSignal) {
                captureCrash(tid: tid, signal: st.termSignal, code: 0, address: 0)
            }
            _ = bpfs_ptrace_cont(tid, 0)
        case 0:
            let sig = s.stopSignal
            if crash == nil, Supervisor.crashSignals.contains(sig),
               ProcFS.caughtSignals(tgid(tid)) & (UInt64(1) << UInt64(sig - 1)) == 0 {
                // Uncaught: this delivery kills the process. Capture while it still exists.
                var signo: Int32 = 0, code: Int32 = 0
                var addr: UInt64 = 0
                var sender: Int32 = 0
                _ = bpfs_ptrace_getsiginfo(tid, &signo, &code, &addr, &sender)
                captureCrash(tid: tid, signal: sig, code: code, address: addr, sender: code <= 0 ? sender : nil)
            }
            _ = bpfs_ptrace_cont(tid, sig)
        default: // PTRACE_EVENT_STOP (group-stop, interrupt, new tracee), EXEC, ...
            _ = bpfs_ptrace_cont(tid, 0)
        }
    }

    /// PTRACE_INTERRUPTs tids and waits (bounded) until each reports a stop.
    /// Returns the stopped tids with the signal to deliver when resuming.
    func freeze(_ tids: [Int32]) -> [(tid: Int32, sig: Int32)] {
        var pending = Set(tids.filter { bpfs_ptrace_interrupt($0) == 0 })
        var stopped: [(Int32, Int32)] = []
        let end = Date().addingTimeInterval(1.5)
        while !pending.isEmpty && Date() < end {
            for tid in pending.sorted() {
                guard let r = try? Spawn.wait(tid, noHang: true) else { pending.remove(tid); tracked.remove(tid); continue }
                if r.pid == 0 { continue }
                let s = WaitStatus(r.status)
                pending.remove(tid)
                if !s.stopped {
                    tracked.remove(tid)
                    if tid == root { rootStatus = s }
                    continue
                }
                var sig: Int32 = 0
                switch s.event {
                case Int32(BPFS_EVENT_FORK), Int32(BPFS_EVENT_VFORK), Int32(BPFS_EVENT_CLONE):
                    let child = Int32(truncatingIfNeeded: eventMessage(tid))
                    if child > 0 { tracked.insert(child) }
                case 0: sig = s.stopSignal
                default: break
                }
                stopped.append((tid, sig))
            }
            if !pending.isEmpty { usleep(200) }
        }
        // Threads still pending (uninterruptible sleep) stop later; pumpTrace resumes them.
        return stopped
    }

    func resume(_ stopped: [(tid: Int32, sig: Int32)]) {
        for s in stopped { _ = bpfs_ptrace_cont(s.tid, s.sig) }
    }

    func captureCrash(tid: Int32, signal: Int32, code: Int32, address: UInt64, sender: Int32? = nil) {
        let t0 = Date()
        let pid = tgid(tid)
        var pc = StackCapture.readProcState(pid: pid)
        let others = tracked.filter { $0 != tid && tgid($0) == pid }.sorted()
        let stopped = freeze(others)
        StackCapture.unwindStopped(into: &pc, tids: [tid] + stopped.map(\.tid))
        resume(stopped)
        pc.durationSeconds = Date().timeIntervalSince(t0)
        captures = [pc]
        crash = CrashInfo(signal: signal, code: code, address: address, pid: pid, tid: tid, senderPID: sender)
    }

    func captureHang() {
        let t0 = Date()
        if !traced {
            captures = StackCapture.captureTree(root: root)
            return
        }
        let pids = Array(Set(tracked.map(tgid))).sorted { a, b in a == root ? true : (b == root ? false : a < b) }
        var states = pids.map { StackCapture.readProcState(pid: $0) }
        let stopped = freeze(tracked.sorted())
        for i in states.indices {
            let mine = stopped.map(\.tid).filter { tgid($0) == states[i].pid }
            StackCapture.unwindStopped(into: &states[i], tids: mine)
        }
        resume(stopped)
        let d = Date().timeIntervalSince(t0)
        for i in states.indices { states[i].durationSeconds = d }
        captures = states
    }

    func killTree(_ sig: Int32) {
        for pid in Set(tracked.map(tgid)) where pid > 1 { kill(pid, sig) }
        if rootStatus == nil && root > 1 { kill(root, sig) }
    }

    // MARK: finding

    func makeFinding(hung: Bool, idle: Bool) -> Finding? {
        let cmd = command.joined(separator: " ")
        if let c = crash {
            let thread = captures.first?.threads.first { $0.tid == c.tid }
            if let sender = c.senderPID {
                // Sent, not faulted: where the thread happened to be is not the culprit.
                let title = FindingTitles.sentSignal(c.signal, from: sender)
                let header = "\(title)\ncommand: \(cmd)\nsignal \(FindingTitles.signalName(c.signal)) si_code \(c.code) "
                    + "sent by pid \(sender) to thread \(c.tid) of process \(c.pid)"
                return Finding(type: .crash, title: title, signature: FindingTitles.sentSignalSignature(c.signal),
                               scenario: name, check: "no-crash", dump: CaptureFormatter.dump(captures, header: header))
            }
            let title = thread.map { FindingTitles.crash(signal: c.signal, thread: $0) } ?? FindingTitles.signalName(c.signal)
            let frames = thread.map { [FindingTitles.meaningful($0)] } ?? []
            let header = "\(title)\ncommand: \(cmd)\nsignal \(FindingTitles.signalName(c.signal)) code \(c.code) "
                + "address 0x\(String(c.address, radix: 16)) in thread \(c.tid) of process \(c.pid)"
            return Finding(type: .crash, title: title, signature: Signature.compute(title: title, frames: frames),
                           scenario: name, check: "no-crash", dump: CaptureFormatter.dump(captures, header: header))
        }
        if hung {
            let h = FindingTitles.hang(captures)
            let why = idle ? "no output for \(idleTimeout) s (idle timeout)" : "still running after \(timeout) s (timeout)"
            let header = "\(h.title)\ncommand: \(cmd)\n\(why)"
            return Finding(type: .hang, title: h.title, signature: Signature.compute(title: h.title, frames: h.culpritFrames),
                           scenario: name, check: "no-hang", dump: CaptureFormatter.dump(captures, header: header))
        }
        return nil
    }
}
