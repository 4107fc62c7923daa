import BPFKit
import CBPFStress
import Capture
import Foundation
import Reports

/// The watchdog and crash path of the coordinator: finds ops past their deadline and stale
/// heartbeats, captures every live worker (deadlocks span processes), and turns fatal
/// signals reported by a worker's handler into crash findings while the worker still exists.
extension Coordinator {
    /// The deadline of `kind` in scenario `s`: scenario override, campaign per-kind, default.
    func deadline(_ kind: OpKind, scenario s: PlannedScenario) -> Double {
        s.deadlines[kind.name] ?? plan.deadlines[kind.name] ?? s.deadlines["default"] ?? plan.defaultDeadline
    }

    /// Flight recorders keyed by tid, in-flight op first, for CaptureFormatter.
    func flightRecorders(slots: [Int]) -> [Int32: [String]] {
        var out: [Int32: [String]] = [:]
        let base = telemetry.header.pointee.start_ns
        for slot in slots {
            let n = min(Int(telemetry.slot(slot).pointee.nthreads), Int(BPFS_MAX_THREADS))
            for t in 0..<n {
                let snap = telemetry.snapshot(slot: slot, thread: t)
                guard snap.tid > 0 else { continue }
                var lines: [String] = []
                if let f = snap.inflight {
                    lines.append(String(format: "IN FLIGHT %@ %@ for %.3fs", f.kind.name, f.summary,
                                        secondsSince(f.startNs, now: bpfs_now_ns())))
                }
                lines += telemetry.ring(slot: slot, thread: t).suffix(16).reversed().map { $0.line(relativeTo: base) }
                out[snap.tid] = lines
            }
        }
        return out
    }

    struct Overdue { let worker: WorkerProcess; let thread: Int; let tid: Int32; let op: OpKind?; let why: String }

    /// Ops past their deadline, or threads whose heartbeat went stale with no op in flight.
    func overdueThreads() -> [Overdue] {
        let now = bpfs_now_ns()
        var out: [Overdue] = []
        for w in liveWorkers where !w.kept && w.deathExplained == nil {
            let s = plan.scenarios[w.scenarioIndex]
            let n = min(Int(telemetry.slot(w.slot).pointee.nthreads), Int(BPFS_MAX_THREADS))
            for t in 0..<n {
                let tm = telemetry.thread(w.slot, t)
                guard tm.pointee.active != 0 else { continue }
                let snap = telemetry.snapshot(slot: w.slot, thread: t)
                if let f = snap.inflight {
                    let age = secondsSince(f.startNs, now: now)
                    let limit = deadline(f.kind, scenario: s)
                    if age > limit {
                        out.append(Overdue(worker: w, thread: t, tid: snap.tid, op: f.kind, why: String(
                            format: "op %@ (%@) in flight for %.1fs, deadline %.1fs", f.kind.name, f.summary, age, limit)))
                    }
                } else if snap.heartbeatNs > 0 {
                    let age = secondsSince(snap.heartbeatNs, now: now)
                    let limit = plan.defaultDeadline
                    if age > limit {
                        out.append(Overdue(worker: w, thread: t, tid: snap.tid, op: nil,
                                           why: String(format: "no op and no heartbeat for %.1fs, deadline %.1fs", age, limit)))
                    }
                }
            }
        }
        return out
    }

    /// One hang finding per stuck worker; every live worker is captured with it.
    func checkHangs() {
        let overdue = overdueThreads()
        guard !overdue.isEmpty else { return }
        let stuckWorkers = Dictionary(grouping: overdue, by: { $0.worker.pid })
        let others = liveWorkers.filter { !$0.kept && stuckWorkers[$0.pid] == nil }
        let t0 = Date()
        // Stuck workers first, then everyone else alive: a deadlock may span processes.
        let stuckCaptures = stuckWorkers.keys.sorted().map { StackCapture.capture(pid: $0) }
        let otherCaptures = others.map { StackCapture.capture(pid: $0.pid) }
        let captureSeconds = Date().timeIntervalSince(t0)
        let stuckTids = Set(overdue.map(\.tid))
        let recorders = flightRecorders(slots: (overdue.map(\.worker.slot) + others.map(\.slot)))

        for (pid, items) in stuckWorkers.sorted(by: { $0.key < $1.key }) {
            let w = items[0].worker
            let s = plan.scenarios[w.scenarioIndex]
            // Title from the stuck threads only: a healthy worker busy in bpf() is not the culprit.
            let own = stuckCaptures.first { $0.pid == pid }
            var focus = own.map { p in
                ProcessCapture(pid: p.pid, comm: p.comm, cmdline: p.cmdline,
                               threads: p.threads.filter { stuckTids.contains($0.tid) }, durationSeconds: 0)
            }
            if focus?.threads.isEmpty ?? true { focus = own }
            let (culprit, frames) = FindingTitles.hang(focus.map { [$0] } ?? [])
            let op = items.compactMap(\.op).first
            let title = "\(culprit) in \(s.descriptor.name)"
            var header = "HANG: worker slot \(w.slot) pid \(pid) scenario \(s.descriptor.name)\n"
            for i in items { header += "  thread \(i.thread) tid \(i.tid): \(i.why)\n" }
            header += String(format: "captured %d process(es) in %.1f ms; on-hang: %@\n",
                             stuckCaptures.count + otherCaptures.count, captureSeconds * 1000, options.onHang.rawValue)
            let ordered = [own].compactMap { $0 } + stuckCaptures.filter { $0.pid != pid } + otherCaptures
            let dump = CaptureFormatter.dump(ordered, flightRecorder: recorders, header: header)
            addFinding(Finding(type: .hang, title: title, signature: Signature.compute(title: title, frames: frames),
                               scenario: s.descriptor.name, check: "no-hang", worker: w.slot, op: op?.name, dump: dump))
            w.hung = true
            switch options.onHang {
            case .kill:
                w.deathExplained = "watchdog: \(culprit)"
                // TERM, then KILL after 1.5 s: the worker's main thread writes what its stuck
                // threads were doing (Scenario.stopping at 0.5 s) for this finding.
                kill(w.pid, SIGTERM)
                w.killAt = bpfs_now_ns() + 1_500_000_000
            case .keep:
                w.kept = true
                kill(w.pid, SIGSTOP)
                Stderr.write("bpfstress: hung worker pid \(pid) kept stopped for a debugger: gdb -p \(pid)\n")
            }
        }
    }

    /// Reads crash records from the workers' handlers; captures, then releases the worker to die.
    /// The crashing thread waits in its handler; TERM the worker so that its main thread
    /// writes what its threads were running (Scenario.stopping, 0.5 s after the stop request),
    /// and wait for that file for at most 1 s before the handler is released.
    func awaitInFlightState(_ w: WorkerProcess) {
        guard let dir = stateDir else { return }
        kill(w.pid, SIGTERM)
        let prefix = WorkerState.prefix(slot: w.slot, pid: w.pid)
        let until = bpfs_now_ns() + 1_000_000_000
        while bpfs_now_ns() < until {
            if let files = try? FileManager.default.contentsOfDirectory(atPath: dir), files.contains(where: { $0.hasPrefix(prefix) }) {
                usleep(50_000)  // the other threads' files, written in the same pass
                return
            }
            usleep(20_000)
        }
    }

    func checkCrashes() {
        for w in liveWorkers {
            var buf = [UInt8](repeating: 0, count: 512)
            let n = recv(w.crashFD, &buf, buf.count, Int32(MSG_DONTWAIT))
            guard n > 0, let rec = CrashRecord.parse(Array(buf.prefix(n))) else { continue }
            let s = plan.scenarios[w.scenarioIndex]
            var capture = StackCapture.capture(pid: w.pid)
            // Faulting thread first.
            capture.threads.sort { a, b in a.tid == rec.tid && b.tid != rec.tid }
            let faulting = capture.threads.first { $0.tid == rec.tid }
            let sigName = FindingTitles.signalName(rec.signo)
            // A signal sent with kill is not a fault: no address, and the thread is no culprit.
            let culprit = rec.senderPID.map { FindingTitles.sentSignal(rec.signo, from: $0) }
                ?? faulting.map { FindingTitles.crash(signal: rec.signo, thread: $0) } ?? sigName
            let title = "\(culprit) in \(s.descriptor.name)"
            var header = "CRASH: worker slot \(w.slot) pid \(w.pid) scenario \(s.descriptor.name)\n"
            header += rec.senderPID.map { "signal \(sigName) (\(rec.signo)) si_code \(rec.code) sent by pid \($0) to thread \(rec.tid)\n" }
                ?? "signal \(sigName) (\(rec.signo)) si_code \(rec.code) fault address 0x\(String(rec.address, radix: 16)) thread \(rec.tid)\n"
            header += "registers:\n"
            for (i, name) in CrashRecord.registerNames.enumerated() {
                let v = rec.registers[name] ?? 0
                header += String(format: "  %-6@ 0x%016llx", name, v) + (i % 3 == 2 ? "\n" : "")
            }
            header += "\n"
            let frames = rec.senderPID == nil ? [faulting.map(FindingTitles.meaningful) ?? []] : []
            let dump = CaptureFormatter.dump([capture], flightRecorder: flightRecorders(slots: [w.slot]), header: header)
            let op = telemetry.snapshot(slot: w.slot, thread: 0).inflight?.kind
            // One bucket per scenario for kills, whichever pid sent them.
            let signature = rec.senderPID == nil ? Signature.compute(title: title, frames: frames)
                : Signature.compute(title: "killed by \(sigName) from another process in \(s.descriptor.name)", frames: [])
            addFinding(Finding(type: .crash, title: title, signature: signature,
                               scenario: s.descriptor.name, check: "worker-survives", worker: w.slot, op: op?.name,
                               dump: dump))
            w.deathExplained = "crash captured: \(culprit)"
            if s.descriptor.keepsInFlightState { awaitInFlightState(w) }
            var one: UInt8 = 1
            _ = send(w.crashFD, &one, 1, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
        }
    }

    /// Kernel splats since the campaign started become `kernel` findings.
    func pollKernelLog(final: Bool = false) {
        guard let k = kernelLog else { return }
        let reports = final ? k.finish() : k.poll()
        for r in reports {
            addFinding(Finding(type: .kernel, title: r.title,
                               signature: Signature.compute(title: r.title, frames: []),
                               scenario: "campaign", check: CheckSpec.kernelLog.name, dump: r.text))
        }
    }
}

/// Seconds from `t` to `now`; 0 when the worker stamped `t` after we sampled `now`.
@inline(__always) func secondsSince(_ t: UInt64, now: UInt64) -> Double {
    t >= now ? 0 : Double(now - t) / 1e9
}
