import Basics
import BPFKit
import CBPFCapture
import CBPFStress
import Foundation

/// `bpfstress bench ops`: map update+lookup through a worker's scenario path (ThreadContext.op
/// around MapFD calls, telemetry and flight recorder on) against a bare C loop issuing the same
/// bpf() calls. Rounds alternate A/B so that drift on a shared VM hits both sides alike.
public enum OpPathBench {
    /// Pairs (update + lookup) per variant in one chunk.
    public static let chunk = 5_000
    public struct Result: Sendable {
        public var harnessOpsPerSecond: [Double]
        public var baselineOpsPerSecond: [Double]
        /// The same calls through BPFKit alone, without the flight recorder: splits the overhead.
        public var directOpsPerSecond: [Double]
        /// The scenario path as it was before latency histograms (bpfs_op_begin_ex/bpfs_op_end):
        /// what the histograms cost, measured in the same rounds.
        public var noHistogramOpsPerSecond: [Double] = []
        /// Median of the per-round ratios harness / harness without histograms.
        public var histogramRatio: Double {
            median(zip(harnessOpsPerSecond, noHistogramOpsPerSecond).map { $0 / max(1, $1) })
        }
        /// Median of the per-round ratios (each round's pair ran back to back).
        public var ratio: Double {
            median(zip(harnessOpsPerSecond, baselineOpsPerSecond).map { $0 / max(1, $1) })
        }
        /// harness / C loop and harness / no-histogram per chunk: the four variants of one chunk
        /// run within a few ms of each other, so a chunk's pair shares the VM's state more
        /// closely than a round's sums do; their median is the steadier figure.
        public var chunkRatios: [Double] = []
        public var chunkHistogramRatios: [Double] = []
        public var chunkRatio: Double { median(chunkRatios) }
        public var chunkHistogramRatio: Double { median(chunkHistogramRatios) }
    }

    public static func run(rounds: Int = 5, iterations: Int = 200_000, runtime: any Runtime = KernelRuntime()) throws -> Result {
        // Profiling aid: BPFSTRESS_BENCH_NULL_ENTRY=1 runs the Swift variants against an entry that
        // returns at once, so their ops/s give the op path's own cost in ns (the C loop still
        // calls the kernel, and the ratios mean nothing then).
        let runtime: any Runtime = ProcessInfo.processInfo.environment["BPFSTRESS_BENCH_NULL_ENTRY"] != nil
            ? NullEntryRuntime() : runtime
        let map = try runtime.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 1024, name: "bench_ops"))
        defer { map.close() }
        let block = try TelemetryBlock(slots: 1)
        defer { close(block.fd) }
        let spec = WorkerSpec(slot: 0, generation: 0, scenario: "bench", threads: 1, seed: 1, durationSeconds: 3600,
                              cgroupPath: nil, params: [:], runtime: runtime.name, telemetryFD: block.fd)
        let descriptor = ScenarioDescriptor(name: "bench", shortName: "bench", summary: "op path benchmark",
                                            requirements: [], checks: [])
        let worker = WorkerContext(spec: spec, runtime: runtime, descriptor: descriptor, telemetry: block)
        let thread = ThreadContext(worker: worker, index: 0)
        // Measured as a worker runs: with the crash handler installed and its sigaltstack set.
        var pair: [Int32] = [-1, -1]
        if socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 {
            _ = bpfs_crash_install(pair[1])
            _ = bpfs_crash_thread_init()
        }
        defer { bpfs_crash_uninstall(); close(pair[0]); close(pair[1]) }
        let nkeys: UInt32 = 1000
        // Each round interleaves the four variants in chunks of `chunk` pairs, so that a slow
        // patch of the VM (steal time, a neighbour) lands on all of them alike.
        var harness: [Double] = [], baseline: [Double] = [], direct: [Double] = [], noHist: [Double] = []
        var chunkRatios: [Double] = [], chunkHistogramRatios: [Double] = []
        var value: UInt64 = 0
        var chunkIndex = 0
        for _ in 0..<rounds {
            var tC: UInt64 = 0, tH: UInt64 = 0, tD: UInt64 = 0, tN: UInt64 = 0
            var done = 0
            while done < iterations {
                let n = min(chunk, iterations - done)
                let range = done..<(done + n)
                // The variants take turns going first (a rotation per chunk), so that none is
                // always the one that runs right after another's cache and predictor state.
                var spent: [UInt64] = [0, 0, 0, 0]
                for variant in (0..<4).map({ ($0 + chunkIndex) % 4 }) {
                    let t0 = bpfs_now_ns()
                    defer { spent[variant] = bpfs_now_ns() - t0 }
                    switch variant {
                    case 0:
                        let failures = bpfs_bench_map_loop(map.fd, UInt64(n), nkeys)
                        if failures < 0 { throw StressError.system("bench baseline", Int32(-failures)) }
                    case 1:
                        for i in range {
                            var key = UInt32(i % Int(nkeys))
                            var v = UInt64(i)
                            try thread.op(.mapUpdate, UInt64(map.fd), UInt64(key)) { try map.update(key: &key, value: &v) }
                            try thread.op(.mapLookup, UInt64(map.fd), UInt64(key)) { try map.lookup(key: &key, value: &value) }
                        }
                    case 2:
                        for i in range {
                            var key = UInt32(i % Int(nkeys))
                            var v = UInt64(i)
                            try map.update(key: &key, value: &v)
                            try map.lookup(key: &key, value: &value)
                        }
                    default:
                        for i in range {
                            var key = UInt32(i % Int(nkeys))
                            var v = UInt64(i)
                            try thread.opWithoutHistogram(.mapUpdate, UInt64(map.fd), UInt64(key)) { try map.update(key: &key, value: &v) }
                            try thread.opWithoutHistogram(.mapLookup, UInt64(map.fd), UInt64(key)) { try map.lookup(key: &key, value: &value) }
                        }
                    }
                }
                tC += spent[0]; tH += spent[1]; tD += spent[2]; tN += spent[3]
                chunkRatios.append(Double(spent[0]) / Double(max(1, spent[1])))
                chunkHistogramRatios.append(Double(spent[3]) / Double(max(1, spent[1])))
                chunkIndex += 1
                done += n
            }
            let ops = Double(iterations * 2)
            baseline.append(ops / (Double(tC) / 1e9))
            harness.append(ops / (Double(tH) / 1e9))
            direct.append(ops / (Double(tD) / 1e9))
            noHist.append(ops / (Double(tN) / 1e9))
        }
        return Result(harnessOpsPerSecond: harness, baselineOpsPerSecond: baseline, directOpsPerSecond: direct,
                      noHistogramOpsPerSecond: noHist, chunkRatios: chunkRatios, chunkHistogramRatios: chunkHistogramRatios)
    }
}

func median(_ xs: [Double]) -> Double {
    guard !xs.isEmpty else { return 0 }
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

extension ThreadContext {
    /// `op` as it was before latency histograms, for `bench ops` only.
    @inline(__always)
    func opWithoutHistogram<T>(_ kind: OpKind, _ a0: UInt64, _ a1: UInt64, _ body: () throws -> T) throws -> T {
        bpfs_op_begin_ex(tm, kind.rawValue, a0, a1, nil, kind.isElementOp ? UInt32(BPFS_OP_COARSE) : 0)
        do {
            let r = try body()
            bpfs_op_end(tm, 0)
            return r
        } catch {
            bpfs_op_end(tm, errnoNumber(of: error) ?? -1)
            throw error
        }
    }
}

/// `bench ops`' null entry: BPF_MAP_CREATE (cmd 0) reaches the kernel, every other command
/// returns 0 without a syscall.
final class NullEntryRuntime: Runtime {
    let name = "null-entry"
    let capabilities: RuntimeCapabilities = []
    let entry = BPFEntry(sys: { _, cmd, attr, size in cmd == 0 ? BPFEntry.kernelSys(cmd: cmd, attr: attr, size: size) : 0 },
                         ctx: nil)
}
