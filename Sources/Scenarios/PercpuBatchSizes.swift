import Basics
import BPFKit
import Foundation
import StressCore

/// Seed bug: a per-CPU hash batch lookup sized values as value_size × count instead of
/// round_up(value_size, 8) × possible CPUs × count, and memcpy overran the caller's
/// buffer (SIGSEGV where EINVAL/EFAULT was due). Every batch op is called with right and
/// wrong sizes, count 0, count above max_entries, bad flags and bad cursors, on buffers
/// that end at a PROT_NONE guard page with canaries in front, while other threads (in
/// this and other worker processes) keep updating the same maps.
public final class PercpuBatchSizes: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "percpu-batch-sizes",
        shortName: "pcpub",
        summary: "per-CPU map batch ops with right and wrong buffer sizes, counts, flags and cursors against guard pages",
        bugClass: "batch copy sized without round_up(value_size, 8) × possible CPUs (buffer overrun, SIGSEGV)",
        requirements: [.bpfLoad],
        parameters: [
            ParameterSpec("max_entries", .int, default: .int(64), help: "max_entries (and key range) of the hash and array maps"),
            ParameterSpec("updaters", .int, default: .int(1), help: "threads per worker that only update the shared maps"),
            ParameterSpec("private_share", .int, default: .int(50),
                          help: "percent of cases run on thread-private maps, where the oracle is exact"),
        ],
        checks: [
            CheckSpec("expected-errnos", "each case's errno is in the documented set for its arguments"),
            CheckSpec("too-small-efault", "a values buffer smaller than the entries need fails with EFAULT"),
            CheckSpec("canary-intact", "no call writes in front of its buffers"),
            CheckSpec("entries-exact", "a correct-size lookup returns exactly the map's entries, each key once"),
            CheckSpec("slots-decode", "every returned per-CPU slot decodes to (key, cpu, generation) / the written bytes"),
            CheckSpec("failed-call-no-change", "a failed call leaves the map as documented (lookups never change it)"),
            CheckSpec("updater-ok", "the concurrent updaters' single-element and batch updates succeed"),
        ])

    static let mapTypes: [BPFMapType] = [.percpuHash, .lruPercpuHash, .percpuArray]
    static let valueSizes = [1, 4, 12, 20, 60]
    /// LRU maps only this thread uses get room to spare, so that they never evict
    /// (the LRU free-list refill evicts early in small maps) and the model stays exact.
    static let privateLRUEntries = 1024

    /// One map under test with what the oracle needs to know about it.
    final class TestMap {
        let map: MapFD
        let type: BPFMapType
        let layout: PercpuLayout
        let maxEntries: Int
        /// Keys ever written are < universe.
        let universe: Int
        let shared: Bool
        /// Cursor left by the last successful lookup (reused as a stale in_batch token).
        var lastToken: UInt32 = 0
        init(map: MapFD, type: BPFMapType, layout: PercpuLayout, maxEntries: Int, universe: Int, shared: Bool) {
            self.map = map; self.type = type; self.layout = layout; self.maxEntries = maxEntries
            self.universe = universe; self.shared = shared
        }
        var isArray: Bool { type == .percpuArray }
    }

    let cpus: Int
    let maxEntries: Int
    let shared: [TestMap]

    public init(worker: WorkerContext) throws {
        cpus = Probes.possibleCPUs()
        maxEntries = max(8, worker.params.int("max_entries"))
        let token = SharedMapSet.token(scenario: Self.descriptor.name, variant: "\(maxEntries)")
        var specs: [MapSpec] = []
        var meta: [(BPFMapType, Int)] = []
        for (ti, t) in Self.mapTypes.enumerated() {
            for (vi, vs) in Self.valueSizes.enumerated() {
                specs.append(MapSpec(type: t, keySize: 4, valueSize: UInt32(vs), maxEntries: UInt32(maxEntries),
                                     name: SharedMapSet.name(token: token, suffix: "p\(ti)\(vi)")))
                meta.append((t, vs))
            }
        }
        let maps = try SharedMapSet.open(specs, runtime: worker.runtime)
        shared = zip(maps, meta).map { m, tv in
            TestMap(map: m, type: tv.0, layout: PercpuLayout(valueSize: tv.1, cpus: Probes.possibleCPUs()),
                    maxEntries: Int(m.spec?.maxEntries ?? 0), universe: Int(m.spec?.maxEntries ?? 0), shared: true)
        }
    }

    public func teardown() { shared.forEach { $0.map.close() } }

    public func run(thread: ThreadContext) throws {
        let updaters = max(0, thread.params.int("updaters"))
        let isUpdater = thread.worker.threadCount > updaters && thread.index < updaters
        if isUpdater {
            while thread.keepRunning { try updaterStep(thread) }
            return
        }
        let privates = try makePrivateMaps(thread)
        defer { privates.forEach { $0.map.close() } }
        let privateShare = min(100, max(0, thread.params.int("private_share")))
        var i = 0
        while thread.keepRunning {
            i += 1
            if thread.worker.threadCount <= updaters || updaters == 0, i % 3 == 0 { try updaterStep(thread); continue }
            let usePrivate = Int.random(in: 0..<100, using: &thread.rng) < privateShare
            let m = usePrivate ? privates.randomElement(using: &thread.rng)! : shared.randomElement(using: &thread.rng)!
            let op = BatchOp.allCases.randomElement(using: &thread.rng)!
            let kind = BatchCaseKind.applicable(op, shared: m.shared).randomElement(using: &thread.rng)!
            runCase(thread, m, op, kind)
        }
    }

    func makePrivateMaps(_ thread: ThreadContext) throws -> [TestMap] {
        var out: [TestMap] = []
        for t in Self.mapTypes {
            for vs in Self.valueSizes {
                let max = t == .lruPercpuHash ? Self.privateLRUEntries : maxEntries
                let spec = MapSpec(type: t, keySize: 4, valueSize: UInt32(vs), maxEntries: UInt32(max), name: "bpfs_pcpub_priv")
                let m = try thread.op(.mapCreate, label: "\(t)/\(vs)") { try thread.runtime.mapCreate(spec) }
                out.append(TestMap(map: m, type: t, layout: PercpuLayout(valueSize: vs, cpus: cpus), maxEntries: max,
                                   universe: maxEntries, shared: false))
            }
        }
        return out
    }

    // MARK: updaters

    /// One update of a shared map: a whole entry (every CPU, one generation) by
    /// update_elem or update_batch, or a delete. Hash maps never see E2BIG: the key
    /// range equals max_entries.
    func updaterStep(_ thread: ThreadContext) throws {
        let m = shared.randomElement(using: &thread.rng)!
        let key = UInt32.random(in: 0..<UInt32(m.universe), using: &thread.rng)
        let gen = UInt8.random(in: 0...255, using: &thread.rng)
        let roll = Int.random(in: 0..<10, using: &thread.rng)
        let keyBytes = withUnsafeBytes(of: key.littleEndian) { Array($0) }
        if roll < 2 && !m.isArray {
            let e = try thread.errnoOf(.mapDelete, UInt64(m.map.fd), UInt64(key)) { try m.map.delete(key: keyBytes) }
            if e == ENOENT { thread.tolerate(ENOENT) } else { judgeUpdater(thread, e, "bpf_map_delete_elem", m, "key \(key)") }
        } else if roll < 7 {
            let value = m.layout.unpack(PercpuValueCodec.entry(key: key, gen: gen, layout: m.layout))
            let e = try thread.errnoOf(.mapUpdate, UInt64(m.map.fd), UInt64(key)) { try m.map.update(key: keyBytes, value: value) }
            judgeUpdater(thread, e, "bpf_map_update_elem", m, "key \(key) gen \(gen)")
        } else {
            let n = Int.random(in: 1...8, using: &thread.rng)
            let keys = Array((0..<UInt32(m.universe)).shuffled(using: &thread.rng).prefix(n))
            let buffers: (GuardedBuffer, GuardedBuffer)
            do { buffers = (try GuardedBuffer(byteCount: 4 * n), try GuardedBuffer(byteCount: n * m.layout.entryBytes)) } catch {
                thread.fail("updater-ok", title: "guarded buffer allocation failed in percpu-batch-sizes", detail: "\(error)")
                return
            }
            do {
                let (kb, vb) = buffers
                for (i, k) in keys.enumerated() {
                    kb.setUInt32(k, at: 4 * i)
                    vb.write(m.layout.unpack(PercpuValueCodec.entry(key: k, gen: gen, layout: m.layout)), at: i * m.layout.entryBytes)
                }
                var count = UInt32(n)
                let e = try thread.errnoOf(.mapUpdateBatch, label: "updater", UInt64(m.map.fd), UInt64(n)) {
                    try m.map.updateBatch(keys: kb, values: vb, count: &count)
                }
                judgeUpdater(thread, e, "bpf_map_update_batch", m, "keys \(keys) gen \(gen)")
            }
        }
    }

    func judgeUpdater(_ thread: ThreadContext, _ e: Int32, _ call: String, _ m: TestMap, _ what: String) {
        if e == 0 { thread.pass("updater-ok"); return }
        thread.fail("updater-ok", title: "\(call) failed: \(errnoText(e)) on \(m.type) in percpu-batch-sizes (updater)",
                    detail: "\(call) on shared \(m.type) \(m.layout) max_entries=\(m.maxEntries): \(what) -> \(errnoText(e))\nlast ops:\n" +
                        thread.recentOps().joined(separator: "\n"),
                    errno: max(e, 0), op: .mapUpdate)
    }

    // MARK: cases

    /// Reads the whole map with a correct-size lookup_batch (count max_entries + 1).
    func snapshot(_ thread: ThreadContext, _ m: TestMap) throws -> MapContent {
        let cap = m.maxEntries + 1
        let kb = try GuardedBuffer(byteCount: 4 * cap)
        let vb = try GuardedBuffer(byteCount: cap * m.layout.entryBytes)
        let ob = try GuardedBuffer(byteCount: 8)
        var count = UInt32(cap)
        let e = try thread.errnoOf(.mapLookupBatch, label: "snapshot", UInt64(m.map.fd), UInt64(cap)) {
            try m.map.lookupBatch(inBatch: nil, outBatch: ob, keys: kb, values: vb, count: &count)
        }
        guard e == ENOENT else {
            throw StressError(.system, "snapshot lookup_batch of \(m.type) \(m.layout) returned \(errnoText(e)) (count \(count)), want ENOENT", errno: max(e, 0))
        }
        var out: MapContent = [:]
        for i in 0..<Int(count) {
            out[kb.uint32(at: 4 * i)!] = m.layout.pack(vb.bytes(i * m.layout.entryBytes, m.layout.entryBytes)[...])
        }
        return out
    }

    /// Puts a fresh random content into a private map with correct-size batch ops and
    /// returns it (the shadow model). Hash maps get 1...range keys, arrays every key.
    func reset(_ thread: ThreadContext, _ m: TestMap) throws -> MapContent {
        let old = try snapshot(thread, m)
        if !m.isArray && !old.isEmpty {
            let keys = old.keys.sorted()
            let kb = try GuardedBuffer(byteCount: 4 * keys.count)
            for (i, k) in keys.enumerated() { kb.setUInt32(k, at: 4 * i) }
            var count = UInt32(keys.count)
            let e = try thread.errnoOf(.mapDeleteBatch, label: "reset", UInt64(m.map.fd), UInt64(count)) {
                try m.map.deleteBatch(keys: kb, count: &count)
            }
            guard e == 0 else { throw StressError(.system, "reset delete_batch of \(keys.count) keys returned \(errnoText(e))", errno: max(e, 0)) }
        }
        let keys: [UInt32] = m.isArray ? (0..<UInt32(m.maxEntries)).map { $0 }
            : Array((0..<UInt32(m.universe)).shuffled(using: &thread.rng).prefix(Int.random(in: 1...m.universe, using: &thread.rng)))
        let gen = UInt8.random(in: 0...255, using: &thread.rng)
        var content: MapContent = [:]
        let kb = try GuardedBuffer(byteCount: 4 * keys.count)
        let vb = try GuardedBuffer(byteCount: keys.count * m.layout.entryBytes)
        for (i, k) in keys.enumerated() {
            let packed = PercpuValueCodec.entry(key: k, gen: gen, layout: m.layout)
            content[k] = packed
            kb.setUInt32(k, at: 4 * i)
            vb.write(m.layout.unpack(packed), at: i * m.layout.entryBytes)
        }
        var count = UInt32(keys.count)
        let e = try thread.errnoOf(.mapUpdateBatch, label: "reset", UInt64(m.map.fd), UInt64(count)) {
            try m.map.updateBatch(keys: kb, values: vb, count: &count)
        }
        guard e == 0 else { throw StressError(.system, "reset update_batch of \(keys.count) keys returned \(errnoText(e))", errno: max(e, 0)) }
        return content
    }

    func runCase(_ thread: ThreadContext, _ m: TestMap, _ op: BatchOp, _ kind: BatchCaseKind) {
        do { try runCaseThrowing(thread, m, op, kind) } catch {
            thread.fail("expected-errnos", title: "setup of a \(op.callName) case failed on \(m.type) in percpu-batch-sizes",
                        detail: "\(error)\nlast ops:\n" + thread.recentOps().joined(separator: "\n"), errno: errnoNumber(of: error) ?? 0)
        }
    }

    func runCaseThrowing(_ thread: ThreadContext, _ m: TestMap, _ op: BatchOp, _ kind: BatchCaseKind) throws {
        var before: MapContent?
        var checks = ["expected-errnos", "canary-intact"]
        if !m.shared {
            let shadow = try reset(thread, m)
            let snap = try snapshot(thread, m)
            let d = contentDiff(expected: shadow, actual: snap)
            if d.isEmpty { thread.pass("entries-exact") } else {
                thread.fail("entries-exact", title: "bpf_map_lookup_batch correct on \(m.type): content differs from what was written in percpu-batch-sizes",
                            detail: "\(m.type) \(m.layout) max_entries=\(m.maxEntries) (private map): " + d.joined(separator: "; "))
            }
            before = snap
        }

        // Arguments.
        let l = m.layout
        let entries = before?.count
        var count: Int
        var keys: [UInt32] = []
        switch op {
        case .lookup, .lookupAndDelete:
            if m.shared || kind.isInBatch { count = m.maxEntries }
            else if m.isArray { count = Int.random(in: 1...m.maxEntries, using: &thread.rng) }
            else { count = max(1, entries ?? 1) }
        case .update:
            count = Int.random(in: 1...m.universe, using: &thread.rng)
            keys = Array((0..<UInt32(m.universe)).shuffled(using: &thread.rng).prefix(count))
        case .delete:
            if let before, !before.isEmpty {
                keys = Array(before.keys.shuffled(using: &thread.rng).prefix(Int.random(in: 1...before.count, using: &thread.rng)))
            } else {
                keys = Array((0..<UInt32(m.universe)).shuffled(using: &thread.rng).prefix(Int.random(in: 1...8, using: &thread.rng)))
            }
            count = keys.count
        }
        let c = BatchCase.make(op: op, kind: kind, mapType: m.type, layout: l, maxEntries: m.maxEntries, count: count,
                               keys: keys, entries: m.isArray ? m.maxEntries : entries, staleToken: m.lastToken)

        // Buffers, each ending at a guard page.
        let kb = try GuardedBuffer(byteCount: c.keyBytes)
        let vb = try GuardedBuffer(byteCount: op == .delete ? 0 : c.valueBytes)
        let ob = try GuardedBuffer(byteCount: 8)
        var ib: GuardedBuffer?
        switch c.inBatch {
        case .start: ib = nil
        case let .token(t): ib = try GuardedBuffer(byteCount: 8); ib!.setUInt32(t, at: 0)
        case .unmapped: ib = try GuardedBuffer(byteCount: 0)
        }
        let gen = UInt8.random(in: 0...255, using: &thread.rng)
        for (i, k) in c.keys.enumerated() { kb.setUInt32(k, at: 4 * i) }
        if op == .update {
            // Lay the values out the way a caller with this (wrong) size would.
            let callerStride: Int
            switch kind {
            case .valueSizeTimesCount: callerStride = l.valueSize
            case .roundUpNoCPUs: callerStride = l.slotStride
            default: callerStride = l.entryBytes
            }
            for (i, k) in c.keys.enumerated() {
                let full = l.unpack(PercpuValueCodec.entry(key: k, gen: gen, layout: l))
                vb.write(Array(full.prefix(callerStride)), at: i * callerStride)
            }
        } else if op != .delete {
            vb.fill(0xEE)
        }
        // What the kernel reads as element i at the correct stride.
        var written: [[UInt8]] = []
        if op == .update {
            var i = 0
            while (i + 1) * l.entryBytes <= c.valueBytes && i < c.keys.count {
                written.append(l.pack(vb.bytes(i * l.entryBytes, l.entryBytes)[...])); i += 1
            }
        }

        // The call.
        var cnt = c.count
        let fd = UInt64(m.map.fd)
        let e = try thread.errnoOf(op.opKind, label: kind.rawValue, fd, UInt64(c.count)) {
            switch op {
            case .lookup:
                try m.map.lookupBatch(inBatch: ib, outBatch: ob, keys: kb, values: vb, count: &cnt,
                                      elemFlags: c.elemFlags, flags: c.flags)
            case .lookupAndDelete:
                try m.map.lookupAndDeleteBatch(inBatch: ib, outBatch: ob, keys: kb, values: vb, count: &cnt,
                                               elemFlags: c.elemFlags, flags: c.flags)
            case .update:
                try m.map.updateBatch(keys: kb, values: vb, count: &cnt, elemFlags: c.elemFlags, flags: c.flags)
            case .delete:
                try m.map.deleteBatch(keys: kb, count: &cnt, elemFlags: c.elemFlags, flags: c.flags)
            }
        }

        var outcome = BatchOutcome(errno: e, countOut: cnt)
        for (name, b) in [("keys", kb), ("values", vb), ("out_batch", ob)] + (ib.map { [("in_batch", $0)] } ?? [])
        where !b.verifyCanary() { outcome.brokenCanaries.append(name) }
        if op.reads && (e == 0 || e == ENOENT) && Int(cnt) * l.entryBytes <= c.valueBytes && Int(cnt) * 4 <= c.keyBytes && cnt <= c.count {
            outcome.returned = (0..<Int(cnt)).map { i in
                (kb.uint32(at: 4 * i)!, l.pack(vb.bytes(i * l.entryBytes, l.entryBytes)[...]))
            }
            if cnt > 0, let t = ob.uint32(at: 0) { m.lastToken = t }
            checks.append("slots-decode")
            if !m.shared && (c.inBatch == .start) { checks.append("entries-exact") }
        }
        if kind.isTooSmall && PercpuBatchOracle.expectedErrnos(c) == [EFAULT] { checks.append("too-small-efault") }
        let after = m.shared ? nil : try snapshot(thread, m)
        if !m.shared { checks.append("failed-call-no-change") }

        let violations = PercpuBatchOracle.check(c, outcome: outcome, before: before, after: after, written: written,
                                                 universe: m.shared ? m.universe : Int.max)
        if e > 0 && violations.isEmpty { thread.tolerate(e) }
        report(thread, c, m, outcome, violations, checks)
    }

    func report(_ thread: ThreadContext, _ c: BatchCase, _ m: TestMap, _ o: BatchOutcome, _ violations: [Violation], _ checks: [String]) {
        let byCheck = Dictionary(grouping: violations, by: \.check)
        for check in Set(checks).union(byCheck.keys).sorted() {
            guard let vs = byCheck[check] else { thread.pass(check); continue }
            let title: String
            if check == "expected-errnos" {
                title = "\(c.op.callName) \(c.kind.rawValue) on \(c.mapType): \(errnoText(o.errno)) not in \(errnoList(PercpuBatchOracle.expectedErrnos(c))) in percpu-batch-sizes"
            } else {
                title = "\(c.op.callName) \(c.kind.rawValue) on \(c.mapType): \(check) violated in percpu-batch-sizes"
            }
            thread.fail(check, title: title,
                        detail: "\(c)\nmap: \(m.shared ? "shared across workers" : "private to this thread") id-fd \(m.map.fd)\n" +
                            "result: \(errnoText(o.errno)) count_out=\(o.countOut)\n" + vs.map(\.message).joined(separator: "\n") +
                            "\nlast ops:\n" + thread.recentOps().joined(separator: "\n"),
                        errno: max(o.errno, 0), op: c.op.opKind)
        }
    }
}
