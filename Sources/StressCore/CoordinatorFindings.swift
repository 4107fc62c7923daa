// The coordinator's finding intake: worker mailboxes and spill files, leaks, left state.
import BPFKit
import CBPFStress
import Capture
import Foundation
import Reports

extension Coordinator {
    /// Everything the campaign created that is still there after teardown is a `leak` finding.
    func checkLeaks(before: Inventory) {
        guard leakCheckSkipped == nil else { return }
        let r = LeakCheck.compare(before: before, runtime: runtime)
        leakCheckRan = true
        if let why = r.incomplete { log("leak check incomplete: \(why)") }
        guard !r.leaks.isEmpty else { log("leak check: clean"); return }
        let scenario = plan.scenarios.count == 1 ? plan.scenarios[0].descriptor.name : "campaign"
        let kinds = orderedKinds(r.leaks)
        let title = "leaked \(kinds.joined(separator: ", ")) after \(scenario)"
        addFinding(Finding(type: .leak, title: title, signature: Signature.compute(title: title, frames: []),
                           scenario: "campaign", check: CheckSpec.noLeaks.name,
                           dump: "still present after teardown (created by this campaign, by the ownership ledger):\n"
                               + r.leaks.map { "  " + $0 }.joined(separator: "\n")))
    }

    /// "program", "map", "network namespace", ... in a stable order, once each.
    func orderedKinds(_ leaks: [String]) -> [String] {
        let kinds = ["program", "map", "link", "BTF", "network namespace", "pin", "cgroup", "bpffs mount"]
        return kinds.filter { k in leaks.contains { $0.hasPrefix(k + " ") } }
    }

    // MARK: - findings

    func addFinding(_ f: Finding) {
        findings.append(f)
        log("finding [\(f.type.rawValue)] \(f.title)")
    }

    func collectFindings() { for w in workers { collectFindings(of: w) } }

    /// Drains the slot's mailbox and whatever it spilled to its file since the last call.
    func collectFindings(of w: WorkerProcess) {
        let slot = telemetry.slot(w.slot)
        var taken: [SpilledFinding] = []
        var entry = bpfs_finding_tm()
        for i in 0..<Int(BPFS_MAX_FINDINGS) where bpfs_tm_take_finding(slot, Int32(i), &entry) != 0 {
            taken.append(SpilledFinding(tid: entry.tid, check: entry.check, errno: entry.err, kind: entry.kind,
                                        title: withUnsafeBytes(of: entry.title) { cString($0) },
                                        text: withUnsafeBytes(of: entry.text) { cString($0) }))
        }
        if let dir = stateDir {
            let r = FindingSpill.read(directory: dir, slot: w.slot, from: w.spillOffset)
            taken += r.findings
            w.spillOffset = r.offset
        }
        for f in taken { intake(f, from: w) }
        let lost = Int(slot.pointee.nlost)
        if lost > w.lostReported {
            log("worker slot \(w.slot) lost \(lost - w.lostReported) finding(s): mailbox full and no spill file")
            w.lostReported = lost
        }
    }

    /// One finding record of a worker becomes a finding of the run (or a skip reason).
    func intake(_ f: SpilledFinding, from w: WorkerProcess) {
        let s = plan.scenarios[w.scenarioIndex]
        let checks = s.descriptor.checks
        let check = Int(f.check) < checks.count ? checks[Int(f.check)].name : CheckSpec.threadRuns.name
        if f.kind == WorkerContext.propertyMarker {
            scenarioProperties[s.descriptor.name, default: [:]][f.title] = f.text
            return
        }
        if f.kind == WorkerContext.skipMarker {
            if skippedChecks[s.descriptor.name + "/" + check] == nil { log("skip \(s.descriptor.name) \(check): \(f.text)") }
            skippedChecks[s.descriptor.name + "/" + check] = f.text
            return
        }
        let op = OpKind(rawValue: f.kind).flatMap { $0 == .none ? nil : $0.name }
        var dump = "worker slot \(w.slot) pid \(w.pid) tid \(f.tid) scenario \(s.descriptor.name) check \(check)\n\(f.text)\n"
        dump += flightRecorderText(slot: w.slot)
        addFinding(Finding(type: .failure, title: f.title, signature: Signature.compute(title: f.title, frames: []),
                           scenario: s.descriptor.name, check: check, worker: w.slot, op: op, dump: dump))
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

    /// Files workers left with `leaveState` go into the dumps of their slot's hang and crash
    /// findings, as they are.
    func attachWorkerState() {
        guard let dir = stateDir, let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for f in files.sorted() where f.hasPrefix("state-s") {
            let slotText = f.dropFirst("state-s".count).prefix { $0.isNumber }
            guard let slot = Int(slotText), let text = try? String(contentsOfFile: dir + "/" + f, encoding: .utf8) else { continue }
            var attached = false
            for i in findings.indices where findings[i].worker == slot && (findings[i].type == .hang || findings[i].type == .crash) {
                findings[i].dump += "\n\n--- state worker slot \(slot) left on stop (\(f)) ---\n" + text
                attached = true
            }
            log("worker slot \(slot) left \(f)\(attached ? ", attached to its findings" : "")")
        }
    }

    /// What workers left in the state directory's report/ (read before the directory goes).
    func reportFiles() -> [String: Data] {
        guard let dir = stateDir.map({ $0 + "/" + WorkerState.reportFiles }),
              let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [:] }
        var out: [String: Data] = [:]
        for n in names.sorted() where !n.hasPrefix(".") {
            if let d = FileManager.default.contents(atPath: dir + "/" + n) { out[n] = d }
        }
        if !out.isEmpty { log("\(out.count) file(s) for the report: \(out.keys.sorted().prefix(5).joined(separator: ", "))\(out.count > 5 ? ", ..." : "")") }
        return out
    }
}
