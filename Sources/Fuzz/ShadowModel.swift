import BPFKit
import Foundation
import Glibc

/// The kernel-internal ENOTSUPP (524): a bpf command the map type does not implement.
public let ENOTSUPP_: Int32 = 524

/// A disagreement between the kernel and the shadow model.
public struct OracleFinding: Equatable, Sendable, CustomStringConvertible {
    /// Index of the call in its program.
    public let call: Int
    public let op: CallOp
    /// Category: errno, value, walk, batch, canary, shape, count, planted.
    public let kind: String
    public let message: String
    /// What groups findings (and what the minimizer preserves): call and category.
    public var signature: String { "\(op.rawValue):\(kind)" }
    public var description: String { "call \(call + 1) (\(op.rawValue)): [\(kind)] \(message)" }
}

/// One shadow map: what the kernel must hold. `maybe` keys are the one nondeterminism
/// (an LRU map evicting when it is full; entries lost to an EFAULT mid-batch): each is
/// present with its value or absent, and the next observation settles it.
final class MapModel {
    let shape: MapShape
    var known = BytesDict()
    var maybe = BytesDict()
    /// Array values written so far (others are zero).
    var arr: [Int: Bytes] = [:]
    /// Queue/stack contents, oldest first.
    var deque: [Bytes] = []
    /// LPM: identity (prefixlen + masked data) -> the full key last written.
    var lpmKey: [Bytes: Bytes] = [:]
    var frozen = false
    let rdonly: Bool, wronly: Bool
    /// Keys returned so far by the batch walk that started at in=NULL (nil: none, or state changed).
    var walkSeen: Set<Bytes>? = nil
    var walkStart: (known: Set<Bytes>, maybe: Set<Bytes>)? = nil

    /// `fdFlags`: the create flags; RDONLY/WRONLY belong to the fd, map info does not show them.
    init(_ s: MapShape, fdFlags: UInt32) {
        shape = s
        rdonly = fdFlags & BPFMapFlags.rdonly != 0
        wronly = fdFlags & BPFMapFlags.wronly != 0
    }

    var canRead: Bool { !wronly }
    var canWrite: Bool { !rdonly && !frozen }
    var zero: Bytes { Bytes(int: 0, count: shape.valueLen) }
    var countLow: Int { shape.isLPM ? lpmKey.count - maybeLPM : known.count }
    var countHigh: Int { known.count + maybe.count }
    private var maybeLPM: Int { maybe.count }

    /// How many entries an LRU map holds before it may evict. This thread is pinned to one
    /// CPU. Common LRU (6.16+): a CPU whose local free list runs dry pulls free nodes from the
    /// global list and shrinks (evicts) up to target_free = clamp(max/ncpus/2, 1, 128) of them,
    /// so eviction starts once fewer than target_free nodes are free (verified on 6.18: a
    /// 16-entry lru_percpu_hash with 15 entries evicted 3). BPF_F_NO_COMMON_LRU: each CPU owns
    /// max/ncpus nodes and evicts when its share is used up.
    var lruCapacity: Int {
        let cpus = max(1, shape.cpus)
        if shape.flags & BPFMapFlags.noCommonLRU != 0 { return shape.maxEntries / cpus }
        let target = min(max((shape.maxEntries / cpus) / 2, 1), 128)
        return shape.maxEntries - target + 1
    }

    /// Any state change invalidates a batch walk in progress.
    @inline(__always)
    func mutated() { if walkSeen.isSome || walkStart.isSome { walkSeen = nil; walkStart = nil } }

    /// An LRU update on a full map may evict any entries (even the key being updated).
    func allowEviction() {
        guard shape.isLRU, countHigh >= lruCapacity else { return }
        for (k, v) in known { maybe[k] = v }
        known = [:]
    }

    /// All entries become uncertain (entries lost without being reported).
    func blur() {
        for (k, v) in known { maybe[k] = v }
        known = [:]
    }

    // MARK: LPM keys

    var maxPrefix: Int { 8 * (shape.keySize - 4) }
    static func plen(_ k: [UInt8]) -> Int { Int(UInt32(k[0]) | UInt32(k[1]) << 8 | UInt32(k[2]) << 16 | UInt32(k[3]) << 24) }
    static func plen(_ k: Bytes) -> Int { Int(UInt32(k[0]) | UInt32(k[1]) << 8 | UInt32(k[2]) << 16 | UInt32(k[3]) << 24) }
    func lpmIdentity(_ k: Bytes) -> Bytes { Bytes(lpmIdentity(k.array)) }
    /// prefixlen + data masked to prefixlen bits.
    func lpmIdentity(_ k: [UInt8]) -> [UInt8] {
        let p = MapModel.plen(k)
        var out = Array(k.prefix(4))
        for i in 0..<(shape.keySize - 4) {
            let bits = max(0, min(8, p - 8 * i))
            let mask: UInt8 = bits == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            out.append(k[4 + i] & mask)
        }
        return out
    }
    /// Longest stored prefix (prefixlen <= key's) matching the key's data.
    func lpmMatch(_ k0: Bytes) -> Bytes? {
        let k = k0.array
        let p = MapModel.plen(k)
        var best: Bytes? = nil, bestLen = -1
        for id in Set(known.keys).union(maybe.keys) {
            let q = MapModel.plen(id)
            guard q <= p, q > bestLen else { continue }
            var probe = Array(k.prefix(4))
            probe.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(q).littleEndian, as: UInt32.self) }
            probe += k[4...]
            if Bytes(lpmIdentity(probe)) == id { best = id; bestLen = q }
        }
        return best
    }
}

/// The shadow model of one program's maps (single process, one thread): predicts each
/// call's errno and data and compares them with what the kernel did.
public final class ShadowModel {
    var maps: [MapModel?] = Array(repeating: nil, count: Executor.maxSlots) {
        didSet { for i in maps.indices { refs[i] = maps[i].map { Unmanaged.passUnretained($0) } } }
    }
    /// maps without ownership: withModel reads a slot's model from here without the
    /// retain/release pair a read of `maps` costs (`maps` keeps every one of them alive).
    private var refs: [Unmanaged<MapModel>?] = Array(repeating: nil, count: Executor.maxSlots)

    /// The slot's model as a guaranteed reference. Only for ops that never replace a slot's
    /// model (element ops): `maps` holds it strongly for the whole body.
    @inline(__always)
    func withModel<T>(_ i: Int, _ body: (MapModel) -> T) -> T {
        refs.withUnsafeBufferPointer { $0[i]! }._withUnsafeGuaranteedRef(body)
    }
    /// Slots whose fd was closed by a `close` call.
    var closed: [Bool] = Array(repeating: false, count: Executor.maxSlots)
    public let cpus: Int
    /// Errnos the model predicted and the kernel returned (expected rejections: data, counted).
    public private(set) var expectedRejections: [Int32: Int] = [:]
    /// A test-only fault in the oracle layer: returns a message to report for a call.
    public var plantedFault: ((Int, Call, CallResult) -> String?)?

    public init(cpus: Int = Probes.possibleCPUs()) { self.cpus = cpus }

    public func reset() {
        lastToken = Array(repeating: nil, count: Executor.maxSlots)
        maps = Array(repeating: nil, count: Executor.maxSlots)
        closed = Array(repeating: false, count: Executor.maxSlots)
    }

    // MARK: helpers

    struct Check {
        var findings: [OracleFinding] = []
        var index: Int
        var op: CallOp
        @inline(never)
        mutating func fail(_ kind: String, _ m: String) {
            findings.append(OracleFinding(call: index, op: op, kind: kind, message: m))
        }
    }

    static func en(_ e: Int32) -> String { e == 0 ? "success" : (e == 524 ? "ENOTSUPP" : ErrnoNames.name(e)) }
    static func set(_ s: ErrSet) -> String { "{" + s.sorted().map { en($0) }.joined(separator: ",") + "}" }
    static func hex(_ b: Bytes) -> String { hex(b.array) }
    static func hex(_ b: [UInt8]) -> String {
        b.prefix(24).map { String(format: "%02x", $0) }.joined() + (b.count > 24 ? "…(\(b.count) bytes)" : "")
    }

    /// errno of the fd argument, nil when it names an open map. (Reads the slot through the
    /// buffer: a plain `maps[i] == nil` retains and releases the model, on every call.)
    func fdError(_ c: Call) -> Int32? { fdError(c.fd, c.map) }
    func fdError(_ c: ElemCall) -> Int32? { fdError(c.fd, c.map) }
    @inline(__always)
    func fdError(_ fd: FDMode, _ map: Int) -> Int32? {
        switch fd {
        case .closed, .negative: return EBADF
        case .file: return EINVAL
        case .map: return maps.withUnsafeBufferPointer { $0[map] == nil } ? EBADF : nil
        }
    }

    /// errno of copying a key in (__bpf_copy_key), nil when it succeeds.
    static func keyCopyError(_ r: ResolvedBuf, _ keySize: Int) -> Int32? {
        if keySize == 0 { return r == .null ? nil : EINVAL }
        switch r {
        case .null, .unmapped: return EFAULT
        default: return r.length < keySize ? EFAULT : nil
        }
    }

    static func bytes(_ r: ResolvedBuf, _ n: Int) -> Bytes {
        if case let .input(b) = r { return b.count <= n ? Bytes(b) : Bytes(b.prefix(n)) }
        return Bytes()
    }

    /// keyCopyError(Layout.key(b, s)) and bytes(that, keySize) in one step; #N and auto keys
    /// (nearly all of them) are built inline without the intermediate array.
    @inline(__always)
    static func resolveKey(_ b: Buf, _ s: MapShape) -> (error: Int32?, key: Bytes) {
        let ks = s.keySize
        switch b {
        case let .int(v): return ks == 0 ? (EINVAL, Bytes()) : (nil, Bytes(int: v, count: ks))
        case .auto: return ks == 0 ? (nil, Bytes()) : (nil, Bytes(int: 0, count: ks))
        default: return resolveKeySlow(b, s)
        }
    }

    @inline(never)
    static func resolveKeySlow(_ b: Buf, _ s: MapShape) -> (error: Int32?, key: Bytes) {
        let kb = Layout.key(b, s)
        if let e = keyCopyError(kb, s.keySize) { return (e, Bytes()) }
        return (nil, bytes(kb, s.keySize))
    }

    /// An update's value argument: Layout.value(b, s), whether the kernel can copy value_size
    /// bytes of it, and those bytes. #N, @vN and auto values are built inline.
    @inline(__always)
    static func resolveValue(_ b: Buf, _ s: MapShape) -> (ok: Bool, length: Int, value: Bytes) {
        let vl = s.valueLen
        switch b {
        case .auto: return (true, vl, Bytes(pattern: 0, count: vl))
        case let .int(v): return (true, vl, Bytes(int: v, count: vl))
        case let .pattern(seed, len):
            let n = min(len ?? vl, Layout.bufferCap)
            return n < vl ? (false, n, Bytes()) : (true, n, Bytes(pattern: seed, count: vl))
        default: return resolveValueSlow(b, s)
        }
    }

    @inline(never)
    static func resolveValueSlow(_ b: Buf, _ s: MapShape) -> (ok: Bool, length: Int, value: Bytes) {
        let vl = s.valueLen
        let vb = Layout.value(b, s)
        if vb.length < vl || !(vb.isPointer && vb != .unmapped) { return (false, vb.length, Bytes()) }
        return (true, vb.length, bytes(vb, vl))
    }

    /// resolveKey(c.key, s) on the plain argument: the common kinds without a Buf to destroy.
    @inline(__always)
    static func resolveKey(_ c: ElemCall, _ s: MapShape) -> (error: Int32?, key: Bytes) {
        switch c.k {
        case .auto: return resolveKey(Buf.auto, s)
        case let .int(v): return resolveKey(Buf.int(v), s)
        default: return resolveKey(c.key, s)
        }
    }

    @inline(__always)
    static func resolveValue(_ c: ElemCall, _ s: MapShape) -> (ok: Bool, length: Int, value: Bytes) {
        switch c.v {
        case .auto: return resolveValue(Buf.auto, s)
        case let .int(v): return resolveValue(Buf.int(v), s)
        case let .pattern(seed, len): return resolveValue(Buf.pattern(seed, len: len), s)
        default: return resolveValue(c.value, s)
        }
    }

    @inline(__always)
    static func outputBuf(_ c: ElemCall, need: Int) -> (length: Int, isPointer: Bool) {
        switch c.o {
        case .auto: return outputBuf(Buf.auto, need: need)
        case .null: return outputBuf(Buf.null, need: need)
        case .unmapped: return outputBuf(Buf.unmapped, need: need)
        default: return outputBuf(c.out, need: need)
        }
    }

    /// Layout.output(b, need:) as its length and whether it is a real buffer (not NULL, not
    /// the guard page), without building and comparing ResolvedBuf values.
    @inline(__always)
    static func outputBuf(_ b: Buf, need: Int) -> (length: Int, isPointer: Bool) {
        switch b {
        case .auto: return (min(need, Layout.bufferCap), true)
        case .null, .unmapped: return (0, false)
        default: return (Layout.output(b, need: need).length, true)
        }
    }

    @inline(never)
    func note(_ e: Int32) { if e != 0 { expectedRejections[e, default: 0] += 1 } }

    /// Compares `got` with the allowed set; returns true when it matched.
    @discardableResult
    @inline(__always)
    func expect(_ ck: inout Check, _ allowed: ErrSet, _ got: Int32, _ why: @autoclosure () -> String) -> Bool {
        if allowed.contains(got) {
            if got != 0 { note(got) }
            return true
        }
        return expectFailed(&ck, allowed, got, why)
    }

    /// expect's rare half, out of line: the hot functions stay small (instruction cache).
    @inline(never)
    func expectFailed(_ ck: inout Check, _ allowed: ErrSet, _ got: Int32, _ why: () -> String) -> Bool {
        // An insert that allocates (NO_PREALLOC hash, per-CPU memory, LPM nodes) may hit a
        // memory limit under load: a resource answer, counted, never a wrong one.
        if got == ENOMEM && (ck.op == .update || ck.op == .updateBatch) && allowed.contains(0) { note(got); return true }
        ck.fail("errno", "got \(Self.en(got)), model expects \(Self.set(allowed)) (\(why()))")
        return false
    }

    // MARK: the oracle

    /// Checks call `index` of a program against the model and advances the model.
    /// `shape` is what the kernel reported for the map a successful create made.
    public func check(_ index: Int, _ c: Call, _ r: CallResult, shape: MapShape?) -> [OracleFinding] {
        var ck: Check
        if ElemCall.isElem(c.op) {
            ck = withUnsafePointer(to: c) { checkElem(index, ElemCall($0), r) }
        } else {
            ck = Check(index: index, op: c.op)
            checkOther(&ck, c, r, shape)
        }
        if let f = plantedFault, let m = f(index, c, r) { ck.fail("planted", m) }
        return ck.findings
    }

    /// check(_:_:_:shape:) of an element op, without the planted fault (the fuzzer's hot
    /// path calls this directly when no fault is planted).
    func checkElem(_ index: Int, _ c: ElemCall, _ r: CallResult) -> Check {
        var ck = Check(index: index, op: c.op)
        checkElem(index, c, r, into: &ck)
        return ck
    }

    /// checkElem into a Check the caller reuses (its findings empty on entry): the fuzzer's
    /// loop keeps one, where a fresh Check per call built and destroyed its finding list.
    @inline(__always)
    func checkElem(_ index: Int, _ c: ElemCall, _ r: CallResult, into ck: inout Check) {
        ck.index = index
        ck.op = c.op
        if r.hasBrokenCanaries { canaryFinding(&ck, r) }
        switch c.op {
        case .update: update(&ck, c, r)
        case .lookup: lookup(&ck, c, r)
        case .delete: delete(&ck, c, r)
        case .nextKey: nextKey(&ck, c, r)
        case .lookupAndDelete: lookupAndDelete(&ck, c, r)
        default: preconditionFailure("checkElem: \(c.op) is not an element op")
        }
    }

    @inline(never)
    func canaryFinding(_ ck: inout Check, _ r: CallResult) {
        ck.fail("canary", "kernel wrote in front of the \(r.brokenCanaries.joined(separator: ", ")) buffer(s)")
    }

    func checkOther(_ ck: inout Check, _ c: Call, _ r: CallResult, _ shape: MapShape?) {
        if r.hasBrokenCanaries { canaryFinding(&ck, r) }
        switch c.op {
        case .create: create(&ck, c, r, shape)
        case .close:
            let open = maps[c.map] != nil
            expect(&ck, open ? [0] : [EBADF], r.errno, "close")
            if open { maps[c.map] = nil; closed[c.map] = true }
        case .freeze: freeze(&ck, c, r)
        case .update, .lookup, .delete, .nextKey, .lookupAndDelete: preconditionFailure("element op in checkOther")
        case .lookupBatch, .lookupAndDeleteBatch: lookupBatch(&ck, c, r)
        case .updateBatch, .deleteBatch: writeBatch(&ck, c, r)
        case .walk: walk(&ck, c, r)
        }
    }

    // MARK: create / freeze

    /// Every reason the kernel has to refuse `c` (any one may win: the order is not part of the contract).
    public static func createErrors(_ c: Call, cpus: Int) -> Set<Int32> {
        var e = Set<Int32>()
        let f = c.numa != nil ? c.mapFlags | BPFMapFlags.numaNode : c.mapFlags
        let access: UInt32 = BPFMapFlags.rdonly | BPFMapFlags.wronly | BPFMapFlags.rdonlyProg | BPFMapFlags.wronlyProg
        if f & BPFMapFlags.rdonly != 0 && f & BPFMapFlags.wronly != 0 { e.insert(EINVAL) }
        if f & BPFMapFlags.rdonlyProg != 0 && f & BPFMapFlags.wronlyProg != 0 { e.insert(EINVAL) }
        // numa_node 0xFFFFFFFF is NUMA_NO_NODE: no node asked for.
        let numa = f & BPFMapFlags.numaNode != 0 && c.numa != UInt32.max
        if numa && (c.numa ?? 0) != 0 { e.insert(EINVAL) }  // one NUMA node here
        let (k, v, m) = (Int(c.keySize), Int(c.valueSize), Int(c.maxEntries))
        let kmallocMax = 4 << 20
        switch c.type {
        case .hash, .percpuHash, .lruHash, .lruPercpuHash:
            let lru = c.type == .lruHash || c.type == .lruPercpuHash
            let percpu = c.type == .percpuHash || c.type == .lruPercpuHash
            let mask = BPFMapFlags.noPrealloc | BPFMapFlags.noCommonLRU | BPFMapFlags.numaNode | access | BPFMapFlags.zeroSeed
            if f & ~mask != 0 { e.insert(EINVAL) }
            let percpuLRU = f & BPFMapFlags.noCommonLRU != 0
            if !lru && percpuLRU { e.insert(EINVAL) }
            if lru && f & BPFMapFlags.noPrealloc != 0 { e.insert(ENOTSUPP_) }
            if numa && (percpu || percpuLRU) { e.insert(EINVAL) }
            if m == 0 || k == 0 || v == 0 { e.insert(EINVAL) }
            // No MAX_BPF_STACK bound on key_size on 6.18 (513 and 600 are accepted).
            if k + v >= kmallocMax - 64 || (percpu && ((v + 7) & ~7) > 32768) { e.insert(E2BIG) }
            var rounded = m
            if lru && percpuLRU && m > 0 {
                rounded = (m + cpus - 1) / cpus * cpus
                if rounded < m { rounded = m / cpus * cpus }
                if rounded < cpus { e.insert(EINVAL) }
            }
            // n_buckets = roundup_pow_of_two(max_entries) must fit U32_MAX / sizeof(struct bucket).
            if rounded > (1 << 28) { e.insert(E2BIG) }
        case .array, .percpuArray:
            let mask = BPFMapFlags.numaNode | BPFMapFlags.mmapable | access | BPFMapFlags.preserveElems | BPFMapFlags.innerMap
            if f & ~mask != 0 { e.insert(EINVAL) }
            if c.type != .array && f & (BPFMapFlags.mmapable | BPFMapFlags.innerMap) != 0 { e.insert(EINVAL) }
            if f & BPFMapFlags.preserveElems != 0 { e.insert(EINVAL) }
            if m == 0 || k != 4 || v == 0 { e.insert(EINVAL) }
            if c.type == .percpuArray && numa { e.insert(EINVAL) }
            // 6.18: arrays take any value_size up to INT_MAX (4 MiB + 8 is accepted).
            if v > Int(Int32.max) || (c.type == .percpuArray && ((v + 7) & ~7) > 32768) { e.insert(E2BIG) }
        case .lpmTrie:
            let mask = BPFMapFlags.noPrealloc | access | BPFMapFlags.numaNode
            if m == 0 || f & BPFMapFlags.noPrealloc == 0 || f & ~mask != 0 || k < 5 || k > 260 || v < 1 || v > kmallocMax - 512 {
                e.insert(EINVAL)
            }
        case .queue, .stack:
            let mask = BPFMapFlags.numaNode | access
            if m == 0 || k != 0 || v == 0 || f & ~mask != 0 { e.insert(EINVAL) }
            if v > kmallocMax { e.insert(E2BIG) }
        default:
            break
        }
        return e
    }

    func create(_ ck: inout Check, _ c: Call, _ r: CallResult, _ shape: MapShape?) {
        maps[c.map] = nil
        closed[c.map] = false
        lastToken[c.map] = nil
        var allowed = ErrSet(Self.createErrors(c, cpus: cpus))
        if allowed.isEmpty { allowed = [0] }
        allowed.insert(ENOMEM)  // a resource limit, not a semantic answer
        guard expect(&ck, allowed, r.errno, "create \(ProgramText.typeName(c.type)) key=\(c.keySize) value=\(c.valueSize) max=\(c.maxEntries) flags=0x\(String(c.mapFlags, radix: 16))") else {
            return
        }
        guard r.errno == 0, let s = shape else { return }
        var wantMax = Int(c.maxEntries)
        if c.type == .lruPercpuHash || c.type == .lruHash, c.mapFlags & BPFMapFlags.noCommonLRU != 0 {
            wantMax = (wantMax + cpus - 1) / cpus * cpus
        }
        if s.type != c.type || s.keySize != Int(c.keySize) || s.valueSize != Int(c.valueSize) || s.maxEntries != wantMax {
            ck.fail("shape", "map info says \(ProgramText.typeName(s.type)) key=\(s.keySize) value=\(s.valueSize) max=\(s.maxEntries), want max=\(wantMax)")
        }
        let fdOnly = BPFMapFlags.rdonly | BPFMapFlags.wronly
        let wantFlags = (c.numa != nil ? c.mapFlags | BPFMapFlags.numaNode : c.mapFlags) & ~fdOnly
        if s.flags != wantFlags && !(c.mapFlags & BPFMapFlags.wronly != 0) {
            ck.fail("shape", "map info flags 0x\(String(s.flags, radix: 16)), want 0x\(String(wantFlags, radix: 16)) (RDONLY/WRONLY are the fd's)")
        }
        maps[c.map] = MapModel(s, fdFlags: c.mapFlags)
    }

    func freeze(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return }
        let m = maps[c.map]!
        if !m.canWrite { expect(&ck, [EPERM], r.errno, m.frozen ? "already frozen" : "read-only map"); return }
        if expect(&ck, [0], r.errno, "freeze") { m.frozen = true }
    }

    // MARK: element ops

    /// Errno (or nil) of the common prefix of update: fd, write permission, F_LOCK, key and value copies.
    func update(_ ck: inout Check, _ c: ElemCall, _ r: CallResult) {
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return }
        withModel(c.map) { update(&ck, c, r, on: $0) }
    }

    /// The rest of update, on the slot's model (a guaranteed argument: no retain per use).
    func update(_ ck: inout Check, _ c: ElemCall, _ r: CallResult, on m: MapModel) {
        let s = m.shape
        if !m.canWrite { expect(&ck, [EPERM], r.errno, m.frozen ? "frozen map" : "read-only map"); return }
        if c.flags & BPFUpdateFlags.lock != 0 { expect(&ck, [EINVAL], r.errno, "BPF_F_LOCK without a bpf_spin_lock"); return }
        let (keyError, key) = Self.resolveKey(c, s)
        if let e = keyError { expect(&ck, [e], r.errno, "key buffer \(c.key) for key_size \(s.keySize)"); return }
        let vb = Self.resolveValue(c, s)
        if !vb.ok {
            expect(&ck, [EFAULT], r.errno, "value buffer of \(vb.length) bytes, value needs \(s.valueLen)"); return
        }
        elemUpdate(&ck, m, key, vb.value, c.flags, got: r.errno)
    }

    /// The map-type part of an update; applies it to the model as the kernel answered.
    func elemUpdate(_ ck: inout Check, _ m: MapModel, _ key: Bytes, _ value: Bytes, _ flags: UInt64, got: Int32) {
        let s = m.shape
        func ctx() -> String { "flags=\(flags)" }
        if s.isHashFamily {
            if flags > BPFUpdateFlags.exist { expect(&ck, [EINVAL], got, ctx()); return }
            m.allowEviction()
            lpmOrHashUpdate(&ck, m, key, key, value, flags, got: got, fullErrno: E2BIG)
            return
        }
        elemUpdateOther(&ck, m, key, value, flags, got: got)
    }

    /// elemUpdate for the map types outside the hash family (out of line: the hash path stays small).
    @inline(never)
    func elemUpdateOther(_ ck: inout Check, _ m: MapModel, _ key: Bytes, _ value: Bytes, _ flags: UInt64, got: Int32) {
        let s = m.shape
        func ctx() -> String { "flags=\(flags)" }
        switch s.type {
        case .array, .percpuArray:
            let idx = Int(key.u32)
            if flags > BPFUpdateFlags.exist { expect(&ck, [EINVAL], got, ctx()); return }
            if idx >= s.maxEntries { expect(&ck, [E2BIG], got, "index \(idx) >= max_entries \(s.maxEntries)"); return }
            if flags == BPFUpdateFlags.noExist { expect(&ck, [EEXIST], got, "array elements always exist"); return }
            if expect(&ck, [0], got, ctx()) { m.arr[idx] = value; m.mutated() }
        case .queue, .stack:
            if flags & BPFUpdateFlags.noExist != 0 || flags > BPFUpdateFlags.exist { expect(&ck, [EINVAL], got, ctx()); return }
            if m.deque.count >= s.maxEntries {
                if flags != BPFUpdateFlags.exist { expect(&ck, [E2BIG], got, "full (\(s.maxEntries)) without BPF_EXIST"); return }
                if expect(&ck, [0], got, "full: BPF_EXIST replaces the oldest") { m.deque.removeFirst(); m.deque.append(value) }
                return
            }
            if expect(&ck, [0], got, "push") { m.deque.append(value) }
        case .lpmTrie:
            if flags > BPFUpdateFlags.exist || MapModel.plen(key) > m.maxPrefix { expect(&ck, [EINVAL], got, "\(ctx()) prefixlen \(MapModel.plen(key))"); return }
            let id = m.lpmIdentity(key)
            lpmOrHashUpdate(&ck, m, id, key, value, flags, got: got, fullErrno: ENOSPC)
        default:
            if flags > BPFUpdateFlags.exist { expect(&ck, [EINVAL], got, ctx()); return }
            m.allowEviction()
            lpmOrHashUpdate(&ck, m, key, key, value, flags, got: got, fullErrno: E2BIG)
        }
    }

    func lpmOrHashUpdate(_ ck: inout Check, _ m: MapModel, _ id: Bytes, _ key: Bytes, _ value: Bytes, _ flags: UInt64,
                         got: Int32, fullErrno: Int32) {
        let present = m.known.contains(id), unsure = !m.maybe.isEmpty && m.maybe.contains(id)
        var allowed = ErrSet()
        let full = !m.shape.isLRU && m.countLow >= m.shape.maxEntries
        let mayBeFull = !m.shape.isLRU && m.countHigh >= m.shape.maxEntries
        func outcomes(exists: Bool) -> ErrSet {
            if flags == BPFUpdateFlags.noExist && exists { return [EEXIST] }
            if flags == BPFUpdateFlags.exist && !exists { return [ENOENT] }
            if !exists && (full || mayBeFull) { return full ? [fullErrno] : [fullErrno, 0] }
            return [0]
        }
        if present || unsure { allowed.formUnion(outcomes(exists: true)) }
        if !present { allowed.formUnion(outcomes(exists: false)) }
        guard expect(&ck, allowed, got, "key \(Self.hex(key)) \(present ? "present" : unsure ? "maybe present" : "absent"), flags=\(flags), entries \(m.countLow)/\(m.shape.maxEntries)") else {
            return
        }
        switch got {
        case 0:
            if unsure { m.maybe[id] = nil }
            m.known[id] = value
            if m.shape.isLPM { m.lpmKey[id] = key }
            m.mutated()
        case EEXIST:
            if unsure, let v = m.maybe.removeValue(forKey: id) { m.known[id] = v }
        case ENOENT:
            if unsure { m.maybe[id] = nil }
        default: break
        }
    }

    func lookup(_ ck: inout Check, _ c: ElemCall, _ r: CallResult) {
        if c.flags & ~BPFUpdateFlags.lock != 0 { expect(&ck, [EINVAL], r.errno, "lookup flags \(c.flags)"); return }
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return }
        withModel(c.map) { lookup(&ck, c, r, on: $0) }
    }

    /// The rest of lookup, on the slot's model (a guaranteed argument: no retain per use).
    func lookup(_ ck: inout Check, _ c: ElemCall, _ r: CallResult, on m: MapModel) {
        let s = m.shape
        if !m.canRead { expect(&ck, [EPERM], r.errno, "write-only map"); return }
        if c.flags != 0 { expect(&ck, [EINVAL], r.errno, "BPF_F_LOCK without a bpf_spin_lock"); return }
        let (keyError, key) = Self.resolveKey(c, s)
        if let e = keyError { expect(&ck, [e], r.errno, "key buffer \(c.key)"); return }
        let ob = Self.outputBuf(c, need: s.valueLen)
        let outOK = ob.length >= s.valueLen && ob.isPointer
        if s.isHashFamily { lookupHash(&ck, r, m, key, ob.length, outOK); return }
        // What the lookup finds: a value, nothing, or (maybe keys) either.
        var candidates = Candidates()
        var id = key
        switch s.type {
        case _ where s.isHashFamily:
            if let v = m.known[key] {
                candidates.append(v)
            } else if !m.maybe.isEmpty, let v = m.maybe[key] {
                candidates.append(v); candidates.append(nil)
            } else { candidates.append(nil) }
        case .array, .percpuArray:
            let idx = Int(key.u32)
            candidates.append(idx < s.maxEntries ? (m.arr[idx] ?? m.zero) : nil)
        case .queue, .stack:
            candidates.append(s.type == .queue ? m.deque.first : m.deque.last)
        case .lpmTrie:
            if MapModel.plen(key) > m.maxPrefix { candidates.append(nil) } else {
                if let best = m.lpmMatch(key) {
                    id = best
                    if let v = m.known[best] { candidates.append(v) } else { candidates.append(m.maybe[best]); candidates.append(nil) }
                } else { candidates.append(nil) }
            }
        default:
            if let v = m.known[key] {
                candidates.append(v)
            } else if let v = m.maybe[key] {
                candidates.append(v); candidates.append(nil)
            } else { candidates.append(nil) }
        }
        if s.isLPM && candidates.count > 1 { candidates.append(nil) }
        var allowed = ErrSet()
        for i in 0..<candidates.count { allowed.insert(candidates[i] == nil ? ENOENT : (outOK ? 0 : EFAULT)) }
        guard expect(&ck, allowed, r.errno, "key \(Self.hex(key)), out buffer \(ob.length) of \(s.valueLen) bytes") else { return }
        if r.errno == 0 {
            let got = r.outBytes.prefixBytes(s.valueLen)
            if !candidates.contains(got) {
                ck.fail("value", "key \(Self.hex(key)) returned \(Self.hex(got)), model has \(candidates.values.map { Self.hex($0) })")
            }
            if r.outBytes.count > s.valueLen && r.outBytes[s.valueLen...].contains(where: { $0 != GuardArena.poison }) {
                ck.fail("value", "kernel wrote past value_size \(s.valueLen) into a \(r.outBytes.count)-byte buffer")
            }
            if !s.isLPM, !m.maybe.isEmpty, let v = m.maybe.removeValue(forKey: id) { m.known[id] = v }
        } else if r.errno == ENOENT, s.isHashFamily {
            if !m.maybe.isEmpty { m.maybe[id] = nil }
        }
    }

    /// The hash-family part of lookup: what the general path does with Candidates, for its
    /// two shapes ([value], or [value, nothing] for a maybe key, or [nothing]) without them.
    func lookupHash(_ ck: inout Check, _ r: CallResult, _ m: MapModel, _ key: Bytes, _ outLength: Int, _ outOK: Bool) {
        let s = m.shape
        // The value the lookup may find (nil: none), and whether it may find nothing.
        var found = m.known[key]
        let mayMiss = !found.isSome
        if mayMiss && !m.maybe.isEmpty { found = m.maybe[key] }
        var allowed = ErrSet()
        if found.isSome { allowed.insert(outOK ? 0 : EFAULT) }
        if mayMiss { allowed.insert(ENOENT) }
        guard expect(&ck, allowed, r.errno, "key \(Self.hex(key)), out buffer \(outLength) of \(s.valueLen) bytes") else { return }
        if r.errno == 0 {
            let got = r.outBytes.prefixBytes(s.valueLen)
            if found.map({ $0 != got }) ?? true {
                ck.fail("value", "key \(Self.hex(key)) returned \(Self.hex(got)), model has \((found.map { [$0] } ?? []).map { Self.hex($0) })")
            }
            if r.outBytes.count > s.valueLen && r.outBytes[s.valueLen...].contains(where: { $0 != GuardArena.poison }) {
                ck.fail("value", "kernel wrote past value_size \(s.valueLen) into a \(r.outBytes.count)-byte buffer")
            }
            if !m.maybe.isEmpty, let v = m.maybe.removeValue(forKey: key) { m.known[key] = v }
        } else if r.errno == ENOENT {
            if !m.maybe.isEmpty { m.maybe[key] = nil }
        }
    }

    func delete(_ ck: inout Check, _ c: ElemCall, _ r: CallResult) {
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return }
        withModel(c.map) { delete(&ck, c, r, on: $0) }
    }

    /// The rest of delete, on the slot's model (a guaranteed argument: no retain per use).
    func delete(_ ck: inout Check, _ c: ElemCall, _ r: CallResult, on m: MapModel) {
        let s = m.shape
        if !m.canWrite { expect(&ck, [EPERM], r.errno, m.frozen ? "frozen map" : "read-only map"); return }
        let (keyError, key) = Self.resolveKey(c, s)
        if let e = keyError { expect(&ck, [e], r.errno, "key buffer \(c.key)"); return }
        if s.isHashFamily { elemDelete(&ck, m, key, got: r.errno); return }
        switch s.type {
        case .array, .percpuArray, .queue, .stack:
            expect(&ck, [EINVAL], r.errno, "\(ProgramText.typeName(s.type)) has no delete")
        default:
            var id = key
            if s.isLPM {
                if MapModel.plen(key) > m.maxPrefix { expect(&ck, [EINVAL], r.errno, "prefixlen > max"); return }
                id = m.lpmIdentity(key)
            }
            elemDelete(&ck, m, id, got: r.errno)
        }
    }

    func elemDelete(_ ck: inout Check, _ m: MapModel, _ id: Bytes, got: Int32) {
        let present = m.known.contains(id)
        let allowed: ErrSet = present ? [0] : !m.maybe.isEmpty && m.maybe.contains(id) ? [0, ENOENT] : [ENOENT]
        guard expect(&ck, allowed, got, "delete key \(Self.hex(id))") else { return }
        if present { m.known[id] = nil }
        if !m.maybe.isEmpty { m.maybe[id] = nil }
        if !m.lpmKey.isEmpty { m.lpmKey[id] = nil }
        if got == 0 { m.mutated() }
    }

    func nextKey(_ ck: inout Check, _ c: ElemCall, _ r: CallResult) {
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return }
        let m = maps[c.map]!, s = m.shape
        if !m.canRead { expect(&ck, [EPERM], r.errno, "write-only map"); return }
        let kb = Layout.key(c.k == .auto ? .null : c.key, s)
        if kb != .null, let e = Self.keyCopyError(kb, s.keySize) { expect(&ck, [e], r.errno, "key buffer \(c.key)"); return }
        if s.isQueueLike { expect(&ck, [EINVAL], r.errno, "queue/stack have no keys"); return }
        let ob = Self.outputBuf(c, need: s.keySize)
        let outOK = ob.length >= s.keySize && ob.isPointer
        let key: Bytes? = kb == .null ? nil : Self.bytes(kb, s.keySize)
        let okErr: Int32 = outOK ? 0 : EFAULT
        if s.isArray {
            let idx = key.map { Int($0.u32) } ?? Int(UInt32.max)
            let next: Int? = idx >= s.maxEntries ? 0 : (idx == s.maxEntries - 1 ? nil : idx + 1)
            guard expect(&ck, [next == nil ? ENOENT : okErr], r.errno, "array next after \(key.map { Self.hex($0) } ?? "NULL")") else { return }
            if r.errno == 0, let n = next, r.outBytes.prefixBytes(4) != Layout.intBytes(UInt64(n), 4) {
                ck.fail("walk", "next key after \(idx) is \(Self.hex(r.out)), want \(n)")
            }
            return
        }
        let all = Set(m.known.keys).union(m.maybe.keys)
        let ids: Bytes? = key.map { s.isLPM ? m.lpmIdentity($0) : $0 }
        let present = ids.map { m.known[$0].isSome || m.maybe[$0].isSome } ?? false
        var allowed = ErrSet()
        if m.known.isEmpty || present { allowed.insert(ENOENT) }
        let onlyItself = all.count == 1 && present && m.known[ids!].isSome
        if !all.isEmpty && !onlyItself { allowed.insert(okErr) }
        guard expect(&ck, allowed, r.errno, "next_key after \(key.map { Self.hex($0) } ?? "NULL") with \(all.count) entries") else { return }
        if r.errno == 0 {
            let got = r.outBytes.prefixBytes(s.keySize)
            let gid = s.isLPM ? m.lpmIdentity(got) : got
            if !all.contains(gid) { ck.fail("walk", "next_key returned \(Self.hex(got)), not a key of the map") }
            if let ids, gid == ids { ck.fail("walk", "next_key returned the key it was given") }
        }
    }

    func lookupAndDelete(_ ck: inout Check, _ c: ElemCall, _ r: CallResult) {
        if c.flags & ~BPFUpdateFlags.lock != 0 { expect(&ck, [EINVAL], r.errno, "flags \(c.flags)"); return }
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return }
        let m = maps[c.map]!, s = m.shape
        if !m.canRead || !m.canWrite { expect(&ck, [EPERM], r.errno, "needs read and write access"); return }
        if c.flags != 0 { expect(&ck, [EINVAL], r.errno, "flags on \(s.isQueueLike ? "queue/stack" : "map without spin lock")"); return }
        let kb = Layout.key(c.key, s)
        if let e = Self.keyCopyError(kb, s.keySize) { expect(&ck, [e], r.errno, "key buffer \(c.key)"); return }
        let ob = Self.outputBuf(c, need: s.valueLen)
        let outOK = ob.length >= s.valueLen && ob.isPointer
        let okErr: Int32 = outOK ? 0 : EFAULT
        if s.isQueueLike {
            let v = s.type == .queue ? m.deque.first : m.deque.last
            guard expect(&ck, [v == nil ? ENOENT : okErr], r.errno, "pop from \(m.deque.count) values") else { return }
            if v != nil {
                if r.errno == 0 && r.outBytes.prefixBytes(s.valueLen) != v! {
                    ck.fail("value", "pop returned \(Self.hex(r.out)), want \(Self.hex(v!))")
                }
                if s.type == .queue { m.deque.removeFirst() } else { m.deque.removeLast() }
            }
            return
        }
        if !s.isHashFamily { expect(&ck, [ENOTSUPP_], r.errno, "\(ProgramText.typeName(s.type)) has no lookup_and_delete"); return }
        let key = Self.bytes(kb, s.keySize)
        let allowed: ErrSet = m.known[key].isSome ? [okErr] : m.maybe[key].isSome ? [okErr, ENOENT] : [ENOENT]
        guard expect(&ck, allowed, r.errno, "key \(Self.hex(key))") else { return }
        if r.errno == 0, let want = m.known[key] ?? m.maybe[key], r.outBytes.prefixBytes(s.valueLen) != want {
            ck.fail("value", "lookup_and_delete returned \(Self.hex(r.out)), want \(Self.hex(want))")
        }
        // EFAULT comes after the delete: the element is gone either way.
        if m.known.removeValue(forKey: key) != nil || m.maybe.removeValue(forKey: key) != nil { m.mutated() }
    }

    // MARK: batches

    func batchPrefix(_ ck: inout Check, _ c: Call, _ r: CallResult, read: Bool, write: Bool) -> MapModel? {
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return nil }
        let m = maps[c.map]!
        if (read && !m.canRead) || (write && !m.canWrite) { expect(&ck, [EPERM], r.errno, "access (frozen \(m.frozen))"); return nil }
        let s = m.shape
        let has: Bool
        switch c.op {
        case .lookupBatch, .updateBatch: has = s.isHashFamily || s.isArray || s.isLPM
        case .deleteBatch: has = s.isHashFamily || s.isLPM
        default: has = s.isHashFamily
        }
        if !has { expect(&ck, [ENOTSUPP_], r.errno, "\(ProgramText.typeName(s.type)) has no \(c.op.rawValue)"); return nil }
        if c.elemFlags != 0 { expect(&ck, [EINVAL], r.errno, "elem_flags \(c.elemFlags)"); return nil }
        return m
    }

    func lookupBatch(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        let del = c.op == .lookupAndDeleteBatch
        // Mirrors the executor: in=last passes the out_batch of the previous such call.
        defer { if c.fd == .map, r.errno == 0 || r.errno == ENOENT || r.errno == ENOSPC { lastToken[c.map] = r.token } }
        guard let m = batchPrefix(&ck, c, r, read: true, write: del) else { return }
        let s = m.shape
        if s.isHashFamily && c.flags != 0 { expect(&ck, [EINVAL], r.errno, "batch flags \(c.flags)"); return }
        if c.count == 0 {
            expect(&ck, [0], r.errno, "count 0")
            if r.count != 0 { ck.fail("batch", "count 0 came back as \(r.count)") }
            return
        }
        let kOut = Layout.batchKeysOut(c, s), vOut = Layout.batchValuesOut(c, s)
        if c.inBatch == .unmapped { expect(&ck, [EFAULT], r.errno, "in_batch unmapped"); return }
        // The cursor the executor passed: a literal, the previous out_batch, or NULL.
        var token: UInt32? = nil
        switch c.inBatch {
        case let .value(t): token = t
        case .last: token = lastToken[c.map].map { UInt32($0[0]) | UInt32($0[1]) << 8 | UInt32($0[2]) << 16 | UInt32($0[3]) << 24 }
        default: break
        }
        let kFit = kOut.length / max(1, s.keySize), vFit = vOut.length / max(1, s.valueLen)
        let fit = (kOut == .null || kOut == .unmapped || vOut == .null || vOut == .unmapped) ? 0 : min(kFit, vFit)

        if s.isArray {
            // Exact: entries start after the token (or at 0), count of them, ENOENT at the end.
            let start = token.map { Int($0) >= s.maxEntries ? 0 : Int($0) + 1 } ?? 0
            let remaining = s.maxEntries - start
            let want = min(Int(c.count), remaining)
            var expErr: Int32 = Int(c.count) > remaining ? ENOENT : 0
            var n = want
            if want > fit { expErr = EFAULT; n = fit }
            if start >= s.maxEntries { expErr = ENOENT; n = 0 }
            guard expect(&ck, [expErr], r.errno, "array batch from \(start), count \(c.count), buffers fit \(fit)") else { return }
            if expErr == EFAULT { return }
            if Int(r.count) != n { ck.fail("batch", "count \(r.count), want \(n)"); return }
            for i in 0..<n {
                let k = Bytes(r.keysOut[(i * 4)..<(i * 4 + 4)])
                let v = Bytes(r.valuesOut[(i * s.valueLen)..<((i + 1) * s.valueLen)])
                if k != Bytes(int: UInt64(start + i), count: 4) { ck.fail("batch", "entry \(i) has key \(Self.hex(k)), want \(start + i)"); return }
                if v != (m.arr[start + i] ?? m.zero) { ck.fail("value", "batch value of index \(start + i) is \(Self.hex(v)), want \(Self.hex(m.arr[start + i] ?? m.zero))"); return }
            }
            let wantToken = n > 0 ? Layout.intBytes(UInt64(start + n - 1), 4) : [UInt8](repeating: GuardArena.poison, count: 4)
            if r.token != wantToken { ck.fail("batch", "out_batch is \(Self.hex(r.token)), want \(Self.hex(wantToken))") }
            return
        }

        if s.isLPM {
            lookupBatchLPM(&ck, c, r, m, token: c.inBatch == .last ? lastToken[c.map] : nil, fit: fit)
            return
        }
        // Hash family: order unknown, content exact.
        if let t = token {
            let buckets = s.maxEntries <= 1 ? 1 : 1 << (64 - UInt64(s.maxEntries - 1).leadingZeroBitCount)
            if Int(t) >= buckets { expect(&ck, [ENOENT], r.errno, "in_batch \(t) >= \(buckets) buckets"); return }
        }
        // The kernel copies whole buckets, each only while it fits in `count`, and faults
        // (EFAULT) only when the entries it copies overflow the buffers: the walk must be able
        // to reach more than `fit` entries, and `count` must leave room for them.
        let reachable = hashBatchReachable(m, continuing: c.inBatch == .last)
        var allowed: ErrSet = [0, ENOENT, ENOSPC]
        if fit < Int(c.count) && min(Int(c.count), reachable) > fit { allowed.insert(EFAULT) }
        guard expect(&ck, allowed, r.errno, "hash batch count \(c.count), buffers fit \(fit), at most \(reachable) entries to return") else { return }
        if r.errno == EFAULT { hashBatchFault(&ck, c, r, m, del: del); return }
        if r.count > c.count || Int(r.count) > fit { ck.fail("batch", "count \(r.count) exceeds capacity \(min(Int(c.count), fit))"); return }
        if r.errno == ENOSPC && r.count != 0 { ck.fail("batch", "ENOSPC with count \(r.count)") }
        if r.errno == 0 && r.count == 0 { ck.fail("batch", "success with no entries (count \(c.count))") }
        if case .value = c.inBatch { m.walkSeen = nil; m.walkStart = nil }
        if c.inBatch == .null || m.walkSeen == nil {
            m.walkSeen = c.inBatch == .null ? [] : nil
            m.walkStart = c.inBatch == .null ? (Set(m.known.keys), Set(m.maybe.keys)) : nil
        }
        var seenHere = Set<Bytes>()
        for i in 0..<Int(r.count) {
            let k = Bytes(r.keysOut[(i * s.keySize)..<((i + 1) * s.keySize)])
            let v = Bytes(r.valuesOut[(i * s.valueLen)..<((i + 1) * s.valueLen)])
            if !seenHere.insert(k).inserted || m.walkSeen?.contains(k) == true {
                ck.fail("batch", "key \(Self.hex(k)) returned twice in one batch walk")
            }
            m.walkSeen?.insert(k)
            guard let want = m.known[k] ?? m.maybe[k] else {
                ck.fail("batch", "batch returned key \(Self.hex(k)) that the map does not hold"); continue
            }
            if v != want { ck.fail("value", "batch value of key \(Self.hex(k)) is \(Self.hex(v)), want \(Self.hex(want))") }
            if del {
                m.known[k] = nil; m.maybe[k] = nil
            } else if let mv = m.maybe.removeValue(forKey: k) { m.known[k] = mv }
        }
        if r.errno == ENOENT, let seen = m.walkSeen, let start = m.walkStart {
            // Only keys the model still knows: an LRU eviction since the walk began (even by an
            // update that failed, as the kernel pops a free node before it checks the flags)
            // moved the others to maybe.
            let missing = start.known.subtracting(seen).filter { m.known[$0].isSome }
            if !missing.isEmpty { ck.fail("batch", "batch walk ended without \(missing.count) key(s), e.g. \(Self.hex(missing.first!))") }
            if del { for k in start.maybe.subtracting(seen) { m.maybe[k] = nil } }
            m.walkSeen = nil; m.walkStart = nil
        }
    }

    /// Upper bound on the entries a hash batch lookup can still return: every entry, or for a
    /// walk continued from the previous out_batch, those it has not returned yet.
    func hashBatchReachable(_ m: MapModel, continuing: Bool) -> Int {
        guard continuing, let seen = m.walkSeen, !seen.isEmpty else { return m.countHigh }
        var n = 0
        for (k, _) in m.known where !seen.contains(k) { n += 1 }
        for (k, _) in m.maybe where !seen.contains(k) { n += 1 }
        return n
    }

    /// What an EFAULT from a hash batch lookup leaves: the kernel zeroed count before the walk
    /// and writes neither count nor out_batch after a failed copy; every whole key slot it wrote
    /// (before the fault) is a key of the map, once; with delete those keys are gone and the
    /// rest of what it copied may be gone too.
    func hashBatchFault(_ ck: inout Check, _ c: Call, _ r: CallResult, _ m: MapModel, del: Bool) {
        let s = m.shape
        if r.count != 0 { ck.fail("batch", "EFAULT with count \(r.count) written back (the kernel zeroes it first and never writes it after a fault)") }
        if r.token.contains(where: { $0 != GuardArena.poison }) { ck.fail("batch", "EFAULT, yet out_batch was written (\(Self.hex(r.token)))") }
        var written: [Bytes] = []
        var seen = Set<Bytes>()
        // The executor reads the whole keys buffer after an EFAULT (count says nothing then).
        let slots = s.keySize > 0 ? r.keysOut.count / s.keySize : 0
        let used = (0..<slots).filter { i in r.keysOut[(i * s.keySize)..<((i + 1) * s.keySize)].contains { $0 != GuardArena.poison } }
        for i in used {
            let k = Bytes(Array(r.keysOut[(i * s.keySize)..<((i + 1) * s.keySize)]))
            if !seen.insert(k).inserted { ck.fail("batch", "key \(Self.hex(k)) written twice before the fault"); continue }
            let held = m.known[k].isSome || m.maybe[k].isSome
            // The copy that faulted may stop inside its last key: only that slot may be partial.
            if !held && i != used.last { ck.fail("batch", "EFAULT after writing key \(Self.hex(k)), which the map does not hold") }
            if held { written.append(k) }
        }
        guard del else { return }
        for k in written { m.known[k] = nil; m.maybe[k] = nil }
        m.blur()
        m.mutated()
    }

    /// The generic batch lookup on an LPM trie: get_next_key order (not modelled), exact content.
    func lookupBatchLPM(_ ck: inout Check, _ c: Call, _ r: CallResult, _ m: MapModel, token: [UInt8]?, fit: Int) {
        let s = m.shape
        if case .value = c.inBatch { expect(&ck, [EFAULT], r.errno, "4-byte in_batch, key_size \(s.keySize)"); return }
        let fromStart = c.inBatch == .null || (c.inBatch == .last && token == nil)
        let n = m.known.count
        var allowed: ErrSet
        if fromStart {
            let want = min(Int(c.count), n)
            allowed = want > fit ? [EFAULT] : [Int(c.count) > n ? ENOENT : 0]
        } else {
            allowed = [0, ENOENT]
            if fit < Int(c.count) { allowed.insert(EFAULT) }
        }
        guard expect(&ck, allowed, r.errno, "LPM batch count \(c.count) of \(n) entries, buffers fit \(fit), from \(fromStart ? "start" : "token")") else { return }
        if r.errno == EFAULT { return }
        if r.errno == 0 && r.count != c.count { ck.fail("batch", "success with count \(r.count) of \(c.count)") }
        if r.errno == ENOENT && r.count >= c.count { ck.fail("batch", "ENOENT with a full batch (\(r.count))") }
        var seen = Set<Bytes>()
        for i in 0..<Int(min(r.count, c.count)) where (i + 1) * s.keySize <= r.keysOut.count {
            let k = Bytes(r.keysOut[(i * s.keySize)..<((i + 1) * s.keySize)])
            let v = Bytes(r.valuesOut[(i * s.valueLen)..<min(r.valuesOut.count, (i + 1) * s.valueLen)])
            let id = m.lpmIdentity(k)
            if !seen.insert(id).inserted { ck.fail("batch", "key \(Self.hex(k)) returned twice") }
            guard let want = m.known[id] else { ck.fail("batch", "batch returned key \(Self.hex(k)) that the trie does not hold"); continue }
            if v != want { ck.fail("value", "batch value of \(Self.hex(k)) is \(Self.hex(v)), want \(Self.hex(want))") }
        }
        if fromStart && r.errno == ENOENT && seen.count != n {
            ck.fail("batch", "batch walk from the start returned \(seen.count) of \(n) keys")
        }
        if r.count > 0 && (Int(r.count) * s.keySize <= r.keysOut.count) {
            let last = Array(r.keysOut[((Int(r.count) - 1) * s.keySize)..<(Int(r.count) * s.keySize)])
            if r.token != last { ck.fail("batch", "out_batch \(Self.hex(r.token)) is not the last key \(Self.hex(last))") }
        }
    }

    /// out_batch of the previous batch lookup per slot (what the executor passes for in=last).
    var lastToken: [[UInt8]?] = Array(repeating: nil, count: Executor.maxSlots)

    func writeBatch(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        let upd = c.op == .updateBatch
        guard let m = batchPrefix(&ck, c, r, read: false, write: true) else { return }
        let s = m.shape
        if c.count == 0 {
            expect(&ck, [0], r.errno, "count 0")
            return
        }
        let kIn = Layout.batchKeysIn(c, s), vIn = upd ? Layout.batchValuesIn(c, s) : .input([])
        let kFit = kIn.isPointer && kIn != .unmapped ? kIn.length / s.keySize : 0
        let vFit = upd ? (vIn.isPointer && vIn != .unmapped ? vIn.length / max(1, s.valueLen) : 0) : Int.max
        // Simulate element by element, as generic_map_{update,delete}_batch do.
        let saved = (m.known, m.maybe, m.arr, m.lpmKey)
        var i = 0
        var err: Int32 = 0
        var ambiguous = false
        while i < Int(c.count) {
            if i >= kFit || i >= vFit { err = EFAULT; break }
            let key = Bytes(int: Layout.batchKey(c, i), count: s.keySize)
            if upd {
                var sub = Check(index: ck.index, op: ck.op)
                let allowedFor = predictUpdate(m, key)
                if allowedFor.count > 1 { ambiguous = true }
                let e = allowedFor.contains(0) ? Int32(0) : allowedFor.first!
                elemUpdate(&sub, m, key, Bytes(Layout.batchValue(c, i, s)), 0, got: e)
                if e != 0 { err = e; break }
            } else {
                var id = key
                if s.isLPM {
                    if MapModel.plen(key) > m.maxPrefix { err = EINVAL; break }
                    id = m.lpmIdentity(key)
                }
                if !m.known[id].isSome && !m.maybe[id].isSome { err = ENOENT; break }
                if m.maybe[id].isSome { ambiguous = true }
                m.known[id] = nil; m.maybe[id] = nil; m.lpmKey[id] = nil
                m.mutated()
            }
            i += 1
        }
        if upd && r.errno == ENOMEM && err != ENOMEM {
            // A memory limit stopped the batch: the first `count` entries went in.
            note(ENOMEM)
            ambiguous = true
        }
        if ambiguous {
            // An LRU eviction or an unsure key on the way: replay what the kernel reports it did.
            var allowed: ErrSet = [0, err]
            if upd { allowed.formUnion([E2BIG, ENOSPC, ENOMEM]) } else { allowed.insert(ENOENT) }
            expect(&ck, allowed, r.errno, "\(c.op.rawValue) of \(c.count) with unsure entries")
            (m.known, m.maybe, m.arr, m.lpmKey) = saved
            m.blur()
            if r.count > c.count { ck.fail("batch", "count \(r.count) > \(c.count)"); return }
            if r.errno == EFAULT {
                // generic_map_{update,delete}_batch report in count the elements they processed
                // before the fault, and those changes stay: they may now be present (or gone).
                for j in 0..<Int(r.count) {
                    let key = Bytes(int: Layout.batchKey(c, j), count: s.keySize)
                    let id = s.isLPM ? m.lpmIdentity(key) : key
                    if upd {
                        m.known[id] = nil; m.maybe[id] = Bytes(Layout.batchValue(c, j, s))
                    } else if let v = m.known.removeValue(forKey: id) {
                        m.maybe[id] = v
                    }
                }
                m.mutated()
                return
            }
            for j in 0..<Int(r.count) {
                let key = Bytes(int: Layout.batchKey(c, j), count: s.keySize)
                let id = s.isLPM ? m.lpmIdentity(key) : key
                if upd { m.maybe[id] = nil; m.known[id] = Bytes(Layout.batchValue(c, j, s)) } else { m.maybe[id] = nil; m.known[id] = nil }
            }
            if !upd && r.errno == ENOENT && Int(r.count) < Int(c.count) {
                let key = Bytes(int: Layout.batchKey(c, Int(r.count)), count: s.keySize)
                let id = s.isLPM ? m.lpmIdentity(key) : key
                if m.known[id].isSome { ck.fail("batch", "delete_batch stopped with ENOENT at key \(Self.hex(key)), which the map holds") }
                m.maybe[id] = nil
            }
            m.mutated()
            return
        }
        guard expect(&ck, [err], r.errno, "\(c.op.rawValue) of \(c.count), keys fit \(kFit), values fit \(vFit == Int.max ? -1 : vFit)") else { return }
        if err != EFAULT && Int(r.count) != i { ck.fail("batch", "count \(r.count), want \(i) processed") }
    }

    /// The errnos an ANY update of `key` can give (batch elements).
    func predictUpdate(_ m: MapModel, _ key: Bytes) -> ErrSet {
        let s = m.shape
        if s.isArray {
            let idx = Int(key.u32)
            return idx >= s.maxEntries ? [E2BIG] : [0]
        }
        if s.isLPM {
            if MapModel.plen(key) > m.maxPrefix { return [EINVAL] }
            let id = m.lpmIdentity(key)
            return m.known[id].isSome ? [0] : (m.known.count >= s.maxEntries ? [ENOSPC] : [0])
        }
        if s.isLRU { return m.countHigh >= m.lruCapacity && !m.known[key].isSome ? [0] : [0] }
        if m.known[key].isSome { return [0] }
        if m.countLow >= s.maxEntries { return m.maybe[key].isSome ? [0, E2BIG] : [E2BIG] }
        if m.countHigh >= s.maxEntries { return [0, E2BIG] }
        return [0]
    }

    // MARK: walk

    func walk(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        if let e = fdError(c) {
            if r.walkEnd != e { ck.fail("errno", "walk ended with \(Self.en(r.walkEnd)), want \(Self.en(e))") }
            return
        }
        let m = maps[c.map]!, s = m.shape
        if !m.canRead { if r.walkEnd != EPERM { ck.fail("errno", "walk of a write-only map ended with \(Self.en(r.walkEnd)), want EPERM") }; return }
        if s.isQueueLike { if r.walkEnd != EINVAL { ck.fail("errno", "walk ended with \(Self.en(r.walkEnd)), want EINVAL") }; return }
        if s.isArray {
            if s.maxEntries > Layout.walkCap { return }
            let zero = m.zero
            if r.walkEnd != ENOENT || r.walk.count != s.maxEntries {
                ck.fail("walk", "array walk gave \(r.walk.count) keys ending \(Self.en(r.walkEnd)), want \(s.maxEntries) then ENOENT"); return
            }
            for (i, e) in r.walk.enumerated() {
                if e.key != Layout.intBytes(UInt64(i), 4) { ck.fail("walk", "walk step \(i) gave key \(Self.hex(e.key))"); return }
                if e.value.map({ Bytes($0) }) != (m.arr[i] ?? zero) && s.valueLen <= Layout.bufferCap { ck.fail("value", "index \(i) holds \(e.value.map { Self.hex($0) } ?? "ENOENT"), want \(Self.hex(m.arr[i] ?? zero))"); return }
            }
            return
        }
        // A walk the executor cut at its cap proves nothing about the keys past the cut.
        if r.walkEnd == 0 && r.walk.count >= Layout.walkCap + 2 { return }
        if r.walkEnd != ENOENT { ck.fail("walk", "walk ended with \(Self.en(r.walkEnd)) after \(r.walk.count) keys") }
        var seen = Set<Bytes>()
        for e in r.walk {
            let ek = Bytes(e.key)
            let id = s.isLPM ? m.lpmIdentity(ek) : ek
            if !seen.insert(id).inserted { ck.fail("walk", "get_next_key returned \(Self.hex(e.key)) twice"); return }
            guard let want = m.known[id] ?? m.maybe[id] else { ck.fail("walk", "get_next_key returned \(Self.hex(e.key)), which the map does not hold"); continue }
            if s.isLPM, let k = m.lpmKey[id], k != ek { ck.fail("walk", "LPM key \(Self.hex(e.key)) was written as \(Self.hex(k))") }
            if e.value.map({ Bytes($0) }) != want && s.valueLen <= Layout.bufferCap { ck.fail("value", "key \(Self.hex(e.key)) holds \(e.value.map { Self.hex($0) } ?? "ENOENT"), want \(Self.hex(want))") }
            if let v = m.maybe.removeValue(forKey: id) { m.known[id] = v }
        }
        let missing = Set(m.known.keys).subtracting(seen)
        if !missing.isEmpty { ck.fail("walk", "get_next_key walk missed \(missing.count) key(s), e.g. \(Self.hex(missing.first!))") }
        // Maybe keys the walk did not see are gone.
        for k in Array(m.maybe.keys) where !seen.contains(k) { m.maybe[k] = nil; m.lpmKey[k] = nil }
        if seen.count > s.maxEntries { ck.fail("count", "walk saw \(seen.count) keys, max_entries \(s.maxEntries)") }
    }
}

extension Optional {
    /// `self != nil` by pattern: for an Equatable wrapped type (Bytes, Set, Dictionary.Index)
    /// `!= nil` went through Optional's `==`, which builds a tuple of optionals and destroys it
    /// through generic value witnesses, several times per call on the hot path.
    @inline(__always) var isSome: Bool {
        if case .some = self { return true }
        return false
    }
}

/// errno names for messages (StressCore has the full table; this avoids a dependency cycle in tests).
enum ErrnoNames {
    static func name(_ e: Int32) -> String {
        let t: [Int32: String] = [EPERM: "EPERM", ENOENT: "ENOENT", EBADF: "EBADF", ENOMEM: "ENOMEM", EFAULT: "EFAULT",
                                  EBUSY: "EBUSY", EEXIST: "EEXIST", EINVAL: "EINVAL", ENOSPC: "ENOSPC", E2BIG: "E2BIG",
                                  EAGAIN: "EAGAIN", EOPNOTSUPP: "EOPNOTSUPP", 524: "ENOTSUPP"]
        return t[e] ?? "errno \(e)"
    }
}

/// What a lookup may find (up to three answers: a value or nothing), without an array.
struct Candidates {
    private var v0 = Bytes(), v1 = Bytes(), v2 = Bytes()
    /// Bit i set: answer i is a value (v_i); clear: nothing.
    private var isValue: UInt8 = 0
    private(set) var count = 0

    @inline(__always)
    mutating func append(_ x: Bytes?) {
        if let x {
            switch count {
            case 0: v0 = x
            case 1: v1 = x
            case 2: v2 = x
            default: preconditionFailure("more than three lookup candidates")
            }
            isValue |= 1 << UInt8(count)
        } else if count > 2 {
            preconditionFailure("more than three lookup candidates")
        }
        count += 1
    }

    @inline(__always)
    subscript(i: Int) -> Bytes? {
        guard isValue & (1 << UInt8(i)) != 0 else { return nil }
        switch i {
        case 0: return v0
        case 1: return v1
        default: return v2
        }
    }

    @inline(__always)
    func contains(_ v: Bytes) -> Bool {
        for i in 0..<count where self[i] == v { return true }
        return false
    }

    /// The values among the answers.
    var values: [Bytes] { (0..<count).compactMap { self[$0] } }
}
