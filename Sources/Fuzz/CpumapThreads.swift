// The cpumap lifetime oracle: every entry runs a kthread "cpumap/<cpu>/map:<id>"; each entry the model holds has one, and those of a closed map go within a bounded wait.
import CBPFStress
import Foundation
import Glibc

/// One cpumap entry's kthread seen in /proc.
struct CpumapThread: Equatable {
    let pid: Int32
    let cpu: Int32
    let mapID: UInt32
    /// The index of the map's create call (where a finding is reported).
    let at: Int

    var alive: Bool { bpfs_fuzz_cpumap_thread_alive(pid, cpu, mapID) == 1 }
}

/// The kthreads of programs already run that were not yet gone when checked, and why checks were skipped.
struct CpumapSweeps {
    var pending: [(program: Program, threads: [CpumapThread], due: UInt64)] = []
    var lastPoll: UInt64 = 0
    /// Checks that could not run (/proc unreadable), with the last reason.
    var skipped = 0
    var skipReason: String? = nil
}

extension Fuzzer {
    /// How long the kthreads of a closed cpumap may outlive it: their stop runs after an RCU
    /// grace period in a workqueue (10-20 ms measured here).
    static let cpumapThreadBound: UInt64 = 2_000_000_000

    /// Before the executor's reset: every entry the model holds in a cpumap that is still open
    /// has its kthread (one is made synchronously by the update); returns every kthread of the
    /// program's cpumaps, to be gone once their maps are closed.
    func cpumapThreadsBeforeReset(_ rep: inout ExecReport) -> [CpumapThread] {
        let made = model.devcpu.cpumaps
        guard !made.isEmpty else { return [] }
        var all: [CpumapThread] = []
        for (id, at) in made where id != 0 {
            var pids = [Int32](repeating: 0, count: 64), cpus = [Int32](repeating: 0, count: 64)
            let n = bpfs_fuzz_cpumap_threads(id, &pids, &cpus, 64)
            if n < 0 {
                cpumapSweeps.skipped += 1
                cpumapSweeps.skipReason = "cpumap kthread check skipped: /proc unreadable (\(String(cString: strerror(-n))))"
                return []
            }
            for i in 0..<min(Int(n), 64) { all.append(CpumapThread(pid: pids[i], cpu: cpus[i], mapID: id, at: at)) }
        }
        for m in model.maps.compactMap({ $0 }) where m.shape.type == .cpumap && m.shape.id != 0 {
            let at = made.first { $0.id == m.shape.id }?.at ?? 0
            for cpu in m.arr.keys.sorted() where !all.contains(where: { $0.mapID == m.shape.id && $0.cpu == Int32(cpu) }) {
                rep.findings.append(OracleFinding(call: at, op: .create, kind: "kthread",
                                                  message: "cpumap id \(m.shape.id) holds an entry for cpu \(cpu) but no kthread cpumap/\(cpu)/map:\(m.shape.id) runs"))
            }
        }
        return all
    }

    /// After the reset (every fd closed): the kthreads must be gone within cpumapThreadBound.
    /// In the fuzz loop the wait is deferred (checkCpumapSweeps); a replay waits here.
    func sweepCpumaps(_ rep: inout ExecReport, _ p: Program, _ threads: [CpumapThread]) {
        var left = threads.filter(\.alive)
        guard !left.isEmpty else { return }
        let due = DispatchTime.now().uptimeNanoseconds + Self.cpumapThreadBound
        if deferSweeps {
            if cpumapSweeps.pending.count < 256 { cpumapSweeps.pending.append((p, left, due)) }
            return
        }
        while !left.isEmpty && DispatchTime.now().uptimeNanoseconds < due {
            usleep(1000)
            left = left.filter(\.alive)
        }
        for t in left {
            rep.findings.append(OracleFinding(call: t.at, op: .create, kind: "kthread",
                                              message: "kthread cpumap/\(t.cpu)/map:\(t.mapID) (pid \(t.pid)) still runs 2 s after the program closed its map"))
        }
    }

    /// At most every 10 ms: drops the pending kthreads that went; a program whose kthreads are
    /// still there past the bound runs again with the wait in place, and its report is the step's.
    func checkCpumapSweeps() -> (Program, ExecReport)? {
        guard !cpumapSweeps.pending.isEmpty else { return nil }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - cpumapSweeps.lastPoll > 10_000_000 else { return nil }
        cpumapSweeps.lastPoll = now
        var i = 0
        while i < cpumapSweeps.pending.count {
            let left = cpumapSweeps.pending[i].threads.filter(\.alive)
            if left.isEmpty { cpumapSweeps.pending.remove(at: i); continue }
            cpumapSweeps.pending[i].threads = left
            if now >= cpumapSweeps.pending[i].due {
                let p = cpumapSweeps.pending.remove(at: i).program
                return (p, execute(p))
            }
            i += 1
        }
        return nil
    }

    /// Why cpumap kthread checks were skipped (nil: none was).
    public var cpumapSkip: String? {
        cpumapSweeps.skipped == 0 ? nil : "\(cpumapSweeps.skipped) × \(cpumapSweeps.skipReason ?? "skipped")"
    }
}
