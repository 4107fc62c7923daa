import BPFKit
import CBPFStress
import Foundation
import Capture
import Reports

/// Options of one run that are not part of the campaign.
public struct RunOptions: Sendable {
    public var executable: String = "/proc/self/exe"
    public var runtimeName: String = "kernel"
    /// TERM, then this grace period, then KILL.
    public var stopGrace: Double = 3
    public var maxRestarts: Int? = nil
    public var statusToTTY: Bool = isatty(STDERR_FILENO) != 0
    public var statusInterval: Double = 5
    public var quiet: Bool = false
    /// What to do with a hung worker after capturing it.
    public var onHang: HangAction = .kill
    /// Read /dev/kmsg for kernel splats during the run.
    public var watchKernelLog: Bool = true
    /// Also treat messages written to /dev/kmsg from user space as kernel reports (tests only:
    /// BPFSTRESS_KMSG_INCLUDE_USER=1), so the path can be proven without breaking the kernel.
    public var kernelLogIncludesUser: Bool = ProcessInfo.processInfo.environment["BPFSTRESS_KMSG_INCLUDE_USER"] == "1"
    /// Inventory BPF objects, cgroups, netns and bpffs mounts before and after the campaign.
    public var leakCheck: Bool = true
    public init() {}
}

public enum HangAction: String, Sendable { case kill, keep }

/// A worker process the coordinator started.
final class WorkerProcess {
    let slot: Int
    let generation: Int
    let scenarioIndex: Int
    let pid: pid_t
    let startedAt: Date
    /// Our end of the crash socketpair: the worker's handler reports a fatal signal here and
    /// waits for one byte back, so we can capture it before it dies.
    let crashFD: Int32
    var findingsConsumed = 0
    var exited = false
    /// Set when the watchdog or the crash path already made the finding for this death.
    var deathExplained: String?
    /// Left SIGSTOPped for a debugger (--on-hang keep): never killed by us.
    var kept = false
    /// A hung worker gets TERM first, then KILL at this time (bpfs_now_ns): the pause lets
    /// its main thread leave in-flight state for the findings (Scenario.stopping).
    var killAt: UInt64?

    init(slot: Int, generation: Int, scenarioIndex: Int, pid: pid_t, crashFD: Int32) {
        self.slot = slot; self.generation = generation; self.scenarioIndex = scenarioIndex; self.pid = pid
        self.crashFD = crashFD
        startedAt = Date()
    }
}

/// The result of a run, before it is written out.
public struct RunOutcome {
    public var summary: RunSummary
    public var findings: [Finding]
    public var log: [String]
}

/// The manager: spawns the worker fleet, watches it through shared memory and waitpid,
/// restarts the dead, stops everyone at the end, and turns failed checks into findings.
/// It never dies because a worker did.
public final class Coordinator {
    let plan: RunPlan
    let options: RunOptions
    let environment: EnvironmentProbe
    let runtime: any Runtime
    var telemetry: TelemetryBlock!
    var cgroup: CampaignCgroup?
    /// Scratch directory for state workers leave on stop (see attachWorkerState).
    var stateDir: String?
    var workers: [WorkerProcess] = []
    var usedSlots: [(slot: Int, scenarioIndex: Int)] = []
    var nextSlot = 0
    var restarts = 0
    var deaths: [WorkerDeath] = []
    var findings: [Finding] = []
    var logLines: [String] = []
    let started = Date()
    var startNs: UInt64 = 0
    var endNs: UInt64 = 0
    /// Extra per-tick hook (tests, plugins).
    public var watchdog: ((Coordinator) -> Void)?
    var kernelLog: KernelLogWatcher?
    var timeline: [TimelineSample] = []
    /// "scenario/check" -> why that check could not run here.
    var skippedChecks: [String: String] = [:]

    public init(plan: RunPlan, options: RunOptions, environment: EnvironmentProbe, runtime: any Runtime) {
        self.plan = plan; self.options = options; self.environment = environment; self.runtime = runtime
    }

    func log(_ s: String) {
        let stamp = String(format: "%7.3f", Date().timeIntervalSince(started))
        logLines.append("[\(stamp)] \(s)")
        if !options.quiet && !options.statusToTTY { Stderr.write("bpfstress: \(s)\n") }
    }

    public func run() throws -> RunOutcome {
        let totalWorkers = plan.scenarios.map(\.workers).reduce(0, +)
        let restartBudget = options.maxRestarts ?? max(4, totalWorkers * 4)
        telemetry = try TelemetryBlock(slots: max(1, totalWorkers + restartBudget))
        defer { close(telemetry.fd) }
        stateDir = Self.makeStateDirectory()
        defer { if let d = stateDir { try? FileManager.default.removeItem(atPath: d) } }
        startNs = bpfs_now_ns()
        // Saturating: callers bound durations (30 days), but a Double past UInt64 would trap here.
        endNs = startNs &+ UInt64(min(max(plan.campaign.duration, 0), 3e9) * 1e9)
        log("campaign \(plan.campaign.name) seed \(plan.seed) runtime \(runtime.name) kernel \(environment.kernelRelease)")
        for s in plan.skipped { log("skip \(s.name): \(s.reason)") }

        let inventoryBefore = options.leakCheck ? Inventory.take(runtime: runtime) : nil
        if plan.scenarios.contains(where: { $0.descriptor.requirements.contains(.cgroupHooks) }) {
            let name = "bpfstress.\(getpid()).\(String(plan.seed, radix: 16))"
            cgroup = try CampaignCgroup.create(name: name)
            log("campaign cgroup \(cgroup!.path)")
        }
        defer { tearDownCgroup() }

        if options.watchKernelLog {
            do {
                kernelLog = try KernelLogWatcher()
                kernelLog?.includeUserMessages = options.kernelLogIncludesUser
            } catch { log("kernel log not watched: \(error)") }
        }
        // Spawning a large fleet takes seconds: say so before the first tick's status line.
        let fleet = plan.scenarios.map(\.workers).reduce(0, +)
        spawnStatus(0, of: fleet)
        for (i, s) in plan.scenarios.enumerated() {
            for _ in 0..<s.workers {
                try spawn(scenarioIndex: i, generation: 0)
                spawnStatus(workers.count, of: fleet)
            }
        }

        var lastStatus = Date.distantPast
        var lastSample = Date()
        var lastSampleOps = plan.scenarios.indices.map { _ in UInt64(0) }
        while bpfs_now_ns() < endNs && bpfs_stop_requested() == 0 {
            usleep(100_000)
            checkCrashes()
            reap(restartBudget: restartBudget)
            collectFindings()
            checkHangs()
            enforceKills()
            pollKernelLog()
            watchdog?(self)
            let now = Date()
            if now.timeIntervalSince(lastSample) >= 1 {
                let dt = now.timeIntervalSince(lastSample)
                var rates: [String: Double] = [:]
                for i in plan.scenarios.indices {
                    let ops = totals(scenarioIndex: i).ops
                    rates[plan.scenarios[i].descriptor.name] = Double(ops &- lastSampleOps[i]) / dt
                    lastSampleOps[i] = ops
                }
                timeline.append(TimelineSample(t: now.timeIntervalSince(started), opsPerSecond: rates))
                lastSample = now
            }
            if options.statusToTTY && !options.quiet {
                if now.timeIntervalSince(lastStatus) >= 0.25 { printStatus(final: false); lastStatus = now }
            } else if now.timeIntervalSince(lastStatus) >= options.statusInterval {
                printStatus(final: false); lastStatus = now
            }
        }
        if bpfs_stop_requested() != 0 { log("stopping early on signal \(bpfs_stop_signal())") }
        stopAll()
        collectFindings()
        pollKernelLog(final: true)
        RuntimeFactory.campaignFini(runtime)
        tearDownCgroup()
        if let before = inventoryBefore { checkLeaks(before: before) }
        if options.statusToTTY && !options.quiet { printStatus(final: true) }
        return makeOutcome()
    }

    // MARK: - workers

    func spawn(scenarioIndex: Int, generation: Int) throws {
        let s = plan.scenarios[scenarioIndex]
        let slot = nextSlot
        nextSlot += 1
        telemetry.reset(slot: slot)
        // min(): a worker spawned after the end (a 10 ms campaign) must not wrap to 584 years.
        let remaining = max(0.5, Double(endNs &- min(endNs, bpfs_now_ns())) / 1e9)
        var spec = WorkerSpec(slot: slot, generation: generation, scenario: s.descriptor.name, threads: s.threads,
                              seed: plan.seed &+ UInt64(slot) &* 0x9E37_79B9,
                              durationSeconds: remaining,
                              cgroupPath: s.descriptor.requirements.contains(.cgroupHooks) ? cgroup?.path : nil,
                              params: s.params, runtime: options.runtimeName, telemetryFD: 3)
        spec.runtimeState = RuntimeFactory.campaignState(of: runtime)
        spec.stateDirectory = stateDir
        let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
        // argv[0] is the real path, so `ps`/`pgrep -f 'bpfstress worker'` show what this is.
        let argv0 = (try? FileManager.default.destinationOfSymbolicLink(atPath: options.executable)) ?? options.executable
        let args = [argv0, "worker", "--spec", json]
        var env = ProcessInfo.processInfo.environment
        // Our crash path owns the fatal signals; Swift's backtracer must not compete for them.
        env["SWIFT_BACKTRACE"] = "enable=no"
        let envList = env.map { "\($0.key)=\($0.value)" }
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw StressError.system("socketpair", errno)
        }
        defer { close(pair[1]) }
        // Workers report only through telemetry; their stdio must not hold the caller's pipes
        // open (a kept worker would block whoever waits for our output to end).
        let devnull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { if devnull >= 0 { close(devnull) } }
        let pid: pid_t
        do {
            pid = try withCStringArray(args) { argv in
                try withCStringArray(envList) { envp in
                    var from: [Int32] = [telemetry.fd, pair[1], devnull, devnull, devnull]
                    var to: [Int32] = [3, 4, 0, 1, 2]
                    let pid = bpfs_spawn_worker(options.executable, argv, envp, &from, &to, devnull >= 0 ? 5 : 2)
                    if pid < 0 { throw StressError.system("posix_spawn worker", -pid) }
                    return pid
                }
            }
        } catch { close(pair[0]); throw error }
        _ = fcntl(pair[0], F_SETFL, O_NONBLOCK)
        usedSlots.append((slot, scenarioIndex))
        workers.append(WorkerProcess(slot: slot, generation: generation, scenarioIndex: scenarioIndex, pid: pid,
                                     crashFD: pair[0]))
        log("worker slot \(slot) pid \(pid) scenario \(s.descriptor.name) threads \(s.threads)\(generation > 0 ? " (restart \(generation))" : "")")
    }

    var liveWorkers: [WorkerProcess] { workers.filter { !$0.exited } }

    /// waitpid(WNOHANG) on each of our children; records why a worker died and restarts it.
    func reap(restartBudget: Int) {
        for w in workers where !w.exited {
            var status: Int32 = 0
            let r = waitpid(w.pid, &status, WNOHANG)
            guard r == w.pid else { continue }
            w.exited = true
            close(w.crashFD)
            handleExit(w, status: status, restartBudget: restartBudget)
        }
    }

    func handleExit(_ w: WorkerProcess, status: Int32, restartBudget: Int) {
        let s = plan.scenarios[w.scenarioIndex]
        let slot = telemetry.slot(w.slot)
        let phase = slot.pointee.phase
        let sig = status & 0x7f
        let code = (status >> 8) & 0xff
        collectFindings(of: w)
        if sig == 0 && code == WorkerMain.exitOK && phase == BPFS_PHASE_DONE.rawValue { return }
        if sig == 0 && code == WorkerMain.exitSetupFailed {
            log("worker slot \(w.slot) pid \(w.pid) setup failed; not restarted")
            return
        }
        var reason = sig != 0 ? "killed by \(FindingTitles.signalName(sig))" : "exited with status \(code)"
        slot.pointee.phase = BPFS_PHASE_DEAD.rawValue
        if let why = w.deathExplained { reason += " (\(why))" }
        // A KILL nobody here sent: the kernel log says whether the OOM killer chose it.
        let oom = sig == SIGKILL && w.deathExplained == nil
            ? KernelOOM.killLine(pid: w.pid, includeUser: options.kernelLogIncludesUser) : nil
        if let line = oom { reason += " (OOM killer: \(line))" }
        deaths.append(WorkerDeath(slot: w.slot, pid: w.pid, scenario: s.descriptor.name, reason: reason, at: Date()))
        log("worker slot \(w.slot) pid \(w.pid) \(reason)")
        if w.deathExplained == nil {
            let title = oom != nil ? "worker killed by the OOM killer in \(s.descriptor.name)" : "worker \(reason) in \(s.descriptor.name)"
            var dump = "worker slot \(w.slot) (pid \(w.pid), scenario \(s.descriptor.name)) \(reason)\n"
            dump += flightRecorderText(slot: w.slot)
            addFinding(Finding(type: sig != 0 ? .crash : .failure, title: title,
                               signature: Signature.compute(title: title, frames: []), scenario: s.descriptor.name,
                               check: "worker-survives", worker: w.slot, op: nil, dump: dump))
        }
        let remaining = Double(endNs &- min(endNs, bpfs_now_ns())) / 1e9
        if restarts < restartBudget && remaining > 1 && bpfs_stop_requested() == 0 {
            restarts += 1
            do { try spawn(scenarioIndex: w.scenarioIndex, generation: w.generation + 1) } catch {
                log("restart of slot \(w.slot) failed: \(error)")
            }
        }
    }

    /// KILL the hung workers whose pause after TERM is over.
    func enforceKills(now: UInt64 = bpfs_now_ns()) {
        for w in liveWorkers where !w.kept {
            if let t = w.killAt, now >= t { kill(w.pid, SIGKILL); w.killAt = nil }
        }
    }

    /// TERM every live worker, wait the grace period, KILL the rest, reap all.
    func stopAll() {
        telemetry.requestStop()
        // Hung workers already have their finding: give them what is left of their pause,
        // not the grace period (they would only add "did not stop on TERM").
        if let last = liveWorkers.compactMap(\.killAt).max() {
            let waitUntil = min(last, bpfs_now_ns() + 2_000_000_000)
            while bpfs_now_ns() < waitUntil { usleep(20_000) }
            enforceKills(now: UInt64.max)
        }
        for w in liveWorkers where w.kept {
            // Not ours to end: the user asked to keep it for a debugger. Leave the campaign
            // cgroup so that the cgroup can still be removed.
            w.exited = true
            close(w.crashFD)
            log("worker slot \(w.slot) pid \(w.pid) left stopped for a debugger (gdb -p \(w.pid)); not reaped")
        }
        for w in liveWorkers { kill(w.pid, SIGTERM) }
        let graceEnd = Date().addingTimeInterval(options.stopGrace)
        while !liveWorkers.isEmpty && Date() < graceEnd {
            checkCrashes()
            for w in liveWorkers {
                var status: Int32 = 0
                if waitpid(w.pid, &status, WNOHANG) == w.pid {
                    w.exited = true
                    close(w.crashFD)
                    handleExit(w, status: status, restartBudget: 0)
                }
            }
            usleep(20_000)
        }
        for w in liveWorkers {
            log("worker slot \(w.slot) pid \(w.pid) ignored TERM for \(options.stopGrace)s; sending KILL")
            let s = plan.scenarios[w.scenarioIndex]
            let captures = StackCapture.capture(pid: w.pid)
            let (title0, frames) = FindingTitles.hang([captures])
            let title = "worker did not stop on TERM: \(title0) in \(s.descriptor.name)"
            addFinding(Finding(type: .hang, title: title, signature: Signature.compute(title: title, frames: frames),
                               scenario: s.descriptor.name, check: "no-hang", worker: w.slot,
                               dump: CaptureFormatter.dump([captures], flightRecorder: flightRecorders(slots: [w.slot]),
                                                           header: "worker slot \(w.slot) pid \(w.pid) ignored SIGTERM for \(options.stopGrace)s")))
            kill(w.pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(w.pid, &status, 0)
            w.exited = true
            close(w.crashFD)
        }
    }

    func tearDownCgroup() {
        guard let cg = cgroup else { return }
        do { try cg.teardown(); log("removed campaign cgroup \(cg.path)") } catch {
            log("campaign cgroup teardown failed: \(error)")
        }
        cgroup = nil
    }

    /// Everything the campaign created that is still there after teardown is a `leak` finding.
    func checkLeaks(before: Inventory) {
        let r = LeakCheck.compare(before: before, runtime: runtime, owned: LeakCheck.ownedNames(plan: plan))
        for o in r.unattributed { log("new object not attributed to this campaign: \(o)") }
        guard !r.leaks.isEmpty else { log("leak check: clean"); return }
        let scenario = plan.scenarios.count == 1 ? plan.scenarios[0].descriptor.name : "campaign"
        let kinds = Set(r.leaks.map { String($0.split(separator: " ").first ?? "") }).sorted()
        let title = "leaked \(kinds.joined(separator: ", ")) after \(scenario)"
        addFinding(Finding(type: .leak, title: title, signature: Signature.compute(title: title, frames: []),
                           scenario: scenario, check: "no-leaks",
                           dump: "still present after teardown:\n" + r.leaks.map { "  " + $0 }.joined(separator: "\n")))
    }

    // MARK: - findings

    func addFinding(_ f: Finding) {
        findings.append(f)
        log("finding [\(f.type.rawValue)] \(f.title)")
    }

    func collectFindings() { for w in workers { collectFindings(of: w) } }

    func collectFindings(of w: WorkerProcess) {
        let slot = telemetry.slot(w.slot)
        let reserved = Int(slot.pointee.nfindings)
        let s = plan.scenarios[w.scenarioIndex]
        while w.findingsConsumed < min(reserved, Int(BPFS_MAX_FINDINGS)) {
            let ready = withUnsafeBytes(of: slot.pointee.findings) { raw -> Bool in
                let f = raw.bindMemory(to: bpfs_finding_tm.self)[w.findingsConsumed]
                return f.ready != 0
            }
            guard ready else { break }
            let f = withUnsafeBytes(of: slot.pointee.findings) { $0.bindMemory(to: bpfs_finding_tm.self)[w.findingsConsumed] }
            w.findingsConsumed += 1
            let title = withUnsafeBytes(of: f.title) { cString($0) }
            let text = withUnsafeBytes(of: f.text) { cString($0) }
            let checks = s.descriptor.checks
            let check = Int(f.check) < checks.count ? checks[Int(f.check)].name : "setup"
            if f.kind == WorkerContext.skipMarker {
                if skippedChecks[s.descriptor.name + "/" + check] == nil { log("skip \(s.descriptor.name) \(check): \(text)") }
                skippedChecks[s.descriptor.name + "/" + check] = text
                continue
            }
            let op = OpKind(rawValue: f.kind).flatMap { $0 == .none ? nil : $0.name }
            var dump = "worker slot \(w.slot) pid \(w.pid) tid \(f.tid) scenario \(s.descriptor.name) check \(check)\n\(text)\n"
            dump += flightRecorderText(slot: w.slot)
            addFinding(Finding(type: .failure, title: title, signature: Signature.compute(title: title, frames: []),
                               scenario: s.descriptor.name, check: check, worker: w.slot, op: op, dump: dump))
        }
    }

    /// The flight recorder of every thread of a slot, in-flight op first.
    public func flightRecorderText(slot: Int) -> String {
        let n = Int(telemetry.slot(slot).pointee.nthreads)
        let base = telemetry.header.pointee.start_ns
        var out = ""
        for t in 0..<min(n, Int(BPFS_MAX_THREADS)) {
            let snap = telemetry.snapshot(slot: slot, thread: t)
            out += "thread \(t) tid \(snap.tid): \(snap.opsTotal) ops\n"
            if let f = snap.inflight {
                let age = secondsSince(f.startNs, now: bpfs_now_ns())
                out += String(format: "  in flight: %@ %@ for %.3fs\n", f.kind.name, f.summary, age)
            }
            for r in telemetry.ring(slot: slot, thread: t).suffix(16).reversed() {
                out += "  " + r.line(relativeTo: base) + "\n"
            }
        }
        return out
    }

    // MARK: - status and summary

    struct Totals { var ops: UInt64 = 0; var kindOps = [UInt64](repeating: 0, count: Int(BPFS_MAX_KINDS))
        var errnoSeen = [UInt64](repeating: 0, count: Int(BPFS_MAX_ERRNO))
        var errnoTolerated = [UInt64](repeating: 0, count: Int(BPFS_MAX_ERRNO))
        var checkPass = [UInt64](repeating: 0, count: Int(BPFS_MAX_CHECKS))
        var checkFail = [UInt64](repeating: 0, count: Int(BPFS_MAX_CHECKS)) }

    func totals(scenarioIndex: Int?) -> Totals {
        var t = Totals()
        for u in usedSlots where scenarioIndex == nil || u.scenarioIndex == scenarioIndex {
            let n = min(Int(telemetry.slot(u.slot).pointee.nthreads), Int(BPFS_MAX_THREADS))
            for th in 0..<n {
                let s = telemetry.snapshot(slot: u.slot, thread: th)
                t.ops += s.opsTotal
                for i in 0..<t.kindOps.count { t.kindOps[i] += s.kindOps[i] }
                for i in 0..<t.errnoSeen.count { t.errnoSeen[i] += s.errnoSeen[i]; t.errnoTolerated[i] += s.errnoTolerated[i] }
                for i in 0..<t.checkPass.count { t.checkPass[i] += s.checkPass[i]; t.checkFail[i] += s.checkFail[i] }
            }
        }
        return t
    }

    var lastOps: UInt64 = 0
    var lastOpsAt = Date()

    func printStatus(final: Bool) {
        let elapsed = Date().timeIntervalSince(started)
        let ops = totals(scenarioIndex: nil).ops
        let dt = Date().timeIntervalSince(lastOpsAt)
        let rate = dt > 0 ? Double(ops &- lastOps) / dt : 0
        lastOps = ops; lastOpsAt = Date()
        let line = String(format: "[%5.1fs/%.0fs] ops %llu  ops/s %.0f  workers %d/%d  restarts %d  findings %d",
                          elapsed, plan.campaign.duration, ops, rate, liveWorkers.count,
                          plan.scenarios.map(\.workers).reduce(0, +), restarts, findings.count)
        if options.quiet { return }
        if options.statusToTTY {
            Stderr.write("\r\u{1B}[K" + line + (final ? "\n" : ""))
        } else {
            Stderr.write("bpfstress: " + line + "\n")
        }
        logLines.append(line)
    }

    /// "spawning workers N/M": redrawn on a TTY, one plain line (at 0) otherwise.
    func spawnStatus(_ done: Int, of total: Int) {
        if options.quiet { return }
        let line = String(format: "[%5.1fs/%.0fs] spawning workers %d/%d", Date().timeIntervalSince(started),
                          plan.campaign.duration, done, total)
        if options.statusToTTY {
            Stderr.write("\r\u{1B}[K" + line)
        } else if done == 0 {
            Stderr.write("bpfstress: " + line + "\n")
        }
    }

    /// mkdtemp of /tmp/bpfstress-state-XXXXXX (nil, logged, when it fails: workers then keep
    /// no state for us).
    static func makeStateDirectory() -> String? {
        var template = Array((NSTemporaryDirectory() as NSString).appendingPathComponent("bpfstress-state-XXXXXX").utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return nil }
        return String(cString: p)
    }

    /// Files a worker left in the state directory: `inflight-s<slot>-*.prog` are programs
    /// that were running when it was told to stop; each goes into the dump of that worker
    /// slot's hang and crash findings.
    func attachWorkerState() {
        guard let dir = stateDir, let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for f in files.sorted() where f.hasPrefix("inflight-s") && f.hasSuffix(".prog") {
            let slotText = f.dropFirst("inflight-s".count).prefix { $0.isNumber }
            guard let slot = Int(slotText), let text = try? String(contentsOfFile: dir + "/" + f, encoding: .utf8) else { continue }
            var attached = false
            for i in findings.indices where findings[i].worker == slot && (findings[i].type == .hang || findings[i].type == .crash) {
                findings[i].dump += "\n\n--- in-flight program of worker slot \(slot), written on stop (\(f)) ---\n" + text
                attached = true
            }
            log("worker slot \(slot) left \(f)\(attached ? ", attached to its findings" : "")")
        }
    }

    func makeOutcome() -> RunOutcome {
        attachWorkerState()
        let ended = Date()
        let wall = max(0.001, ended.timeIntervalSince(started))
        var scenarios: [ScenarioSummary] = []
        for (i, s) in plan.scenarios.enumerated() {
            let t = totals(scenarioIndex: i)
            var byKind: [String: UInt64] = [:]
            for k in OpKind.allCases where k != .none && t.kindOps[Int(k.rawValue)] > 0 { byKind[k.name] = t.kindOps[Int(k.rawValue)] }
            var tolerated: [String: UInt64] = [:]
            for (e, n) in t.errnoTolerated.enumerated() where n > 0 && e > 0 { tolerated[ErrnoName.name(Int32(e))] = n }
            let checks = s.descriptor.checks.enumerated().map { (ci, c) -> CheckSummary in
                let failedHere = UInt64(findings.filter { $0.scenario == s.descriptor.name && $0.check == c.name }.count)
                return CheckSummary(name: c.name, passed: t.checkPass[ci], failed: max(t.checkFail[ci], failedHere),
                                    skipReason: skippedChecks[s.descriptor.name + "/" + c.name])
            }
            scenarios.append(ScenarioSummary(name: s.descriptor.name, status: "ran", skipReason: nil, workers: s.workers,
                                             threads: s.threads, ops: t.ops, opsPerSecond: Double(t.ops) / wall,
                                             opsByKind: byKind, toleratedErrnos: tolerated, checks: checks))
        }
        for sk in plan.skipped {
            scenarios.append(ScenarioSummary(name: sk.name, status: "skipped", skipReason: sk.reason, workers: 0, threads: 0,
                                             ops: 0, opsPerSecond: 0, opsByKind: [:], toleratedErrnos: [:], checks: []))
        }
        let store = BucketStore()
        findings.forEach(store.add)
        let summary = RunSummary(version: BPFStressVersion.string, campaign: plan.campaign.name,
                                 seed: plan.seed, runtime: runtime.name, kernelRelease: environment.kernelRelease,
                                 hostname: environment.hostname, startedAt: started, endedAt: ended,
                                 durationSeconds: wall, workers: plan.scenarios.map(\.workers).reduce(0, +),
                                 threads: plan.campaign.threads, exitCode: findings.isEmpty ? 0 : 1,
                                 scenarios: scenarios, workerDeaths: deaths, buckets: store.buckets)
        var full = summary
        full.timeline = timeline
        var params: [String: String] = ["duration": "\(plan.campaign.duration)s", "workers": "\(full.workers)",
                                        "threads": "\(plan.campaign.threads)", "seed": "\(plan.seed)",
                                        "deadline": "\(plan.defaultDeadline)s", "runtime": runtime.name]
        for (k, v) in plan.deadlines { params["deadline.\(k)"] = "\(v)s" }
        for s in plan.scenarios {
            for (k, v) in s.params { params["\(s.descriptor.name).\(k)"] = v.display }
        }
        for sk in plan.skipped { params["skipped.\(sk.name)"] = sk.reason }
        full.parameters = params
        return RunOutcome(summary: full, findings: findings, log: logLines)
    }
}

public enum BPFStressVersion { public static let string = "0.1.0" }

/// Runs `body` with a NULL-terminated C string array (argv/envp style).
func withCStringArray<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) throws -> R) rethrows -> R {
    var ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    ptrs.append(nil)
    defer { ptrs.forEach { free($0) } }
    return try body(ptrs)
}

/// sigaction for TERM/INT in the coordinator: a signal ends the run early, and the
/// report is still written.
@discardableResult
public func installStopHandlers() -> Int32 { bpfs_install_stop_handlers() }
