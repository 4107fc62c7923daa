// The shadow model: per-slot map models, the errno comparison, and the dispatch of each call to its oracle.
import Basics
import BPFKit
import Foundation
import Glibc

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

/// The shadow model of one program's maps (single process, one thread): predicts each
/// call's errno and data and compares them with what the kernel did.
public final class ShadowModel {
    var maps: [MapModel?] = Array(repeating: nil, count: Executor.maxSlots)

    /// The slot's model, for ops that never replace a slot's model (element ops).
    @inline(__always)
    func withModel<T>(_ i: Int, _ body: (MapModel) -> T) -> T { body(maps[i]!) }
    /// Slots whose fd was closed by a `close` call.
    var closed: [Bool] = Array(repeating: false, count: Executor.maxSlots)
    public let cpus: Int
    /// Errnos the model predicted and the kernel returned (expected rejections: data, counted).
    public private(set) var expectedRejections: [Int32: Int] = [:]
    /// A test-only fault in the oracle layer: returns a message to report for a call.
    public var plantedFault: ((Int, Call, CallResult) -> String?)?

    /// What the kernel under test does where kernels differ (probed by the Fuzzer at start).
    public let facts: KernelFacts

    public init(cpus: Int = Probes.possibleCPUs(), facts: KernelFacts = .linux6_18) { self.cpus = cpus; self.facts = facts }

    /// Slots (bits) holding a ZERO_SEED hash or per-CPU hash map, their call histories, and the
    /// walk order seen per history (ZeroSeedOrder.swift).
    var zeroSeedSlots: UInt8 = 0
    /// Live mappings per slot, oldest first, as the executor keeps them (MmapModel.swift).
    var mappings = [[(model: MapModel, writable: Bool, readable: Bool)]](repeating: [], count: Executor.maxSlots)
    var history = [String](repeating: "", count: Executor.maxSlots)
    var walkOrders: [String: (slot: Int, keys: [[UInt8]])] = [:]
    /// Access per fd, pins and ids (IdentityModel.swift).
    var identity = IdentityModel()

    /// Map-in-map: templates, held inner maps, the maps to sweep at the end (MapInMap.swift).
    var mim = MapInMapState()
    /// devmap, cpumap, stack_trace, arena: the netns flag and the cpumaps made (DevCPU.swift).
    var devcpu = DevCPUState()
    /// The object pool's open objects, as each `open` returned them (PoolModel.swift).
    public internal(set) var pool = PoolModel()
    /// Every socket-map model of the program (SockMaps.swift).
    var sock = SockMapState()
    /// Owners and map-file tokens of the fd arrays (FDArrays.swift).
    var fd = FDArrayState()

    /// Fault injection (FaultNth.swift): the kernel has fail-nth (probed); a fail_nth call armed
    /// the next call; that call's fault was injected (ENOMEM is then accepted); the counts.
    public var failNthAvailable = false
    var faultArmed = false
    var injectedNow = false
    public internal(set) var faultStats = FaultNth.Stats()

    public func reset() {
        mim = MapInMapState()
        faultArmed = false
        injectedNow = false
        devcpu.reset()
        pool = PoolModel()
        sock = SockMapState()
        fd = FDArrayState()
        zeroSeedSlots = 0
        walkOrders = [:]
        mappings = Array(repeating: [], count: Executor.maxSlots)
        lastToken = Array(repeating: nil, count: Executor.maxSlots)
        maps = Array(repeating: nil, count: Executor.maxSlots)
        closed = Array(repeating: false, count: Executor.maxSlots)
        identity = IdentityModel()
    }

    /// out_batch of the previous batch lookup per slot (what the executor passes for in=last).
    var lastToken: [[UInt8]?] = Array(repeating: nil, count: Executor.maxSlots)

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

    static func en(_ e: Int32) -> String { e == 0 ? "success" : ErrnoName.name(e) }
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
        // The call fail_nth armed, and its fault was injected: ENOMEM there and nowhere else.
        if got == ENOMEM && injectedNow { note(got); return true }
        ck.fail("errno", "got \(Self.en(got)), model expects \(Self.set(allowed)) (\(why()))")
        return false
    }

    // MARK: the oracle

    /// Checks call `index` of a program against the model and advances the model.
    /// `shape` is what the kernel reported for the map a successful create made.
    public func check(_ index: Int, _ c: Call, _ r: CallResult, shape: MapShape?) -> [OracleFinding] {
        var ck: Check
        if ElemCall.isElem(c.op) && faultArmed {
            // The call fail_nth armed (the fuzz loop sends it here, not to checkElem directly).
            ck = Check(index: index, op: c.op)
            if !armedCall(c.op, c.map, r) { ck = withUnsafePointer(to: c) { checkElem(index, ElemCall($0), r) } }
            injectedNow = false
        } else if ElemCall.isElem(c.op) {
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
        // The ternary `let c = isObj ? resolvingObjs(c) : c` copied the 136-byte ElemCall on
        // every call: only obj: buffers take a copy, out of line.
        if c.k.isObj || c.v.isObj { checkObjElem(index, c, r, into: &ck); return }
        checkResolvedElem(index, c, r, into: &ck)
    }

    @inline(never)
    func checkObjElem(_ index: Int, _ c: ElemCall, _ r: CallResult, into ck: inout Check) {
        checkResolvedElem(index, resolvingObjs(c), r, into: &ck)
    }

    /// checkElem once obj: buffers are resolved to fds.
    @inline(__always)
    func checkResolvedElem(_ index: Int, _ c: ElemCall, _ r: CallResult, into ck: inout Check) {
        ck.index = index
        ck.op = c.op
        if identity.shared { applyFDPerms(c.map) }
        if r.hasBrokenCanaries { canaryFinding(&ck, r) }
        dispatchElem(&ck, c, r)
        if zeroSeedSlots != 0 && zeroSeedSlots & (1 << UInt8(truncatingIfNeeded: c.map)) != 0 { recordHistory(c.src.pointee, r) }
    }

    @inline(__always)
    func dispatchElem(_ ck: inout Check, _ c: ElemCall, _ r: CallResult) {
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
        defer { trackZeroSeed(&ck, c, r) }
        fdArrayFileClosing(c)
        if identity.shared { applyFDPerms(c.map, batch: c.op == .lookupBatch || c.op == .lookupAndDeleteBatch) }
        if faultArmed && c.op != .failNth && armedCall(c.op, c.map, r) { injectedNow = false; return }
        defer { injectedNow = false }
        switch c.op {
        case .create: create(&ck, c, r, shape); identityCreated(c, r); noteCreate(ck.index, c, r)
        case .close:
            let open = maps[c.map] != nil
            expect(&ck, open ? [0] : [EBADF], r.errno, "close")
            if open { maps[c.map] = nil; closed[c.map] = true }
        case .freeze: freeze(&ck, c, r)
        case .update, .lookup, .delete, .nextKey, .lookupAndDelete: preconditionFailure("element op in checkOther")
        case .lookupBatch, .lookupAndDeleteBatch: lookupBatch(&ck, c, r)
        case .updateBatch, .deleteBatch: writeBatch(&ck, c, r)
        case .walk: walk(&ck, c, r)
        case .mmap: mmap(&ck, c, r)
        case .munmap: munmap(&ck, c, r)
        case .view: view(&ck, c, r)
        case .pin, .unpin, .objGet, .fdByID, .nextID, .info: identity(&ck, c, r)
        case .race: race(&ck, c, r)
        case .ringMmap: ringMmap(&ck, c, r)
        case .putInner: putInner(&ck, c, r)
        case .alive: alive(&ck, c, r)
        case .failNth: failNth(&ck, c, r)
        case .open, .drop: poolCall(&ck, c, r)
        case .putProg: putProg(&ck, c, r)
        }
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
