import Basics
import BPFKit
import Foundation
import StressCore

/// The lock-path ABBA of the seed bug: a program on `lock:contention_begin` (it runs
/// inside the kernel's lock slow path) updates a hash map and a per-CPU hash map while
/// threads on every CPU update and delete the same few keys of the same maps, so the
/// program's bucket-lock acquisition meets a bucket lock another CPU holds. Since 6.15
/// the bucket lock is an rqspinlock, so the collision must end as an error, not a hang.
public final class LockContentionABBA: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "lock-contention-abba",
        shortName: "abba",
        summary: "contention_begin program updating hash/percpu-hash keys that all CPUs update and delete",
        bugClass: "ABBA deadlock between a lock-path tracing program and a held map bucket lock",
        requirements: [.bpfLoad, .tracepoint(category: "lock", event: "contention_begin")],
        parameters: [
            ParameterSpec("variant", .string, default: .string("both"), help: "both | hash | percpu: which programs attach"),
            ParameterSpec("round_ops", .int, default: .int(512), help: "map ops per thread between checks"),
            ParameterSpec("churn_every", .int, default: .int(8),
                          help: "one op in N creates and frees a map (contends traced kernel spinlocks); 0 = never"),
        ],
        checks: [
            CheckSpec("map-errnos", "user-space update/delete fail only with EBUSY, EDEADLK or ETIMEDOUT (counted as tolerated)"),
            CheckSpec("prog-errnos", "the program's own bpf_map_update_elem fails only with EBUSY, EDEADLK or ETIMEDOUT"),
            CheckSpec("prog-fired", "the program really ran while the threads contended (else the run proved nothing)"),
            CheckSpec("run-count-exact", "prog info run_cnt (BPF_ENABLE_STATS) equals the program's own count of its runs"),
        ],
        objects: ["lock_contention"])

    /// The keys both sides fight over (LC_KEYS in lock_contention.bpf.c).
    static let keys: UInt32 = 4

    let runtime: any Runtime
    let object: LoadedObject
    let shared: MapFD
    let pcpu: MapFD
    let outcomes: MapFD
    /// (variant, program, tracepoint link) for each attached program.
    var attached: [(variant: ABBAOracle.Variant, prog: ProgramFD, link: LinkFD?)] = []
    var statsFD: Int32 = -1
    let ncpus = Probes.possibleCPUs()
    let lock = NSLock()
    var roundsWithFires = 0

    public init(worker: WorkerContext) throws {
        runtime = worker.runtime
        object = try BPFObject.open(path: ProgramCatalog.objectPath("lock_contention")).load(into: runtime)
        shared = try object.map("shared")
        pcpu = try object.map("pcpu")
        outcomes = try object.map("outcomes")
        // Stats first, then attach: run_cnt then covers every run of the program.
        statsFD = try runtime.enableStats()
        let variant = worker.params.string("variant")
        for v in ABBAOracle.Variant.allCases where variant == "both" || variant == v.rawValue || variant.isEmpty {
            let prog = try object.program(v.programName)
            attached.append((v, prog, try runtime.rawTracepointOpen(name: "contention_begin", program: prog)))
        }
        if attached.isEmpty {
            throw StressError(.environment, "variant '\(variant)' is not both, hash or percpu")
        }
    }

    public func teardown() {
        detach()
        object.close()
        if statsFD >= 0 { close(statsFD); statsFD = -1 }
    }

    func detach() {
        for i in attached.indices { attached[i].link?.close(); attached[i].link = nil }
    }

    /// After every thread has returned: the end-of-run judgement (WorkerMain calls it once).
    public func finish(thread: ThreadContext) { judge(thread: thread) }

    public func run(thread: ThreadContext) throws {
        let perRound = max(16, thread.params.int("round_ops"))
        let churnEvery = thread.params.int("churn_every")
        let stride = perCPUValueStride(valueSize: 8) / 8
        var pcpuValue = [UInt64](repeating: 0, count: stride * ncpus)
        while thread.keepRunning {
            let before = thread.index == 0 ? runCounts(thread) : nil
            var clean = true
            for i in 0..<perRound where thread.keepRunning {
                var key = UInt32(truncatingIfNeeded: thread.rng.next()) % Self.keys
                let r = thread.rng.next()
                // One op in `churn_every` creates and frees a small map instead: map_idr_lock
                // and the allocator's locks are traced spinlocks, so the program fires more often.
                if churnEvery > 0 && r % UInt64(churnEvery) == 0 {
                    do {
                        let m = try thread.op(.mapCreate, label: "contention") {
                            try runtime.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, name: "bpfs_abba_tmp"))
                        }
                        m.close()
                    } catch {
                        clean = false
                        thread.fail("map-errnos", title: "bpf_map_create failed: \(errnoLabel(of: error)) in \(Self.descriptor.name)",
                                    detail: "\(error)", errno: errnoNumber(of: error) ?? 0, op: .mapCreate)
                    }
                    continue
                }
                let which = Int((r >> 8) % 4)
                var value = UInt64(thread.index) << 32 | UInt64(i)
                var err: Int32 = 0
                do {
                    switch which {
                    case 0:
                        try thread.op(.mapUpdate, UInt64(shared.fd), UInt64(key)) {
                            try withUnsafeBytes(of: &key) { k in try withUnsafeBytes(of: &value) { try shared.update(key: k.baseAddress, value: $0.baseAddress!) } }
                        }
                    case 1:
                        try thread.op(.mapDelete, UInt64(shared.fd), UInt64(key)) {
                            try withUnsafeBytes(of: &key) { try shared.delete(key: $0.baseAddress!) }
                        }
                    case 2:
                        for c in 0..<ncpus { pcpuValue[c * stride] = value &+ UInt64(c) }
                        try thread.op(.mapUpdate, UInt64(pcpu.fd), UInt64(key)) {
                            try withUnsafeBytes(of: &key) { k in try pcpuValue.withUnsafeBytes { try pcpu.update(key: k.baseAddress, value: $0.baseAddress!) } }
                        }
                    default:
                        try thread.op(.mapDelete, UInt64(pcpu.fd), UInt64(key)) {
                            try withUnsafeBytes(of: &key) { try pcpu.delete(key: $0.baseAddress!) }
                        }
                    }
                } catch {
                    // An error with no errno is not a kernel outcome: the thread aborts (thread-runs).
                    guard let n = errnoNumber(of: error) else { throw error }
                    err = n
                }
                if err == 0 { invokeHook(thread, key: key, i: i); continue }
                switch ABBAOracle.classify(userErrno: err, isDelete: which % 2 == 1) {
                case .ok: continue
                case .tolerated: thread.tolerate(err)
                case .violation:
                    clean = false
                    let call = which % 2 == 0 ? "bpf_map_update_elem" : "bpf_map_delete_elem"
                    let map = which < 2 ? "hash" : "percpu_hash"
                    thread.fail("map-errnos", title: "\(call) failed: \(ErrnoName.name(err)) in \(Self.descriptor.name)",
                                detail: "\(call) on the \(map) map, key \(key), while contention_begin programs update the same keys\nlast ops:\n"
                                    + thread.recentOps().joined(separator: "\n"),
                                errno: err, op: which % 2 == 0 ? .mapUpdate : .mapDelete)
                }
            }
            if clean { thread.pass("map-errnos") }
            if let b = before, let a = runCounts(thread), zip(a, b).contains(where: { $0 > $1 }) {
                lock.lock(); roundsWithFires += 1; lock.unlock()
            }
            thread.heartbeat()
        }
    }

    /// A plugin runtime with hooks runs its contention_begin programs here too, on the same
    /// key, as the kernel does from inside its lock slow path (one op in 4).
    func invokeHook(_ thread: ThreadContext, key: UInt32, i: Int) {
        guard i % 4 == 0, let p = runtime as? PluginRuntime, p.providesHooks else { return }
        var k = key
        let bytes = withUnsafeBytes(of: &k) { Array($0) }
        do {
            try thread.op(.invokeHook, label: "contention_begin", UInt64(shared.fd), UInt64(key)) {
                try p.invokeHook(attachType: BPFStressRawTPAttachType, context: bytes)
            }
        } catch {
            thread.fail("map-errnos", title: "invoke_hook(raw_tp contention_begin) failed: \(errnoLabel(of: error)) in \(Self.descriptor.name)",
                        detail: "\(error)", errno: errnoNumber(of: error) ?? 0, op: .invokeHook)
        }
    }

    /// run_cnt of each attached program (prog info), nil if info fails.
    func runCounts(_ thread: ThreadContext) -> [UInt64]? {
        try? attached.map { a in try thread.op(.objInfo, UInt64(a.prog.fd)) { try runtime.programInfo(a.prog).runCount } }
    }

    /// The final verdict, by the last thread out: detach (so the counters settle), then
    /// compare the kernel's run counts with the program's own outcome counters.
    func judge(thread: ThreadContext) {
        detach()
        for a in attached {
            let runCount: UInt64
            do {
                runCount = try thread.op(.objInfo, UInt64(a.prog.fd)) { try runtime.programInfo(a.prog).runCount }
            } catch {
                thread.fail("prog-fired", title: "bpf_obj_get_info_by_fd failed: \(errnoLabel(of: error)) in \(Self.descriptor.name)",
                            detail: "\(error)", errno: errnoNumber(of: error) ?? 0, op: .objInfo)
                continue
            }
            var raw = [UInt64](repeating: 0, count: 8)
            for i in 0..<8 {
                raw[i] = (try? thread.op(.mapLookup, UInt64(outcomes.fd), UInt64(a.variant.base + i)) {
                    try outcomes.lookup(UInt32(a.variant.base + i), as: UInt64.self)
                }) ?? 0
            }
            let o = ABBAOracle.Outcomes(raw)
            let violations = ABBAOracle.judge(outcomes: o, runCount: runCount, variant: a.variant,
                                              roundsWithFires: roundsWithFires)
            let passed = Set(ABBAOracle.programChecks).subtracting(violations.map(\.check))
            passed.forEach { thread.pass($0) }
            for v in violations {
                thread.fail(v.check, title: v.title, detail: v.detail + "\noutcomes: \(o)", errno: v.errno)
            }
        }
    }
}

/// The judgement of lock-contention-abba, pure so tests can feed it tampered counters.
public enum ABBAOracle {
    /// The errnos the kernel documents for recursion or deadlock avoidance in map updates.
    public static let allowed: Set<Int32> = [EBUSY, EDEADLK, ETIMEDOUT]
    public static let programChecks = ["prog-errnos", "prog-fired", "run-count-exact"]

    public enum Variant: String, CaseIterable, Sendable {
        case hash, percpu
        var programName: String { self == .hash ? "abba_hash" : "abba_percpu" }
        /// First index of this variant's counters in the `outcomes` array map.
        var base: Int { self == .hash ? 0 : 8 }
    }

    public enum Verdict: Equatable { case ok, tolerated, violation }

    /// A user-space update/delete errno: ENOENT on a delete is a lost race, not an error.
    public static func classify(userErrno e: Int32, isDelete: Bool) -> Verdict {
        if e == 0 || (isDelete && e == ENOENT) { return .ok }
        return allowed.contains(e) ? .tolerated : .violation
    }

    /// The program's counters (LC_* in lock_contention.bpf.c).
    public struct Outcomes: Equatable, CustomStringConvertible {
        public var fired, ok, ebusy, edeadlk, etimedout, other, lastOther: UInt64
        public init(_ raw: [UInt64]) {
            let r = raw + [UInt64](repeating: 0, count: max(0, 7 - raw.count))
            fired = r[0]; ok = r[1]; ebusy = r[2]; edeadlk = r[3]; etimedout = r[4]; other = r[5]; lastOther = r[6]
        }
        public var description: String {
            "fired=\(fired) ok=\(ok) EBUSY=\(ebusy) EDEADLK=\(edeadlk) ETIMEDOUT=\(etimedout) other=\(other)"
                + (other > 0 ? " (last other errno \(lastOther))" : "")
        }
    }

    public struct Violation: Equatable {
        public let check: String
        public let title: String
        public let detail: String
        public let errno: Int32
    }

    /// Judges one program after it was detached: its errors, that it ran, that its
    /// outcomes add up, and that the kernel's run count matches its own.
    public static func judge(outcomes o: Outcomes, runCount: UInt64, variant: Variant,
                             roundsWithFires: Int) -> [Violation] {
        let name = "lock-contention-abba"
        var out: [Violation] = []
        if o.other > 0 {
            let e = Int32(truncatingIfNeeded: o.lastOther)
            out.append(Violation(check: "prog-errnos",
                                 title: "bpf_map_update_elem in contention_begin program failed: \(ErrnoName.name(e)) in \(name)",
                                 detail: "\(variant.programName): \(o.other) updates failed with errnos outside EBUSY/EDEADLK/ETIMEDOUT",
                                 errno: e))
        }
        let settled = o.ok + o.ebusy + o.edeadlk + o.etimedout + o.other
        if settled != o.fired {
            out.append(Violation(check: "prog-errnos", title: "contention_begin program outcomes do not add up in \(name)",
                                 detail: "\(variant.programName): \(o.fired) runs but \(settled) counted outcomes", errno: 0))
        }
        if runCount == 0 || o.fired == 0 || roundsWithFires == 0 {
            out.append(Violation(check: "prog-fired", title: "contention_begin program never ran during contention in \(name): the run proved nothing",
                                 detail: "\(variant.programName): run_cnt \(runCount), own count \(o.fired), rounds in which it ran \(roundsWithFires)",
                                 errno: 0))
        }
        if runCount != o.fired {
            out.append(Violation(check: "run-count-exact", title: "prog info run_cnt differs from the program's own count in \(name)",
                                 detail: "\(variant.programName): run_cnt \(runCount), own count \(o.fired)", errno: 0))
        }
        return out
    }
}

/// enum bpf_attach_type BPF_TRACE_RAW_TP.
let BPFStressRawTPAttachType: UInt32 = 23
