import BPFKit
import CBPFStress
import Foundation

/// `bpfstress bench fuzz`: the fuzzer's calls per second (executor with guard pages and
/// canaries, shadow model checking every call) against a raw C loop issuing the same bpf()
/// calls (bpfs_fuzzbench_loop). Chunks of the two alternate so VM noise hits both alike.
public enum FuzzBench {
    public struct Result: Sendable {
        public var fuzzerCallsPerSecond: [Double]
        public var baselineCallsPerSecond: [Double]
        /// Median of the per-round ratios fuzzer / C loop.
        public var ratio: Double {
            let r = zip(fuzzerCallsPerSecond, baselineCallsPerSecond).map { $0 / max(1, $1) }.sorted()
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
        var fz: [Double] = [], base: [Double] = []
        for _ in 0..<rounds {
            var tF: UInt64 = 0, tC: UInt64 = 0, nF = 0, nC = 0
            while nF < callsPerRound {
                var t0 = bpfs_now_ns()
                let rc = bpfs_fuzzbench_loop(UInt32(chunk), maxEntries)
                if rc < 0 { throw BPFError(code: .syscall, operation: "bench baseline BPF_MAP_CREATE") }
                tC += bpfs_now_ns() - t0
                nC += Int(rc)
                t0 = bpfs_now_ns()
                let rep = f.execute(p)
                tF += bpfs_now_ns() - t0
                if let bad = rep.findings.first { throw BPFError(code: .unsupported, operation: "bench fuzz", detail: "\(bad)") }
                nF += rep.calls
            }
            fz.append(Double(nF) / (Double(tF) / 1e9))
            base.append(Double(nC) / (Double(tC) / 1e9))
        }
        return Result(fuzzerCallsPerSecond: fz, baselineCallsPerSecond: base)
    }
}
