// Program generation and mutation from one SplitMix64 stream.
import Basics
import BPFKit
import Foundation

/// Typed program generation and mutation. Every choice comes from one SplitMix64 stream,
/// so the same seed gives the same calls.
public struct Generator {
    public var rng: SplitMix64
    /// Round per-CPU BTF values up to 8 bytes (the probed fact percpu_btf_padding is stale).
    public var avoidPercpuPadding = true
    /// The kernel injects faults through fail-nth (FaultInjection.probe's `ready`): programs
    /// then now and then arm a call with `fail_nth`.
    public var faultInjection = false
    /// Whether programs may open pidfd objects. False with more than one fuzz thread in a
    /// process, where the model's one-thread rules do not hold for them: posix_spawn's child
    /// (pidfd_child) holds a copy of the whole fd table until its exec, so a map another thread
    /// closes meanwhile outlives its last fd for a moment (an `alive` of it succeeds); and the
    /// process's own task (pidfd_self) is every thread's task_storage owner, whose storage
    /// lock the other thread's updates contend for (EAGAIN seen). They become `file` objects.
    public var pidfds = true
    public init(seed: UInt64) { rng = SplitMix64(seed: seed, stream: 0xF022) }

    mutating func int(_ n: Int) -> Int { Int(rng.next() % UInt64(max(1, n))) }
    mutating func chance(_ p: Double) -> Bool { Double(rng.next() % 1_000_000) / 1_000_000 < p }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(xs.count)] }

    static let types: [BPFMapType] = [.hash, .array, .percpuHash, .percpuArray, .lruHash, .lruPercpuHash, .lpmTrie, .queue, .stack,
                                      .bloomFilter, .ringbuf, .userRingbuf]

    /// A create call that mostly succeeds; `wild` mutates sizes and flags.
    public mutating func create(slot: Int, type t: BPFMapType? = nil, wild: Bool = false) -> Call {
        var c = Call(.create, map: slot)
        c.type = t ?? pick(Self.types)
        if t == nil && chance(0.12) { c.type = pick(Self.devcpuTypes) }
        switch c.type {
        case .array, .percpuArray:
            c.keySize = 4; c.valueSize = pick([4, 8, 12, 1, 60]); c.maxEntries = pick([1, 4, 16, 64])
            if c.type == .array && chance(0.3) { c.mapFlags |= pick([BPFMapFlags.mmapable, BPFMapFlags.mmapable, BPFMapFlags.innerMap]) }
        case .lpmTrie:
            c.keySize = pick([8, 5, 20]); c.valueSize = pick([8, 4]); c.maxEntries = pick([4, 16]); c.mapFlags = BPFMapFlags.noPrealloc
        case .queue, .stack:
            c.keySize = 0; c.valueSize = pick([8, 4, 12]); c.maxEntries = pick([1, 4, 16])
        case .bloomFilter:
            c.keySize = 0; c.valueSize = pick([8, 4, 12, 1]); c.maxEntries = pick([1, 16, 64]); c.mapExtra = pick([0, 0, 1, 3, 5, 15])
        case .ringbuf, .userRingbuf:
            c.keySize = 0; c.valueSize = 0; c.maxEntries = pick([4096, 4096, 8192, 16384, 4096 * 3, 4097])
        case .devmap, .devmapHash, .cpumap, .stackTrace, .arena: devcpuCreate(&c)
        default:
            c.keySize = pick([4, 8, 3, 16]); c.valueSize = pick([8, 4, 1, 12, 60]); c.maxEntries = pick([1, 2, 4, 16, 64])
            if c.type == .hash || c.type == .percpuHash, chance(0.3) { c.mapFlags |= BPFMapFlags.noPrealloc }
            if (c.type == .lruHash || c.type == .lruPercpuHash) && chance(0.3) { c.mapFlags |= BPFMapFlags.noCommonLRU }
            if chance(0.05) { c.mapFlags |= BPFMapFlags.zeroSeed }
        }
        if chance(0.08) { c.mapFlags |= pick([BPFMapFlags.rdonly, BPFMapFlags.wronly, BPFMapFlags.rdonlyProg, BPFMapFlags.wronlyProg]) }
        if chance(0.05) { c.numa = 0 }
        if ShadowModel.btfTypes.contains(c.type), chance(0.12) { addBTF(&c) }
        if wild { mutateCreate(&c) }
        return c
    }

    mutating func mutateCreate(_ c: inout Call) {
        let hashy = [BPFMapType.hash, .percpuHash, .lruHash, .lruPercpuHash, .lpmTrie].contains(c.type)
        switch int(7) {
        case 6: c.mapExtra = pick([1, 5, 15, 16, 0x100, 1 << 32])
        case 0: c.keySize = pick([0, 1, 2, 5, 261, 513, 0xFFFF_FFFF])
        case 1:
            c.valueSize = pick([0, 1, 4096, 32768, 32769, (1 << 22) + 8, 0xFFFF_FFFF])
            // Arrays allocate max_entries × value_size up front: keep big values to one element.
            if c.valueSize > 32769 && (c.type == .array || c.type == .percpuArray) { c.maxEntries = 1 }
        case 2: c.maxEntries = hashy ? pick([0, 1, 0xFFFF_FFFF, 0x8000_0001]) : pick([0, 1, 2, c.valueSize > 32769 ? 1 : 1000])
        case 3: c.mapFlags ^= pick((0...12).map { UInt32(1) << $0 } + [1 << 24])
        case 4: c.numa = pick([0, 1, 0xFFFF_FFFF])
        default: c.mapFlags = pick([BPFMapFlags.rdonly | BPFMapFlags.wronly, BPFMapFlags.rdonlyProg | BPFMapFlags.wronlyProg, 0])
        }
    }

    /// A key for a map of `t` with `keySize` bytes.
    mutating func key(_ t: BPFMapType, _ keySize: Int, max: Int) -> Buf {
        if t == .queue || t == .stack || t == .bloomFilter || t == .ringbuf || t == .userRingbuf { return chance(0.9) ? .auto : .int(1) }
        if t == .lpmTrie && (5...260).contains(keySize) {
            let dataBits = 8 * (keySize - 4)
            let plen = pick([0, 8, 16, 24, dataBits, dataBits, dataBits, dataBits + 1].map { Swift.min($0, dataBits + 1) })
            var b = Layout.intBytes(UInt64(plen), 4)
            var data = (0..<(keySize - 4)).map { _ in UInt8(truncatingIfNeeded: rng.next() & 0x3) }
            for i in data.indices {
                let bits = Swift.max(0, Swift.min(8, plen - 8 * i))
                data[i] &= bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            }
            b += data
            return .bytes(b)
        }
        let k: UInt64 = chance(0.85) ? UInt64(int(8)) : pick([UInt64(truncatingIfNeeded: max - 1), UInt64(max), UInt64(max + 1), 0xFFFF_FFFF])
        return .int(k)
    }

    /// A bad buffer (NULL, unmapped, one byte short, longer).
    mutating func badBuf(_ need: Int) -> Buf {
        pick([.null, .unmapped, .len(Swift.max(0, need - 1)), .len(0), .len(need + 8)])
    }

    /// One call on a map made by `create` (or on nothing, for fd mutations).
    public mutating func call(on create: Call?, slot: Int, plain: Bool = false) -> Call {
        if !plain, let o = create, o.type == .arrayOfMaps || o.type == .hashOfMaps, chance(0.5) { return innerCall(on: o, slot: slot) }
        if !plain, let o = create, Self.devcpuTypes.contains(o.type), chance(0.7) { return devcpuCall(on: o, slot: slot) }
        let t = create?.type ?? .hash
        // Sizes of wild creates are clamped: buffers for maps that do not exist stay small.
        let ks = Swift.min(Int(create?.keySize ?? 4), 512), maxE = Swift.min(Int(create?.maxEntries ?? 16), 1 << 16)
        let vs = Swift.min(Int(create?.valueSize ?? 8), 1 << 15)
        let vlen = t.isPerCPU ? ((vs + 7) & ~7) * Probes.possibleCPUs() : vs
        let ops: [(CallOp, Int)] = [(.update, 30), (.lookup, 18), (.delete, 10), (.nextKey, 5), (.lookupAndDelete, 6),
                                    (.walk, 6), (.lookupBatch, 8), (.lookupAndDeleteBatch, 5), (.updateBatch, 6),
                                    (.deleteBatch, 5), (.freeze, 1), (.close, 1), (.mmap, t == .array ? 6 : 1),
                                    (.munmap, t == .array ? 2 : 0), (.view, t == .array ? 3 : 0),
                                    (.pin, 2), (.unpin, 1), (.objGet, 2), (.fdByID, 2), (.nextID, 1), (.info, 2), (.race, 1),
                                    (.ringMmap, t == .ringbuf || t == .userRingbuf ? 8 : 0)]
        var r = int(ops.map(\.1).reduce(0, +))
        var op = CallOp.update
        for (o, w) in ops { if r < w { op = o; break }; r -= w }
        var c = Call(op, map: slot)
        switch op {
        case .update:
            c.key = key(t, ks, max: maxE)
            c.value = .pattern(UInt32(int(16)), len: nil)
            c.flags = chance(0.9) ? pick([0, 0, 1, 2]) : pick([4, 3, 8, 1 << 40])
        case .lookup, .lookupAndDelete:
            c.key = key(t, ks, max: maxE)
            if chance(0.05) { c.flags = pick([4, 1, 2]) }
            // A bloom filter peeks the value it is given: pushed ones (seeds < 16) and others.
            if t == .bloomFilter && op == .lookup { c.value = .pattern(UInt32(int(24)), len: nil) }
        case .delete:
            c.key = key(t, ks, max: maxE)
        case .nextKey:
            c.key = chance(0.4) ? .auto : key(t, ks, max: maxE)
        case .lookupBatch, .lookupAndDeleteBatch:
            c.count = pick([0, 1, 2, 4, 8, 16, UInt32(maxE), UInt32(maxE + 1), 64, 0xFFFF_FFFF])
            c.inBatch = chance(0.7) ? pick([.null, .last, .last]) : pick([.unmapped, .value(0), .value(1), .value(UInt32(maxE)), .value(0xFFFF_FFF0)])
            if chance(0.05) { c.elemFlags = pick([4, 1, 8]) }
            if chance(0.05) { c.flags = 1 }
            if c.count == 0xFFFF_FFFF && chance(0.5) { c.count = 32 }
        case .mmap:
            c.flags = pick([1, 3, 3, 2, 0])
        case .view:
            if chance(0.5) { c.key = .int(UInt64(int(maxE + 1))); c.value = .pattern(UInt32(int(16)), len: nil) }
        case .freeze:
            // Attr-level mutation: longer than map_fd, with a non-zero last byte.
            if chance(0.4) { c.attrSize = pick([5, 8, 64, 120, 144, 152, 160, 168, 200, 4096, 4097, 8192]) }
        case .pin, .unpin, .objGet, .fdByID, .nextID, .info:
            identityCall(&c, slot: slot)
        case .race:
            raceCall(&c, on: create)
        case .ringMmap:
            ringMmapCall(&c, on: create)
        case .updateBatch, .deleteBatch:
            c.count = pick([0, 1, 2, 4, 8, UInt32(maxE), UInt32(maxE + 1)])
            c.keys = (0..<int(6)).map { _ in UInt64(int(10)) }
            c.vals = UInt32(int(16))
            if chance(0.05) { c.elemFlags = pick([4, 1, 2]) }
            if chance(0.05) { c.flags = 1 }
        default: break
        }
        // Buffer and fd mutations.
        if chance(0.06) {
            switch op {
            case .update: if chance(0.5) { c.key = badBuf(ks) } else { c.value = badBuf(vlen) }
            case .lookup, .lookupAndDelete:
                if chance(0.5) { c.key = badBuf(ks) } else if t == .bloomFilter && op == .lookup { c.value = badBuf(vlen) } else { c.out = badBuf(vlen) }
            case .delete: c.key = badBuf(ks)
            case .nextKey: c.out = badBuf(ks)
            case .lookupBatch, .lookupAndDeleteBatch, .updateBatch, .deleteBatch:
                if chance(0.5) { c.keysBuf = pick([.null, .unmapped, .len(ks)]) } else { c.valuesBuf = pick([.null, .unmapped, .len(vlen)]) }
            default: break
            }
        }
        if chance(0.02) { c.fd = pick([.closed, .file, .negative]) }
        if let cr = create, cr.btf & BTFValue.lock != 0 { lockFlags(&c) }
        return c
    }

    /// Twins: the same ZERO_SEED hash map in slots 0 and 1, every call made on both in turn,
    /// then a walk of each (the walks must come in the same order).
    public mutating func twinProgram() -> Program {
        var a = create(slot: 0, type: pick([.hash, .percpuHash]))
        a.mapFlags = (a.mapFlags & BPFMapFlags.noPrealloc) | BPFMapFlags.zeroSeed
        a.numa = nil
        var b = a; b.map = 1
        var calls = [a, b]
        for _ in 0..<(4 + int(20)) {
            let c = call(on: a, slot: 0)
            if c.op == .close || c.op == .freeze || c.op == .race || IdentityOps.isIdentity(c.op) { continue }
            var d = c; d.map = 1
            calls += [c, d]
        }
        calls += [Call(.walk, map: 0), Call(.walk, map: 1)]
        return Program(calls)
    }

    /// A fresh program: one or two maps, then calls on them (now and then ZERO_SEED twins).
    public mutating func program() -> Program {
        if chance(0.04) { return twinProgram() }
        // Rare: every update or delete of an outer map waits for an RCU grace period
        // (maybe_wait_bpf_programs: synchronize_rcu_expedited), milliseconds under load.
        if chance(0.02) { return mapInMapProgram() }
        if chance(0.05) { return sockMapProgram() }
        if chance(0.04) { return fdArrayProgram() }
        if chance(0.08) { return storageProgram() }
        if chance(0.02) { return putProgProgram() }
        var calls: [Call] = []
        let nmaps = 1 + int(2)
        var creates: [Call] = []
        for s in 0..<nmaps {
            let c = create(slot: s, wild: chance(0.1))
            creates.append(c); calls.append(c)
        }
        for _ in 0..<(4 + int(24)) {
            let s = int(nmaps)
            calls.append(call(on: creates[s], slot: s))
        }
        calls.append(Call(.walk, map: int(nmaps)))
        if faultInjection && chance(0.3) { armFaults(&calls) }
        return Program(calls)
    }

    /// Puts `fail_nth n=N` before one to three armable calls: mostly the first few fault sites
    /// (a create or update reaches a handful), now and then a deep one.
    mutating func armFaults(_ calls: inout [Call]) {
        for _ in 0..<(1 + int(3)) {
            let armable = calls.indices.filter { FaultNth.armable.contains(calls[$0].op) && ($0 == 0 || calls[$0 - 1].op != .failNth) }
            guard !armable.isEmpty else { return }
            var f = Call(.failNth)
            f.count = chance(0.8) ? UInt32(1 + int(8)) : UInt32(9 + int(56))
            calls.insert(f, at: pick(armable))
        }
    }

    /// A mutant of `p`: change, insert, remove or duplicate calls, or splice in `other`.
    public mutating func mutate(_ p: Program, other: Program? = nil) -> Program {
        var calls = p.calls
        let creates = Dictionary(calls.filter { $0.op == .create }.map { ($0.map, $0) }, uniquingKeysWith: { _, b in b })
        let rounds = 1 + int(3)
        for _ in 0..<rounds {
            switch int(6) {
            case 0 where !calls.isEmpty:
                let i = int(calls.count)
                if calls[i].op == .create { mutateCreate(&calls[i]) } else { calls[i] = call(on: creates[calls[i].map], slot: calls[i].map) }
            case 1:
                let s = creates.isEmpty ? 0 : pick(creates.keys.sorted())  // sorted: Dictionary order differs between instances
                calls.insert(call(on: creates[s], slot: s), at: int(calls.count + 1))
            case 2 where calls.count > 2:
                let i = int(calls.count)
                if calls[i].op != .create { calls.remove(at: i) }
            case 3 where !calls.isEmpty:
                let i = int(calls.count)
                calls.insert(calls[i], at: int(calls.count + 1))
            case 4:
                if let o = other, !o.calls.isEmpty {
                    let tail = o.calls.filter { $0.op != .create && creates[$0.map] != nil }
                    calls += tail.prefix(8)
                }
            default:
                let s = creates.keys.min() ?? 0
                calls.append(Call(.walk, map: s))
            }
        }
        if calls.count > 96 { calls = Array(calls.prefix(96)) }
        return Program(calls)
    }
}
