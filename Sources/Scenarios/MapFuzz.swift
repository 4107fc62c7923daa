import BPFKit
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
        ],
        checks: [
            CheckSpec("oracle-agrees", "every call of every program matches the shadow model (errno, data, no write outside the buffers)"),
            CheckSpec("shared-values-intact", "every value read from a shared map decodes and names its key (no torn or foreign value)"),
            CheckSpec("shared-batch-unique", "a batch lookup on a shared map holds each key once, only keys some worker writes"),
        ],
        ownedNames: ["bpfs_fuzz"])

    static let sharedMax = 256
    /// Shared maps: (map, strict). Prealloc maps reuse an element at once after a delete, so a
    /// concurrent syscall lookup may copy a half-rewritten value: torn reads are counted there,
    /// and only BPF_F_NO_PREALLOC (RCU-freed elements) must never tear.
    let shared: [(MapFD, Bool)]
    let corpusDir: String?
    let stateDir: String?
    let sharedEvery: Int
    private let lock = NSLock()
    private var executions = 0
    private var calls = 0
    private var signatures = Set<String>()
    private var added = 0
    private var torn = 0

    public init(worker: WorkerContext) throws {
        let c = worker.params.string("corpus"), s = worker.params.string("state_dir")
        corpusDir = c.isEmpty ? nil : c
        stateDir = s.isEmpty ? nil : s
        sharedEvery = max(1, worker.params.int("shared_every"))
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
        lock.lock(); defer { lock.unlock() }
        let stats: [String: Any] = ["executions": executions, "calls": calls, "signatures": signatures.sorted(),
                                    "corpus_added": added, "torn_tolerated": torn]
        if let data = try? JSONSerialization.data(withJSONObject: stats) {
            try? data.write(to: URL(fileURLWithPath: dir + "/fuzz-stats-\(getpid()).json"))
        }
    }

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
        case .close: return .teardown
        }
    }

    public func run(thread: ThreadContext) throws {
        let ncpu = Probes.possibleCPUs()
        pinCurrentThread(cpu: (thread.worker.slotIndex + thread.index) % max(1, ncpu))
        let corpus = Corpus(directory: corpusDir)
        _ = try? corpus.load()
        let seed = thread.worker.seed ^ UInt64(thread.worker.slotIndex) << 32 ^ UInt64(thread.index) << 16
        let f = Fuzzer(runtime: thread.runtime, seed: seed, corpus: corpus)
        var index: UInt64 = 0
        f.around = { c, body in
            index += 1
            return (try? thread.op(Self.opKind(c.op), UInt64(c.map), index) { body() }) ?? CallResult()
        }
        for p in corpus.programs.prefix(64) where thread.keepRunning { corpus.learn(f.execute(p)) }
        var n = 0
        var rng = SplitMix64(seed: seed, stream: 0x5A)
        var seq: UInt64 = 0
        while thread.keepRunning {
            let (p, rep) = f.step()
            if rep.findings.isEmpty {
                thread.pass("oracle-agrees")
            } else {
                let path = stateDir.flatMap { try? Reproducer.write(p, findings: rep.findings, seed: seed, dir: $0) } ?? "(no state dir)"
                let first = rep.findings[0]
                thread.fail("oracle-agrees", title: "map fuzz: \(first.signature) in map-fuzz",
                            detail: rep.findings.map(\.description).joined(separator: "\n") + "\nreproducer: \(path)\n" + p.text)
            }
            n += 1
            if n % sharedEvery == 0 { try sharedRound(thread, &rng, &seq) }
        }
        lock.lock()
        executions += f.executions
        calls += f.totalCalls
        signatures.formUnion(corpus.signatures)
        added += corpus.added
        lock.unlock()
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
                    let e = try thread.op(.mapUpdate, UInt64(map.fd), UInt64(key)) { map.tryUpdate(key: kb, value: v) }
                    if let e, e.rawValue != E2BIG { // E2BIG: the shared map is full
                        thread.fail("shared-values-intact", title: "shared update failed: \(e) in map-fuzz", detail: "key \(key)", errno: e.rawValue, op: .mapUpdate)
                    }
                case 2:
                    _ = try thread.op(.mapDelete, UInt64(map.fd), UInt64(key)) { map.tryDelete(key: kb) }
                default:
                    let r = try thread.op(.mapLookup, UInt64(map.fd), UInt64(key)) { map.tryLookup(key: kb, valueBytes: SharedValue.size) }
                    if case let .success(v) = r { judge(thread, SharedValue.verify(v, key: key), strict: strict) }
                }
            }
            try sharedBatch(thread, map, strict: strict)
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

    func sharedBatch(_ thread: ThreadContext, _ map: MapFD, strict: Bool) throws {
        let cap = Self.sharedMax * 2
        let keys = try GuardedBuffer(byteCount: cap * 4), values = try GuardedBuffer(byteCount: cap * SharedValue.size)
        let outB = try GuardedBuffer(byteCount: 8)
        var count = UInt32(cap)
        let errno: Int32 = try thread.op(.mapLookupBatch, UInt64(map.fd), UInt64(cap)) {
            do { try map.lookupBatch(inBatch: nil, outBatch: outB, keys: keys, values: values, count: &count); return 0 } catch {
                return errnoValue(of: error)
            }
        }
        guard errno == 0 || errno == ENOENT else {
            thread.fail("shared-batch-unique", title: "shared batch lookup failed: \(ErrnoName.name(errno)) in map-fuzz", detail: "count \(cap)", errno: errno, op: .mapLookupBatch)
            return
        }
        let n = Int(min(count, UInt32(cap)))
        let ks = (0..<n).map { keys.uint32(at: $0 * 4) ?? 0 }
        let vs = (0..<n).map { values.bytes($0 * SharedValue.size, SharedValue.size) }
        let problems = checkSharedBatch(keys: ks, values: vs, universe: Self.sharedMax * 2, tornAllowed: !strict)
        if problems.isEmpty { thread.pass("shared-batch-unique") } else {
            let torn = problems.filter { $0.hasPrefix("torn") }
            if !torn.isEmpty { thread.fail("shared-values-intact", title: "shared map value broken in map-fuzz", detail: torn.joined(separator: "\n")) }
            let other = problems.filter { !$0.hasPrefix("torn") }
            if !other.isEmpty { thread.fail("shared-batch-unique", title: "shared batch lookup broke an invariant in map-fuzz", detail: other.joined(separator: "\n")) }
        }
    }
}
