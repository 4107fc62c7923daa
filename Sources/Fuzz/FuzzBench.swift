// `bpfstress bench fuzz`: fuzzer calls/s against a C loop of the same bpf() calls on the same buffers.
import BPFKit
import CBPFStress
import Foundation

/// `bpfstress bench fuzz`: the fuzzer's calls per second (executor with guard pages and
/// canaries, shadow model checking every call) against a raw C loop issuing the same bpf()
/// calls (bpfs_fuzzbench_loop_at) with the same arguments: the same attr sizes and the key,
/// value and output buffers at the very addresses the executor uses. A second C loop with
/// stack buffers shows what guard-page placement itself costs. Chunks of the three alternate
/// so VM noise hits them alike.
public enum FuzzBench {
    public struct Result: Sendable {
        public var fuzzerCallsPerSecond: [Double]
        /// The C loop on the executor's guarded buffers (identical syscalls).
        public var baselineCallsPerSecond: [Double]
        /// The C loop on stack buffers.
        public var stackBaselineCallsPerSecond: [Double]
        /// Set when only one side ran (BPFSTRESS_BENCH_SIDE): its name and calls/s.
        public var singleSide: (name: String, callsPerSecond: Double)? = nil
        /// Median of the per-round ratios fuzzer / C loop on the same buffers (the goal).
        public var ratio: Double { Self.median(zip(fuzzerCallsPerSecond, baselineCallsPerSecond).map { $0 / max(1, $1) }) }
        /// Median of the per-round ratios fuzzer / C loop on stack buffers.
        public var stackRatio: Double { Self.median(zip(fuzzerCallsPerSecond, stackBaselineCallsPerSecond).map { $0 / max(1, $1) }) }
        /// Median of the per-round ratios guarded C loop / stack C loop: the placement's own price.
        public var placementRatio: Double { Self.median(zip(baselineCallsPerSecond, stackBaselineCallsPerSecond).map { $0 / max(1, $1) }) }

        static func median(_ xs: [Double]) -> Double {
            let r = xs.sorted()
            return r.isEmpty ? 0 : (r.count % 2 == 1 ? r[r.count / 2] : (r[r.count / 2 - 1] + r[r.count / 2]) / 2)
        }
    }

    /// The program both sides run: create, then update/lookup/delete of key i % maxEntries.
    public static func program(rounds: Int, maxEntries: UInt32) -> Program {
        var create = Call(.create)
        create.type = .hash; create.keySize = 4; create.valueSize = 8; create.maxEntries = maxEntries
        var calls = [create]
        calls.reserveCapacity(1 + 3 * rounds)
        for i in 0..<rounds {
            let k = Buf.int(UInt64(i % Int(maxEntries)))
            var u = Call(.update); u.key = k; u.value = .int(UInt64(i))
            var l = Call(.lookup); l.key = k
            var d = Call(.delete); d.key = k
            calls += [u, l, d]
        }
        return Program(calls)
    }

    public static func run(rounds: Int = 5, callsPerRound: Int = 300_000, chunk: Int = 2_000,
                           runtime: any Runtime = KernelRuntime()) throws -> Result {
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: runtime, seed: 1)
        let maxEntries: UInt32 = 1024
        let p = program(rounds: chunk, maxEntries: maxEntries)
        // Where the executor places this program's key, value and lookup output.
        let arena = f.executor.arena
        let key = arena.guardPage(0) - 4, value = arena.guardPage(1) - 8, out = arena.guardPage(2) - 8
        // Profiling aid (perf stat of one side): BPFSTRESS_BENCH_SIDE=fuzzer|c runs only that side.
        let side = ProcessInfo.processInfo.environment["BPFSTRESS_BENCH_SIDE"]
        if let side {
            let t0 = bpfs_now_ns()
            var n = 0
            while n < callsPerRound * rounds {
                if side == "c" { n += Int(bpfs_fuzzbench_loop_at(UInt32(chunk), maxEntries, key, value, out)) } else { n += f.execute(p).calls }
            }
            let rate = Double(n) / (Double(bpfs_now_ns() - t0) / 1e9)
            var r = Result(fuzzerCallsPerSecond: [], baselineCallsPerSecond: [], stackBaselineCallsPerSecond: [])
            r.singleSide = (side == "c" ? "C loop" : "fuzzer", rate)
            return r
        }
        var fz: [Double] = [], base: [Double] = [], stack: [Double] = []
        for _ in 0..<rounds {
            var tF: UInt64 = 0, tC: UInt64 = 0, tS: UInt64 = 0, nF = 0, nC = 0, nS = 0
            while nF < callsPerRound {
                var t0 = bpfs_now_ns()
                let rc = bpfs_fuzzbench_loop_at(UInt32(chunk), maxEntries, key, value, out)
                if rc < 0 { throw BPFError(code: .syscall, operation: "bench baseline BPF_MAP_CREATE") }
                tC += bpfs_now_ns() - t0
                nC += Int(rc)
                t0 = bpfs_now_ns()
                let rs = bpfs_fuzzbench_loop_at(UInt32(chunk), maxEntries, nil, nil, nil)
                if rs < 0 { throw BPFError(code: .syscall, operation: "bench baseline BPF_MAP_CREATE") }
                tS += bpfs_now_ns() - t0
                nS += Int(rs)
                t0 = bpfs_now_ns()
                let rep = f.execute(p)
                tF += bpfs_now_ns() - t0
                if let bad = rep.findings.first { throw BPFError(code: .unsupported, operation: "bench fuzz", detail: "\(bad)") }
                nF += rep.calls
            }
            fz.append(Double(nF) / (Double(tF) / 1e9))
            base.append(Double(nC) / (Double(tC) / 1e9))
            stack.append(Double(nS) / (Double(tS) / 1e9))
        }
        return Result(fuzzerCallsPerSecond: fz, baselineCallsPerSecond: base, stackBaselineCallsPerSecond: stack)
    }
}
