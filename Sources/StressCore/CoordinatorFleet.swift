// The coordinator's worker fleet: spawn, reap and restart, stop (TERM, grace, KILL).
import Basics
import BPFKit
import CBPFStress
import Capture
import Foundation
import Reports

extension Coordinator {
    // MARK: - workers

    func spawn(scenarioIndex: Int, generation: Int) throws {
        let s = plan.scenarios[scenarioIndex]
        let slot = nextSlot
        nextSlot += 1
        telemetry.reset(slot: slot)
        // min(): a worker spawned after the end (a 10 ms campaign) must not wrap to 584 years.
        let remaining = max(0.5, Double(endNs &- min(endNs, bpfs_now_ns())) / 1e9)
        var spec = WorkerSpec(slot: slot, generation: generation, scenario: s.descriptor.name, threads: s.threads,
                              seed: plan.workerSeed(slot: slot),
                              durationSeconds: remaining,
                              cgroupPath: s.descriptor.requirements.contains(.cgroupHooks) ? cgroup?.path : nil,
                              params: s.params, runtime: options.runtimeName, telemetryFD: 3)
        spec.runtimeState = RuntimeFactory.campaignState(of: runtime)
        spec.stateDirectory = stateDir
        spec.ledgerFD = ledgerFD >= 0 ? 5 : nil
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
                    var from: [Int32] = [telemetry.fd, pair[1], ledgerFD, devnull, devnull, devnull]
                    var to: [Int32] = [3, 4, 5, 0, 1, 2]
                    if ledgerFD < 0 { from.remove(at: 2); to.remove(at: 2) }
                    let pid = bpfs_spawn_worker(options.executable, argv, envp, &from, &to,
                                                Int32(devnull >= 0 ? from.count : from.count - 3))
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
        if sig == 0 && code == WorkerMain.exitOK && phase == BPFS_PHASE_DONE.rawValue { w.endedClean = true; return }
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
            w.hung = true
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

    /// mkdtemp of /tmp/bpfstress-state-<our pid>-XXXXXX: the pid lets StaleCleanup tell a dead
    /// coordinator's directory from a live one's. Nil when it fails (workers then leave no state).
    static func makeStateDirectory() -> String? {
        var template = Array((NSTemporaryDirectory() as NSString).appendingPathComponent("bpfstress-state-\(getpid())-XXXXXX").utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return nil }
        return String(cString: p)
    }
}
