// Reads the per-thread latency histograms out of telemetry and merges them per scenario and op kind.
import CBPFStress
import Foundation
import Nightly
import Reports

extension TelemetryBlock {
    /// The histograms one thread filled, by op kind, and its ops that found no free histogram.
    public func histograms(slot: Int, thread t: Int) -> (byKind: [OpKind: Histogram], untracked: UInt64) {
        let h = bpfs_tm_thread_hist(base, UInt32(slot), UInt32(t))
        var out: [OpKind: Histogram] = [:]
        var i: UInt32 = 0
        while true {
            var hist = Histogram()
            var kind: UInt32 = 0, sampled: UInt32 = 0
            let ok = hist.counts.withUnsafeMutableBufferPointer {
                bpfs_hist_read(h, i, &kind, &sampled, &hist.count, &hist.sumNs, &hist.maxNs, $0.baseAddress)
            }
            guard ok == 1 else { break }
            hist.sampled = sampled != 0
            out[OpKind(rawValue: kind) ?? .none, default: Histogram()].merge(hist)
            i += 1
        }
        return (out, bpfs_hist_untracked(h))
    }
}

extension Coordinator {
    /// Latency per op kind of one scenario: every thread of every slot it used, merged.
    func latency(scenarioIndex: Int) -> [LatencySummary] {
        var byKind: [OpKind: Histogram] = [:]
        var untracked: UInt64 = 0
        for u in usedSlots where u.scenarioIndex == scenarioIndex {
            let n = min(Int(telemetry.slot(u.slot).pointee.nthreads), Int(BPFS_MAX_THREADS))
            for th in 0..<n {
                let r = telemetry.histograms(slot: u.slot, thread: th)
                for (k, h) in r.byKind { byKind[k, default: Histogram()].merge(h) }
                untracked += r.untracked
            }
        }
        if untracked > 0 {
            log("latency: \(untracked) timed ops of \(plan.scenarios[scenarioIndex].descriptor.name) had no free histogram (more than \(BPFS_HIST_PER_THREAD) op kinds in one thread)")
        }
        return byKind.filter { $0.key != .none && $0.value.count > 0 }
            .sorted { $0.key.name < $1.key.name }
            .map { $0.value.summary(kind: $0.key.name) }
    }
}

extension Coordinator {
    /// Seeds of every worker this run spawned, restarts included (for shard records).
    public var workerSeeds: [UInt64] { usedSlots.map { plan.workerSeed(slot: $0.slot) } }
    /// Telemetry slots a run of `plan` may use: every worker plus the restart budget.
    public static func slotsNeeded(plan: RunPlan, options: RunOptions) -> Int {
        let total = plan.scenarios.map(\.workers).reduce(0, +)
        return max(1, total + (options.maxRestarts ?? max(4, total * 4)))
    }
}
