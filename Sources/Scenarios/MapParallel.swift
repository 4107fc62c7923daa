import Basics
import BPFKit
import Foundation
import StressCore

/// The kernel's test_maps pattern: threads in several processes update disjoint and
/// overlapping key ranges of HASH (prealloc and BPF_F_NO_PREALLOC), LRU_HASH and ARRAY
/// maps with NOEXIST and EXIST, retrying EBUSY/EAGAIN with bounded backoff.
///
/// Two layers, so that the oracle is exact despite the overlap:
/// - cross-process maps (one set per campaign, shared by every worker): each thread owns
///   a key range nobody else writes, so it knows those keys exactly at any time; an
///   overlap range is written by everyone with values that name their key and writer.
/// - per-process maps, in rounds separated by a barrier of the process's threads: own
///   ranges plus an overlap range whose values depend only on (key, round), so whoever
///   wins each race the final content is known; thread 0 checks it exactly (values, key
///   set, count by get_next_key = count by lookup_batch) and that each overlap key had
///   exactly one NOEXIST winner; then all threads delete in parallel and thread 0 checks
///   the map is empty and each overlap key had exactly one successful delete.
public final class MapParallel: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "map-parallel",
        shortName: "mappar",
        summary: "parallel NOEXIST/EXIST updates and deletes on disjoint and overlapping keys of hash, LRU and array maps",
        bugClass: "lost or duplicated updates, broken NOEXIST/EXIST semantics and counts under concurrent map writers",
        requirements: [.bpfLoad],
        parameters: [
            ParameterSpec("own_keys", .int, default: .int(16), help: "keys each thread owns per map (max 16)"),
            ParameterSpec("overlap_keys", .int, default: .int(64), help: "keys every thread of a process writes per round"),
            ParameterSpec("global_overlap_keys", .int, default: .int(64), help: "keys every thread of every process writes"),
        ],
        checks: [
            CheckSpec("expected-errnos", "every update/delete returns what its flags dictate (NOEXIST on present: EEXIST, EXIST on absent: ENOENT, array delete: EINVAL), after bounded EBUSY/EAGAIN retries"),
            CheckSpec("own-range-exact", "a thread's own keys in the cross-process maps hold exactly what it wrote"),
            CheckSpec("overlap-values", "a shared overlap key only ever holds a value some writer wrote for that key"),
            CheckSpec("final-content-exact", "at the round barrier the process map holds exactly the expected keys and values"),
            CheckSpec("counts-agree", "count by get_next_key equals count by lookup_batch equals the expected count"),
            CheckSpec("one-winner", "each overlap key had exactly one successful NOEXIST insert and one successful delete per round"),
            CheckSpec("delete-to-empty", "after the parallel delete the map is empty (arrays: all zero)"),
        ])

    /// A map with what the checks need to know about it.
    struct TestMap {
        let map: MapFD
        let name: String
        let isArray: Bool
        let maxEntries: Int
    }

    static let globalMax = 1 << 16
    static let globalOverlapBase: UInt32 = 61_440
    static let localMax = 4096
    static let localOverlapBase: UInt32 = 2048

    let global: [TestMap]
    let local: [TestMap]
    let barrier: TimedBarrier
    let ownKeys: Int
    let overlapKeys: Int
    let globalOverlapKeys: Int
    /// Successful NOEXIST inserts / deletes per (local map, overlap key) this round.
    private let lock = NSLock()
    private var insertWins: [[UInt32: Int]]
    private var deleteWins: [[UInt32: Int]]

    static func specs(max: Int, name: (String) -> String) -> [(MapSpec, String)] {
        [
            (MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: UInt32(max), name: name("h")), "hash"),
            (MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: UInt32(max), flags: BPFMapFlags.noPrealloc,
                     name: name("hn")), "hash-no_prealloc"),
            (MapSpec(type: .lruHash, keySize: 4, valueSize: 8, maxEntries: UInt32(max), name: name("lru")), "lru_hash"),
            (MapSpec(type: .array, keySize: 4, valueSize: 8, maxEntries: UInt32(max), name: name("arr")), "array"),
        ]
    }

    public init(worker: WorkerContext) throws {
        ownKeys = min(16, max(1, worker.params.int("own_keys")))
        overlapKeys = min(2048, max(1, worker.params.int("overlap_keys")))
        globalOverlapKeys = min(4096, max(1, worker.params.int("global_overlap_keys")))
        guard worker.threadCount * ownKeys <= Int(Self.localOverlapBase) else {
            throw StressError(.config, "map-parallel: \(worker.threadCount) threads × \(ownKeys) own keys exceed the local key range")
        }
        let token = SharedMapSet.token(scenario: Self.descriptor.name)
        let g = Self.specs(max: Self.globalMax) { SharedMapSet.name(token: token, suffix: $0) }
        let gm = try SharedMapSet.open(g.map(\.0), runtime: worker.runtime)
        global = zip(gm, g).map { TestMap(map: $0, name: $1.1, isArray: $1.0.type == .array, maxEntries: Self.globalMax) }
        let l = Self.specs(max: Self.localMax) { "bpfs_mappar_\($0)" }
        local = try l.map { spec, name in
            TestMap(map: try worker.runtime.mapCreate(spec), name: name, isArray: spec.type == .array, maxEntries: Self.localMax)
        }
        barrier = TimedBarrier(parties: worker.threadCount)
        insertWins = Array(repeating: [:], count: local.count)
        deleteWins = Array(repeating: [:], count: local.count)
    }

    public func teardown() {
        global.forEach { $0.map.close() }
        local.forEach { $0.map.close() }
    }

    public func run(thread: ThreadContext) throws {
        defer { barrier.breakBarrier() }
        var round = 0
        while thread.keepRunning {
            round += 1
            for m in global { globalRound(thread, m, round) }
            guard localRound(thread, round) else { break }
        }
    }

    // MARK: calls with retry and errno judgement

    static func kb(_ k: UInt32) -> [UInt8] { withUnsafeBytes(of: k.littleEndian) { Array($0) } }
    static func vb(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func u64(_ b: [UInt8]) -> UInt64 { b.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.1) << (8 * UInt64($1.0)) } }

    static func flagName(_ f: UInt64) -> String {
        switch f { case BPFUpdateFlags.noExist: return "NOEXIST"; case BPFUpdateFlags.exist: return "EXIST"; default: return "ANY" }
    }

    /// Runs `body` as one recorded op, retrying EBUSY/EAGAIN up to 8 times with 10 µs…2 ms backoff.
    func retrying(_ thread: ThreadContext, _ kind: OpKind, _ m: TestMap, _ key: UInt32, _ body: () throws(BPFError) -> Void) -> Int32 {
        var delay: UInt32 = 10
        var e: Int32 = 0
        for attempt in 0..<8 {
            // BPFError from a map op always carries its errno, so errnoOf never rethrows here.
            e = (try? thread.errnoOf(kind, UInt64(m.map.fd), UInt64(key)) { try body() }) ?? -1
            guard (e == EBUSY || e == EAGAIN) && attempt < 7 else { break }
            thread.tolerate(e)
            usleep(delay)
            delay = min(delay * 2, 2000)
        }
        return e
    }

    /// Judges one errno; expected non-zero ones are counted as tolerated.
    @discardableResult
    func expect(_ thread: ThreadContext, _ e: Int32, _ allowed: Set<Int32>, call: String, _ m: TestMap, _ what: String) -> Bool {
        if allowed.contains(e) {
            if e != 0 { thread.tolerate(e) }
            return true
        }
        thread.fail("expected-errnos", title: "\(call) on \(m.name): \(errnoText(e)) not in \(errnoList(allowed)) in map-parallel",
                    detail: "\(call) on \(m.name) (fd \(m.map.fd)): \(what) -> \(errnoText(e)), allowed \(errnoList(allowed))\nlast ops:\n" +
                        thread.recentOps().joined(separator: "\n"),
                    errno: max(e, 0), op: call.contains("delete") ? .mapDelete : call.contains("lookup") ? .mapLookup : .mapUpdate)
        return false
    }

    func update(_ thread: ThreadContext, _ m: TestMap, _ key: UInt32, _ value: UInt64, _ flags: UInt64) -> Int32 {
        retrying(thread, .mapUpdate, m, key) { () throws(BPFError) in try m.map.update(key: Self.kb(key), value: Self.vb(value), flags: flags) }
    }

    func delete(_ thread: ThreadContext, _ m: TestMap, _ key: UInt32) -> Int32 {
        retrying(thread, .mapDelete, m, key) { () throws(BPFError) in try m.map.delete(key: Self.kb(key)) }
    }

    func lookup(_ thread: ThreadContext, _ m: TestMap, _ key: UInt32) -> (Int32, UInt64?) {
        var value: UInt64?
        let e = retrying(thread, .mapLookup, m, key) { () throws(BPFError) in
            value = Self.u64(try m.map.lookup(key: Self.kb(key), valueBytes: 8))
        }
        return (e, value)
    }

    // MARK: cross-process maps

    /// One round on a map every worker shares: own keys exact, overlap keys constrained.
    func globalRound(_ thread: ThreadContext, _ m: TestMap, _ r: Int) {
        let slot = thread.worker.slotIndex, t = thread.index
        var clean = true
        let absentInsert: Set<Int32> = m.isArray ? [EEXIST] : [0]
        if slot < 120 && t < 32 {
            let base = UInt32(slot * 512 + t * 16)
            let own = (base..<base + UInt32(ownKeys)).map { $0 }
            for k in own {
                clean = expect(thread, update(thread, m, k, ParallelValues.own(key: k, round: r, phase: 0), BPFUpdateFlags.noExist),
                               absentInsert, call: "bpf_map_update_elem(NOEXIST)", m, "own key \(k), absent") && clean
            }
            for k in own {
                clean = expect(thread, update(thread, m, k, ParallelValues.own(key: k, round: r, phase: 0), BPFUpdateFlags.noExist),
                               [EEXIST], call: "bpf_map_update_elem(NOEXIST)", m, "own key \(k), present") && clean
                clean = expect(thread, update(thread, m, k, ParallelValues.own(key: k, round: r, phase: 1), BPFUpdateFlags.exist),
                               [0], call: "bpf_map_update_elem(EXIST)", m, "own key \(k), present") && clean
            }
            var exact = true
            for k in own {
                let (e, v) = lookup(thread, m, k)
                let want = ParallelValues.own(key: k, round: r, phase: 1)
                if e != 0 || v != want {
                    exact = false
                    thread.fail("own-range-exact", title: "own key lost or changed in cross-process \(m.name) in map-parallel",
                                detail: "slot \(slot) thread \(t) round \(r): key \(k) -> \(errnoText(e)) value \(v.map { "0x" + String($0, radix: 16) } ?? "none"), wrote 0x\(String(want, radix: 16)); nobody else writes this key\nlast ops:\n" +
                                    thread.recentOps().joined(separator: "\n"), op: .mapLookup)
                    break
                }
            }
            if exact { thread.pass("own-range-exact") }
            // Delete (arrays: zero) the own range and prove it is gone.
            for k in own {
                if m.isArray {
                    clean = expect(thread, delete(thread, m, k), [EINVAL], call: "bpf_map_delete_elem", m, "array key \(k)") && clean
                    clean = expect(thread, update(thread, m, k, 0, BPFUpdateFlags.exist), [0], call: "bpf_map_update_elem(EXIST)", m, "zero array key \(k)") && clean
                } else {
                    clean = expect(thread, delete(thread, m, k), [0], call: "bpf_map_delete_elem", m, "own key \(k), present") && clean
                    clean = expect(thread, update(thread, m, k, 1, BPFUpdateFlags.exist), [ENOENT], call: "bpf_map_update_elem(EXIST)", m, "own key \(k), deleted") && clean
                }
                let (e, v) = lookup(thread, m, k)
                if m.isArray ? (e != 0 || v != 0) : e != ENOENT {
                    clean = false
                    thread.fail("own-range-exact", title: "own key still set after delete in cross-process \(m.name) in map-parallel",
                                detail: "key \(k) -> \(errnoText(e)) value \(v.map { String($0, radix: 16) } ?? "none") after delete/zero", op: .mapLookup)
                } else if !m.isArray { thread.tolerate(ENOENT) }
            }
        }
        // Overlap: everybody writes the same keys; values must always name their key.
        let writer = UInt32(truncatingIfNeeded: slot << 8 | t) & 0xFF_FFFF
        var constrained = true
        for _ in 0..<8 {
            let k = Self.globalOverlapBase + UInt32.random(in: 0..<UInt32(globalOverlapKeys), using: &thread.rng)
            let v = ParallelValues.overlap(key: k, writer: writer)
            switch Int.random(in: 0..<4, using: &thread.rng) {
            case 0:
                clean = expect(thread, update(thread, m, k, v, BPFUpdateFlags.noExist), m.isArray ? [EEXIST] : [0, EEXIST],
                               call: "bpf_map_update_elem(NOEXIST)", m, "overlap key \(k)") && clean
            case 1:
                clean = expect(thread, update(thread, m, k, v, BPFUpdateFlags.exist), m.isArray ? [0] : [0, ENOENT],
                               call: "bpf_map_update_elem(EXIST)", m, "overlap key \(k)") && clean
            case 2:
                clean = expect(thread, update(thread, m, k, v, BPFUpdateFlags.any), [0], call: "bpf_map_update_elem(ANY)", m, "overlap key \(k)") && clean
            default:
                clean = expect(thread, delete(thread, m, k), m.isArray ? [EINVAL] : [0, ENOENT],
                               call: "bpf_map_delete_elem", m, "overlap key \(k)") && clean
            }
            let (e, got) = lookup(thread, m, k)
            let ok: Bool
            if e == ENOENT && !m.isArray { ok = true; thread.tolerate(ENOENT) }
            else if e == 0, let got { ok = ParallelValues.isOverlapValue(got, key: k) || (m.isArray && got == 0) }
            else { ok = false }
            if !ok {
                constrained = false
                thread.fail("overlap-values", title: "overlap key holds a value nobody wrote for it in cross-process \(m.name) in map-parallel",
                            detail: "key \(k) -> \(errnoText(e)) value \(got.map { "0x" + String($0, radix: 16) } ?? "none")\nlast ops:\n" +
                                thread.recentOps().joined(separator: "\n"), op: .mapLookup)
                break
            }
        }
        if constrained { thread.pass("overlap-values") }
        if clean { thread.pass("expected-errnos") }
    }

    // MARK: per-process maps in barrier rounds

    func sync(_ thread: ThreadContext) -> Bool {
        barrier.wait(keepRunning: { thread.keepRunning }, heartbeat: { thread.heartbeat() })
    }

    func localOwn(_ t: Int) -> [UInt32] { (UInt32(t * ownKeys)..<UInt32(t * ownKeys + ownKeys)).map { $0 } }
    var localOverlap: [UInt32] { (Self.localOverlapBase..<Self.localOverlapBase + UInt32(overlapKeys)).map { $0 } }
    static func overlapValue(_ k: UInt32, _ r: Int) -> UInt64 { ParallelValues.own(key: k, round: r, phase: 0) ^ 0x5A00 }

    /// Insert, barrier, verify (thread 0), barrier, parallel delete, barrier, verify empty, barrier.
    func localRound(_ thread: ThreadContext, _ r: Int) -> Bool {
        let t = thread.index
        var clean = true
        for (mi, m) in local.enumerated() {
            for k in localOwn(t) {
                clean = expect(thread, update(thread, m, k, ParallelValues.own(key: k, round: r, phase: 0), BPFUpdateFlags.noExist),
                               m.isArray ? [EEXIST] : [0], call: "bpf_map_update_elem(NOEXIST)", m, "local own key \(k)") && clean
                let e = update(thread, m, k, ParallelValues.own(key: k, round: r, phase: 1), m.isArray ? BPFUpdateFlags.any : BPFUpdateFlags.exist)
                clean = expect(thread, e, [0], call: "bpf_map_update_elem(EXIST)", m, "local own key \(k)") && clean
            }
            var wins: [UInt32] = []
            for k in localOverlap.shuffled(using: &thread.rng) {
                let v = Self.overlapValue(k, r)
                if m.isArray {
                    clean = expect(thread, update(thread, m, k, v, BPFUpdateFlags.exist), [0], call: "bpf_map_update_elem(EXIST)", m, "local overlap key \(k)") && clean
                    continue
                }
                let e = update(thread, m, k, v, BPFUpdateFlags.noExist)
                if e == 0 { wins.append(k) }
                clean = expect(thread, e, [0, EEXIST], call: "bpf_map_update_elem(NOEXIST)", m, "local overlap key \(k)") && clean
                clean = expect(thread, update(thread, m, k, v, BPFUpdateFlags.exist), [0], call: "bpf_map_update_elem(EXIST)", m, "local overlap key \(k), inserted") && clean
            }
            lock.lock(); for k in wins { insertWins[mi][k, default: 0] += 1 }; lock.unlock()
        }
        if clean { thread.pass("expected-errnos") }
        guard sync(thread) else { return false }

        if t == 0 {
            for (mi, m) in local.enumerated() {
                var expected: [UInt32: UInt64] = [:]
                for tt in 0..<thread.worker.threadCount { for k in localOwn(tt) { expected[k] = ParallelValues.own(key: k, round: r, phase: 1) } }
                for k in localOverlap { expected[k] = Self.overlapValue(k, r) }
                verify(thread, m, expected: expected, round: r, what: "after the parallel inserts")
                if !m.isArray {
                    lock.lock(); let w = insertWins[mi]; insertWins[mi] = [:]; lock.unlock()
                    report(thread, "one-winner", ParallelMapOracle.checkWinners(w, keys: localOverlap, what: "NOEXIST inserts on \(m.name) round \(r)"), m)
                }
            }
        }
        guard sync(thread) else { return false }

        clean = true
        for (mi, m) in local.enumerated() {
            for k in localOwn(t) {
                if m.isArray {
                    clean = expect(thread, update(thread, m, k, 0, BPFUpdateFlags.exist), [0], call: "bpf_map_update_elem(EXIST)", m, "zero local key \(k)") && clean
                } else {
                    clean = expect(thread, delete(thread, m, k), [0], call: "bpf_map_delete_elem", m, "local own key \(k)") && clean
                }
            }
            var wins: [UInt32] = []
            for k in localOverlap.shuffled(using: &thread.rng) {
                if m.isArray {
                    clean = expect(thread, update(thread, m, k, 0, BPFUpdateFlags.exist), [0], call: "bpf_map_update_elem(EXIST)", m, "zero local overlap key \(k)") && clean
                    continue
                }
                let e = delete(thread, m, k)
                if e == 0 { wins.append(k) }
                clean = expect(thread, e, [0, ENOENT], call: "bpf_map_delete_elem", m, "local overlap key \(k)") && clean
            }
            lock.lock(); for k in wins { deleteWins[mi][k, default: 0] += 1 }; lock.unlock()
        }
        if clean { thread.pass("expected-errnos") }
        guard sync(thread) else { return false }

        if t == 0 {
            for (mi, m) in local.enumerated() {
                verify(thread, m, expected: [:], round: r, what: "after the parallel delete")
                if !m.isArray {
                    lock.lock(); let w = deleteWins[mi]; deleteWins[mi] = [:]; lock.unlock()
                    report(thread, "one-winner", ParallelMapOracle.checkWinners(w, keys: localOverlap, what: "deletes on \(m.name) round \(r)"), m)
                }
            }
        }
        return sync(thread)
    }

    /// Reads `m` both ways and checks it against `expected` (empty: the delete-to-empty check).
    func verify(_ thread: ThreadContext, _ m: TestMap, expected: [UInt32: UInt64], round: Int, what: String) {
        let walk: [UInt32]
        do {
            walk = try thread.op(.mapNextKey, label: "walk", UInt64(m.map.fd)) { try m.map.keys(as: UInt32.self) }
        } catch {
            // keys(as:) throws only BPFError with an errno; -1 (no errno) would show as an unexpected errno.
            expect(thread, errnoNumber(of: error) ?? -1, [0], call: "bpf_map_get_next_key", m, "walk \(what)")
            return
        }
        let cap = m.maxEntries + 1
        var content: [UInt32: UInt64] = [:]
        var count = UInt32(cap)
        do {
            let kb = try GuardedBuffer(byteCount: 4 * cap), vb = try GuardedBuffer(byteCount: 8 * cap), ob = try GuardedBuffer(byteCount: 8)
            let e = try thread.errnoOf(.mapLookupBatch, label: "verify", UInt64(m.map.fd), UInt64(cap)) {
                try m.map.lookupBatch(inBatch: nil, outBatch: ob, keys: kb, values: vb, count: &count)
            }
            guard expect(thread, e, [ENOENT], call: "bpf_map_lookup_batch", m, "full read \(what) (count \(cap))") else { return }
            for i in 0..<Int(count) { content[kb.uint32(at: 4 * i)!] = Self.u64(vb.bytes(8 * i, 8)) }
        } catch {
            thread.fail("expected-errnos", title: "guarded buffer allocation failed in map-parallel", detail: "\(error)")
            return
        }
        var v = ParallelMapOracle.checkContent(expected: expected, content: content, walkKeys: walk, batchCount: Int(count),
                                               isArray: m.isArray, maxEntries: m.maxEntries)
        if expected.isEmpty {
            v = v.map { Violation("delete-to-empty", $0.message) }
        }
        let checks = expected.isEmpty ? ["delete-to-empty"] : ["final-content-exact", "counts-agree"]
        for c in checks { report(thread, c, v.filter { $0.check == c || (expected.isEmpty && $0.check == "delete-to-empty") }, m, what: "round \(round) \(what)") }
        if !v.isEmpty { scrub(thread, m, content) }
    }

    /// After a failed check, puts the map back to empty so that later rounds judge afresh.
    func scrub(_ thread: ThreadContext, _ m: TestMap, _ content: [UInt32: UInt64]) {
        for (k, val) in content where !(m.isArray && val == 0) {
            _ = m.isArray ? update(thread, m, k, 0, BPFUpdateFlags.exist) : delete(thread, m, k)
        }
    }

    func report(_ thread: ThreadContext, _ check: String, _ v: [Violation], _ m: TestMap, what: String = "") {
        if v.isEmpty { thread.pass(check); return }
        thread.fail(check, title: "\(check) violated on \(m.name) in map-parallel",
                    detail: "\(m.name) (fd \(m.map.fd), \(thread.worker.threadCount) threads) \(what):\n" + v.map(\.message).joined(separator: "\n"),
                    op: .check)
    }
}

