import Basics
import BPFKit
import CBPFStress
import Glibc
import Foundation
import Fuzz
import StressCore

/// `bpfstress fuzz` as a scenario: every thread runs the typed map fuzzer (single-process
/// shadow model on maps only it touches, pinned to one CPU), and between programs all
/// workers hammer a set of shared maps whose values carry (writer, key, seq, checksum).
/// The coordinator gives it the watchdog, crash capture, flight recorder and findings.
public final class MapFuzz: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "map-fuzz",
        shortName: "mfuzz",
        summary: "typed map-API fuzzing with a shadow-model oracle, plus shared maps fuzzed by every worker",
        bugClass: "wrong answers from map calls (errnos, values, walks, batches), writes outside user buffers, torn values",
        requirements: [.bpfLoad],
        parameters: [
            ParameterSpec("corpus", .string, default: .string(""), help: "corpus directory: seeds read, new programs written"),
            ParameterSpec("state_dir", .string, default: .string(""), help: "where reproducers and per-worker stats go"),
            ParameterSpec("shared_every", .int, default: .int(8), help: "programs between two rounds on the shared maps"),
            ParameterSpec("census_period", .duration, default: .duration(1), help: "time between two censuses by each worker's first thread (0: none); a census holds every writer off for ~2 ms"),
        ],
        checks: [
            CheckSpec("oracle-agrees", "every call of every program matches the shadow model (errno, data, no write outside the buffers)"),
            CheckSpec("shared-values-intact", "every value read from a shared map decodes and names its key (no torn or foreign value)"),
            CheckSpec("shared-batch-unique", "a batch lookup on a shared map holds each key once, only keys some worker writes"),
            CheckSpec("fault-injection", "with the kernel failing the n-th allocation inside create, update and batch calls, the model accepts ENOMEM only at the injected call and the leak check stays clean (skipped with the reason where the kernel has no fault injection)"),
            CheckSpec("armed-timers", "bpf_timers armed by a test-run program never fire after their element is deleted, overwritten or evicted, or their map closed; the left-alone ones fire once (one pass per worker; skipped with the verifier's reason where the kernel refuses the program)"),
            CheckSpec("kptr-fields", "local kptrs stashed by a test-run program are gone from overwritten, recreated and evicted elements and kept by the rest (skipped where the kernel has no local kptrs)"),
            CheckSpec("shared-census", "with every writer held off, each shared map holds at most max_entries keys, each once and intact, and a batch lookup returns exactly what get_next_key walks"),
        ],
        ownedNames: ["bpfs_fuzz"], keepsInFlightState: true)

    static let sharedMax = 256
    /// Shared maps: (map, strict). Prealloc maps reuse an element at once after a delete, so a
    /// concurrent syscall lookup may copy a half-rewritten value: torn reads are counted there,
    /// and only BPF_F_NO_PREALLOC (RCU-freed elements) must never tear.
    let shared: [(MapFD, Bool)]
    let corpusDir: String?
    let stateDir: String?
    let sharedEvery: Int
    let censusPeriod: Double
    private let lock = NSLock()
    private var executions = 0
    private var calls = 0
    private var signatures = Set<String>()
    private var added = 0
    private var torn = 0
    private var censuses = 0
    private var censusBusy = 0
    private var roundsBusy = 0
    /// Censuses that found a BPF_F_NO_PREALLOC map over max_entries (within the racing-insert
    /// bound: data, not a finding), and by how much at most.
    private var overMax = 0
    private var overMaxBy = 0
    /// Calls armed by fail_nth, those whose fault was injected, and those that then failed (ENOMEM).
    private var faults = FaultNth.Stats()
    /// The kernel facts the fuzz threads probed (the same for every thread of a worker).
    private var facts: KernelFacts?
    private var unprobedFacts: [String] = []
    /// Checks skipped by a fuzz thread, with the reason (no private netns for devmap updates).
    private var skipped: Set<String> = []
    /// The program each fuzz thread is running (thread index -> program, start), for stopping().
    private var inflight: [Int: (program: Program, startNs: UInt64, firstIndex: UInt64, thread: ThreadContext)] = [:]
    private let worker: WorkerContext
    /// Called inside every fuzz call of the first thread of the first worker with the call's
    /// index, before the call. nil in the product; bpfstress-selftest sets it to plant a hang or
    /// a crash inside the N-th call, so tests can check that the finding carries the program.
    nonisolated(unsafe) public static var insideFirstThreadCall: ((UInt64) -> Void)?

    public init(worker: WorkerContext) throws {
        self.worker = worker
        let c = worker.params.string("corpus"), s = worker.params.string("state_dir")
        corpusDir = c.isEmpty ? nil : c
        // Under `bpfstress run` (smoke, nightly) reproducers go to the run directory.
        stateDir = s.isEmpty ? worker.reportFilesDirectory : s
        sharedEvery = max(1, worker.params.int("shared_every"))
        censusPeriod = max(0, worker.params.double("census_period"))
        let token = SharedMapSet.token(scenario: Self.descriptor.name)
        let specs = [
            MapSpec(type: .hash, keySize: 4, valueSize: UInt32(SharedValue.size), maxEntries: UInt32(Self.sharedMax),
                    flags: BPFMapFlags.noPrealloc, name: SharedMapSet.name(token: token, suffix: "hn")),
            MapSpec(type: .lruHash, keySize: 4, valueSize: UInt32(SharedValue.size), maxEntries: UInt32(Self.sharedMax),
                    name: SharedMapSet.name(token: token, suffix: "lru")),
            MapSpec(type: .hash, keySize: 4, valueSize: UInt32(SharedValue.size), maxEntries: UInt32(Self.sharedMax),
                    name: SharedMapSet.name(token: token, suffix: "h")),
        ]
        let maps = try SharedMapSet.open(specs, runtime: worker.runtime)
        shared = zip(maps, [true, false, false]).map { ($0, $1) }
    }

    public func teardown() {
        shared.forEach { $0.0.close() }
        guard let dir = stateDir else { return }
        lock.lock()
        let sigs = signatures.sorted()
        let counts = [("executions", executions), ("calls", calls), ("corpus_added", added), ("torn_tolerated", torn),
                      ("censuses", censuses), ("census_lock_busy", censusBusy), ("shared_rounds_lock_busy", roundsBusy),
                      ("census_over_max", overMax), ("census_over_max_by", overMaxBy),
                      ("fault_armed", faults.armed), ("fault_injected", faults.injected), ("fault_failed", faults.failed)]
        let factPairs = facts?.properties ?? []
        let unprobed = unprobedFacts
        let skips = skipped.sorted()
        lock.unlock()
        // Written by hand: this runs after TERM, inside the stop grace period, and
        // JSONSerialization of ~2,000 strings took seconds on a loaded machine. Signatures are
        // plain ASCII (op/type/errno/outcome); quotes and backslashes are escaped anyway.
        func quoted(_ x: String) -> String { "\"" + x.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
        let json = "{" + counts.map { "\(quoted($0.0)):\($0.1)" }.joined(separator: ",") +
            ",\"facts\":{" + factPairs.map { "\(quoted($0.name)):\(quoted($0.value))" }.joined(separator: ",") + "}" +
            ",\"unprobed_facts\":[" + unprobed.map(quoted).joined(separator: ",") + "]" +
            ",\"skipped\":[" + skips.map(quoted).joined(separator: ",") + "]" +
            ",\"signatures\":[" + sigs.map(quoted).joined(separator: ",") + "]}\n"
        try? json.write(toFile: dir + "/fuzz-stats-\(getpid()).json", atomically: true, encoding: .utf8)
    }

    /// Threads still running after the stop request are likely stuck in a call: write the
    /// program each one is running where the coordinator attaches it to this worker's hang
    /// findings, with how long it has been running.
    public func stopping() {
        guard lock.lock(before: Date().addingTimeInterval(0.2)) else { return }
        let running = inflight
        lock.unlock()
        let now = Self.monotonicNs()
        for (t, e) in running.sorted(by: { $0.key < $1.key }) {
            let secs = Double(now &- e.startNs) / 1e9
            var where_ = ""
            if let op = e.thread.opInFlight, op.a1 >= e.firstIndex, op.a1 - e.firstIndex < UInt64(e.program.calls.count) {
                let line = Int(op.a1 - e.firstIndex)
                where_ = "# in flight: call \(line + 1) of \(e.program.calls.count), `\(e.program.calls[line].description)` (\(op.kind.name))\n"
            }
            let text = "# map-fuzz worker slot \(worker.slotIndex) pid \(getpid()) thread \(t): program running for \(String(format: "%.1f", secs)) s when told to stop\n" +
                where_ + "# replay: bpfstress fuzz --replay FILE\n" + e.program.text
            worker.leaveState("t\(t).prog", text)
        }
    }

    /// clock_gettime(CLOCK_MONOTONIC) in nanoseconds.
    static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Programs a worker's first thread runs before its armed-timer and kptr pass.
    static let fieldRoundsAfter = 64

    static func opKind(_ op: CallOp) -> OpKind {
        switch op {
        case .create: return .mapCreate
        case .update: return .mapUpdate
        case .lookup: return .mapLookup
        case .delete: return .mapDelete
        case .nextKey, .walk: return .mapNextKey
        case .lookupAndDelete: return .mapLookupAndDelete
        case .freeze: return .mapFreeze
        case .lookupBatch: return .mapLookupBatch
        case .lookupAndDeleteBatch: return .mapLookupAndDeleteBatch
        case .updateBatch: return .mapUpdateBatch
        case .deleteBatch: return .mapDeleteBatch
        case .close, .munmap: return .teardown
        case .mmap, .view: return .mapLookup
        case .pin, .unpin: return .objPin
        case .objGet, .fdByID: return .objGet
        case .nextID: return .nextID
        case .info: return .objInfo
        case .race: return .mapUpdate
        case .ringMmap: return .mapLookup
        case .putInner, .putProg: return .mapUpdate
        case .alive: return .mapLookup
        case .failNth: return .check  // the field rounds' kind (16 histograms per thread)
        case .open: return .objGet  // an fd of a pool object (no op kind of its own: 16 histograms per thread)
        case .drop: return .teardown
        }
    }

    public func run(thread: ThreadContext) throws {
        let ncpu = Probes.possibleCPUs()
        pinCurrentThread(cpu: (thread.worker.slotIndex + thread.index) % max(1, ncpu))
        let corpus = Corpus(directory: corpusDir)
        _ = try? corpus.load()
        let seed = thread.worker.seed ^ UInt64(thread.worker.slotIndex) << 32 ^ UInt64(thread.index) << 16
        let f = Fuzzer(runtime: thread.runtime, seed: seed, corpus: corpus)
        f.generator.pidfds = thread.worker.threadCount == 1
        // devmap ifindexes resolve in the thread's netns: a private one with only lo (FuzzNetns.swift).
        if let why = f.enterPrivateNetns() {
            lock.lock(); skipped.insert(f.netnsSkip ?? why); lock.unlock()
            if thread.index == 0 { thread.worker.reportProperty("skip.devmap_netns", why) }
        }
        lock.lock(); facts = f.model.facts; unprobedFacts = f.unprobedFacts; lock.unlock()
        if thread.index == 0 {
            // The kernel facts as properties of the scenario's JUnit testsuite.
            for p in f.model.facts.properties { thread.worker.reportProperty(p.name, p.value) }
            if !f.unprobedFacts.isEmpty { thread.worker.reportProperty("fact.unprobed", f.unprobedFacts.joined(separator: "; ")) }
        }
        var index: UInt64 = 0
        let me = thread.index
        f.willExecute = { [unowned self] p in
            lock.lock(); inflight[me] = (p, Self.monotonicNs(), index + 1, thread); lock.unlock()
        }
        defer { lock.lock(); inflight[me] = nil; lock.unlock() }
        let first = thread.index == 0 && worker.slotIndex == 0 && worker.spec.generation == 0
        let hook = first ? Self.insideFirstThreadCall : nil
        f.around = { op, map, body in
            index += 1
            return (try? thread.op(Self.opKind(op), UInt64(map), index) {
                hook?(index)
                return body()
            }) ?? CallResult()
        }
        for (p, source, rep) in f.replayCorpus(limit: 64, while: { thread.keepRunning }) {
            reportFinding(thread, f, p, rep, seed: seed, from: "corpus program \(source)")
        }
        var n = 0
        var nextCensus = Self.monotonicNs() + UInt64(censusPeriod * 1e9)
        var rng = SplitMix64(seed: seed, stream: 0x5A)
        var seq: UInt64 = 0
        let censusLock = CensusLock(telemetryFD: thread.worker.spec.telemetryFD)
        if censusLock == nil || censusPeriod == 0 {
            thread.worker.skipCheck("shared-census", reason: censusLock == nil ? "cannot reopen the telemetry memfd for the census lock: errno \(errno)" : "census_period is 0")
        }
        while thread.keepRunning {
            let (p, rep) = f.step()
            if rep.findings.isEmpty {
                thread.pass("oracle-agrees")
            } else {
                reportFinding(thread, f, p, rep, seed: seed, from: nil)
            }
            n += 1
            // After the first programs, so that the fuzz loop (and any planted fault in it) starts at once.
            if n == Self.fieldRoundsAfter && thread.index == 0 { FieldRounds.judge(thread, scenario: Self.descriptor.name) }
            if n % sharedEvery == 0 {
                // Shared rounds hold the census lock shared: a census (exclusive) sees no writer.
                if let censusLock, !censusLock.acquire(exclusive: false, within: 0.5) {
                    lock.lock(); roundsBusy += 1; lock.unlock()
                    continue
                }
                defer { censusLock?.release() }
                try sharedRound(thread, &rng, &seq)
                if let censusLock, thread.index == 0, censusPeriod > 0, Self.monotonicNs() >= nextCensus {
                    censusLock.release()
                    try census(thread, censusLock)
                    nextCensus = Self.monotonicNs() + UInt64(censusPeriod * 1e9)
                }
            }
        }
        if thread.index == 0 && n < Self.fieldRoundsAfter {
            let why = "the campaign ended before the worker's first \(Self.fieldRoundsAfter) programs"
            thread.worker.skipCheck("armed-timers", reason: why)
            thread.worker.skipCheck("kptr-fields", reason: why)
        }
        judgeFaults(thread, f)
        lock.lock()
        faults.armed += f.model.faultStats.armed
        faults.injected += f.model.faultStats.injected
        faults.failed += f.model.faultStats.failed
        executions += f.executions
        calls += f.totalCalls
        signatures.formUnion(corpus.signatures)
        added += corpus.added
        lock.unlock()
    }

    /// fault-injection: passed by a thread whose armed calls reached their fault sites (each such
    /// call was judged by the model: a disagreement is an oracle-agrees finding of its program);
    /// skipped with the reason where the kernel cannot inject, or no fault site was reached.
    func judgeFaults(_ thread: ThreadContext, _ f: Fuzzer) {
        let s = f.model.faultStats
        if let why = f.faultInjection.skipReason {
            if thread.index == 0 { thread.worker.skipCheck("fault-injection", reason: why) }
        } else if s.injected > 0 {
            thread.pass("fault-injection")
        } else {
            thread.worker.skipCheck("fault-injection", reason: "no armed call reached its fault site (\(s.armed) call(s) armed by fail_nth)")
        }
    }

    /// An oracle-agrees failure with its reproducer (written to the state dir); `from` names a
    /// corpus program the finding came from.
    func reportFinding(_ thread: ThreadContext, _ f: Fuzzer, _ p: Program, _ rep: ExecReport, seed: UInt64, from: String?) {
        let path = stateDir.flatMap {
            try? Reproducer.write(p, findings: rep.findings, seed: seed, dir: $0, cSource: CReproducer.source(p, fuzzer: f, title: "map-fuzz seed \(seed)"))
        } ?? "(no state dir)"
        let first = rep.findings[0]
        thread.fail("oracle-agrees", title: "map fuzz: \(first.signature) in map-fuzz",
                    detail: (from.map { "from \($0)\n" } ?? "") + rep.findings.map(\.description).joined(separator: "\n") +
                        "\nkernel facts (probed): \(f.model.facts.summary)" +
                        "\nreproducer: \(path)\n" + p.text)
    }

    /// Writes this thread's keys and reads everyone's on the shared maps, then one batch lookup.
    func sharedRound(_ thread: ThreadContext, _ rng: inout SplitMix64, _ seq: inout UInt64) throws {
        let writer = UInt32(thread.worker.slotIndex << 8 | thread.index)
        for (map, strict) in shared {
            for _ in 0..<16 {
                seq += 1
                let key = UInt32(rng.next() % UInt64(Self.sharedMax * 2))
                let kb = withUnsafeBytes(of: key.littleEndian) { Array($0) }
                switch rng.next() % 4 {
                case 0, 1:
                    let v = SharedValue.encode(writer: writer, key: key, seq: seq)
                    do { try thread.op(.mapUpdate, UInt64(map.fd), UInt64(key)) { try map.update(key: kb, value: v) } } catch {
                        if errnoNumber(of: error) != E2BIG { // E2BIG: the shared map is full
                            thread.fail("shared-values-intact", title: "shared update failed: \(errnoLabel(of: error)) in map-fuzz",
                                        detail: "key \(key): \(error)", errno: errnoNumber(of: error) ?? 0, op: .mapUpdate)
                        }
                    }
                case 2:
                    // Any outcome is legal: another worker may have deleted the key first (ENOENT).
                    _ = try? thread.op(.mapDelete, UInt64(map.fd), UInt64(key)) { try map.delete(key: kb) }
                default:
                    // A missing key (ENOENT) is legal; a value that is there must be intact.
                    if let v = try? thread.op(.mapLookup, UInt64(map.fd), UInt64(key), { try map.lookup(key: kb, valueBytes: SharedValue.size) }) {
                        judge(thread, SharedValue.verify(v, key: key), strict: strict)
                    }
                }
            }
            try sharedBatch(thread, map, strict: strict)
        }
    }

    /// Takes the census lock exclusive (no shared round of any worker in flight), then walks
    /// and batch-reads every shared map and checks the snapshot (checkSharedCensus).
    func census(_ thread: ThreadContext, _ lock: CensusLock) throws {
        guard lock.acquire(exclusive: true, within: 0.5) else {
            self.lock.lock(); censusBusy += 1; self.lock.unlock()
            return
        }
        defer { lock.release() }
        var problems: [String] = []
        for (map, _) in shared {
            let noPrealloc = (map.spec?.flags ?? 0) & BPFMapFlags.noPrealloc != 0
            let overshoot = noPrealloc ? Probes.possibleCPUs() - 1 : 0
            // One flight-recorder op for the walk and its lookups (censusWalk reads past the bound it checks).
            let walk = try thread.op(.mapNextKey, UInt64(map.fd), 0) {
                try censusWalk(map, maxEntries: Self.sharedMax, overshoot: overshoot, universe: Self.sharedMax * 2)
            }
            let (errno, entries) = try wholeMapBatch(thread, map)
            var batch: [(key: UInt32, value: [UInt8])]? = nil
            if errno == 0 || errno == ENOENT { batch = entries } else {
                problems.append("census: batch lookup of the whole map failed: \(ErrnoName.name(errno))")
            }
            let name = map.spec?.name ?? "fd \(map.fd)"
            problems += checkSharedCensus(walk: walk, batch: batch, maxEntries: Self.sharedMax, universe: Self.sharedMax * 2,
                                          overshoot: overshoot)
                .map { "\(name): \($0)" }
            if walk.count > Self.sharedMax {
                self.lock.lock(); overMax += 1; overMaxBy = max(overMaxBy, walk.count - Self.sharedMax); self.lock.unlock()
            }
        }
        self.lock.lock(); censuses += 1; self.lock.unlock()
        if problems.isEmpty { thread.pass("shared-census") } else {
            thread.fail("shared-census", title: "shared map census broke an invariant in map-fuzz", detail: problems.joined(separator: "\n"))
        }
    }

    func judge(_ thread: ThreadContext, _ r: Result<SharedValue.Decoded, SharedValueError>, strict: Bool) {
        switch r {
        case .success: thread.pass("shared-values-intact")
        case let .failure(e):
            if !strict && e.description.hasPrefix("torn") {
                lock.lock(); torn += 1; lock.unlock()
                return
            }
            thread.fail("shared-values-intact", title: "shared map value broken in map-fuzz", detail: e.description)
        }
    }

    /// One lookup_batch from the start with room for the whole key universe: the errno and
    /// the (key, value) entries it returned.
    func wholeMapBatch(_ thread: ThreadContext, _ map: MapFD) throws -> (Int32, [(key: UInt32, value: [UInt8])]) {
        let cap = Self.sharedMax * 2
        let keys = try GuardedBuffer(byteCount: cap * 4), values = try GuardedBuffer(byteCount: cap * SharedValue.size)
        let outB = try GuardedBuffer(byteCount: 8)
        var count = UInt32(cap)
        let errno: Int32 = try thread.op(.mapLookupBatch, UInt64(map.fd), UInt64(cap)) {
            do { try map.lookupBatch(inBatch: nil, outBatch: outB, keys: keys, values: values, count: &count); return 0 } catch {
                return errnoNumber(of: error) ?? EIO
            }
        }
        guard errno == 0 || errno == ENOENT else { return (errno, []) }
        let n = Int(min(count, UInt32(cap)))
        return (errno, (0..<n).map { (keys.uint32(at: $0 * 4) ?? 0, values.bytes($0 * SharedValue.size, SharedValue.size)) })
    }

    func sharedBatch(_ thread: ThreadContext, _ map: MapFD, strict: Bool) throws {
        let (errno, entries) = try wholeMapBatch(thread, map)
        guard errno == 0 || errno == ENOENT else {
            thread.fail("shared-batch-unique", title: "shared batch lookup failed: \(ErrnoName.name(errno)) in map-fuzz",
                        detail: "count \(Self.sharedMax * 2)", errno: errno, op: .mapLookupBatch)
            return
        }
        let problems = checkSharedBatch(keys: entries.map(\.key), values: entries.map(\.value), universe: Self.sharedMax * 2, tornAllowed: !strict)
        if problems.isEmpty { thread.pass("shared-batch-unique") } else {
            let torn = problems.filter { $0.hasPrefix("torn") }
            if !torn.isEmpty { thread.fail("shared-values-intact", title: "shared map value broken in map-fuzz", detail: torn.joined(separator: "\n")) }
            let other = problems.filter { !$0.hasPrefix("torn") }
            if !other.isEmpty { thread.fail("shared-batch-unique", title: "shared batch lookup broke an invariant in map-fuzz", detail: other.joined(separator: "\n")) }
        }
    }
}

/// The lock that makes a census a snapshot, across every worker of the campaign: flock(2)
/// on a new open file description of the telemetry memfd, which every worker maps.
/// Reopening /proc/self/fd/N gives each thread its own description, so threads and
/// processes exclude each other; a worker that dies drops its lock with its fds; nothing
/// outlives the campaign. Waits are polls bounded in time (a stuck holder costs a skipped
/// round, never a stuck thread).
final class CensusLock {
    private let fd: Int32

    init?(telemetryFD: Int32) {
        fd = open("/proc/self/fd/\(telemetryFD)", O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
    }

    deinit { close(fd) }

    /// flock(LOCK_SH or LOCK_EX | LOCK_NB), retried every millisecond for up to `within` s.
    func acquire(exclusive: Bool, within seconds: Double) -> Bool {
        let until = Date().addingTimeInterval(seconds)
        repeat {
            if flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0 { return true }
            if errno != EWOULDBLOCK && errno != EINTR { return false }
            usleep(1000)
        } while Date() < until
        return false
    }

    /// flock(LOCK_UN).
    func release() { _ = flock(fd, LOCK_UN) }
}
