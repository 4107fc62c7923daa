// The executor: runs fuzz calls against a runtime with every buffer placed in the guard arena.
import BPFKit
import CBPFStress
import Foundation
import Glibc

/// Runs calls against a runtime. Map slots hold fds of maps this executor created; every
/// buffer is placed against a guard page. Not thread-safe: one per thread.
public final class Executor {
    public static let maxSlots = 4
    /// A number that is never an open fd (well above RLIMIT_NOFILE).
    public static let closedFD: Int32 = 999_999

    public let runtime: any Runtime
    let rt: bpfs_rt
    /// rt in memory of its own for the C wrappers' `const struct bpfs_rt *` (withUnsafePointer
    /// on the stored property copied it to the stack on every call). Freed in deinit.
    let rtp: UnsafeMutablePointer<bpfs_rt>
    let arena: GuardArena
    let cpus: Int
    /// shape(i) of a slot without a map.
    let defaultShape: MapShape
    let devNull: Int32
    /// Map fd per slot (-1: none, closedFD: closed).
    // Private storage: the optimizer can then prove no overlapping accesses and drop the
    // dynamic exclusivity checks public class properties get on every call.
    private var _fds: [Int32]
    private var _shapes: [MapShape?]
    public var fds: [Int32] { _fds }
    public var shapes: [MapShape?] { _shapes }
    /// shapes[i] without copying the array.
    @inline(__always) func shape(ofSlot i: Int) -> MapShape? { _shapes[i] }
    /// out_batch of the previous batch lookup per slot.
    var lastToken: [[UInt8]?]
    /// Name prefix of the maps it creates (leak check and SharedMapSet ignore them).
    public var mapName = "bpfs_fuzz"
    /// The private bpffs, its pins and the map id per slot (IdentityExec.swift).
    let identity = ExecIdentity()
    /// This thread's /proc/thread-self/fail-nth while a fail_nth call has armed it (-1: none).
    var faultFD: Int32 = -1
    /// The thread whose netns devmapRefusal last read, and whether it was the private one: a
    /// thread's netns changes only through enterPrivateNetns, and the stat of
    /// /proc/thread-self/ns/net allocates, so it must not run between fail_nth and its call.
    var netnsTid: Int32 = 0
    var netnsMatch = false
    /// Inode of the private netns its thread entered (FuzzNetns.swift), 0: none; devmap updates need it.
    public internal(set) var privateNetns: UInt64 = 0
    /// Sockets, programs, perf events, cgroups, pidfds and files for `obj:N` (Pool.swift).
    let pool: ObjectPool

    public init(runtime: any Runtime, cpus: Int = Probes.possibleCPUs()) {
        self.runtime = runtime
        rt = runtime.entry.raw
        rtp = UnsafeMutablePointer<bpfs_rt>.allocate(capacity: 1)
        rtp.initialize(to: rt)
        pool = ObjectPool(rtp: rtp)
        arena = GuardArena(slots: 8, capacity: Layout.bufferCap)
        self.cpus = cpus
        defaultShape = MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, cpus: cpus)
        devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        _fds = Array(repeating: -1, count: Executor.maxSlots)
        _shapes = Array(repeating: nil, count: Executor.maxSlots)
        lastToken = Array(repeating: nil, count: Executor.maxSlots)
    }

    deinit {
        reset()
        if devNull >= 0 { Glibc.close(devNull) }
        rtp.deallocate()
    }

    /// Closes every map: the next program starts from nothing.
    /// Live mappings per slot, oldest first (at most 4; the oldest goes first). A new create on
    /// the slot unmaps them; a close does not (the mapping keeps the map alive).
    var mappings: [[(ptr: UnsafeMutableRawPointer, len: Int, readable: Bool, writable: Bool)]] = Array(repeating: [], count: Executor.maxSlots)

    /// The mmap length of a map: its array data, PAGE_ALIGN(max_entries * round_up(value_size, 8)).
    static func mmapLength(_ s: MapShape) -> Int {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let n = s.maxEntries * ((s.valueSize + 7) & ~7)
        return max(page, (n + page - 1) / page * page)
    }

    func unmapAll(_ slot: Int) {
        for m in mappings[slot] { munmap(m.ptr, m.len) }
        mappings[slot] = []
    }

    /// What a readable mapping holds (up to Layout.bufferCap bytes), into valuesOut.
    func readView(_ m: (ptr: UnsafeMutableRawPointer, len: Int, readable: Bool, writable: Bool), into r: inout CallResult) {
        r.valuesOut = Array(UnsafeRawBufferPointer(start: m.ptr, count: min(m.len, Layout.bufferCap)))
    }

    public func reset() {
        disarmFault()
        for i in mappings.indices { unmapAll(i) }
        for i in _fds.indices where _fds[i] >= 0 && _fds[i] != Executor.closedFD { Glibc.close(_fds[i]) }
        _fds = Array(repeating: -1, count: Executor.maxSlots)
        _shapes = Array(repeating: nil, count: Executor.maxSlots)
        lastToken = Array(repeating: nil, count: Executor.maxSlots)
        identity.reset()
        pool.reset()
    }

    /// Empties `slot` as a create does (its fd closed, its mappings unmapped), then puts `fd`
    /// and `shape` there (-1 and nil: leaves it empty).
    func install(_ slot: Int, fd: Int32, shape: MapShape?) {
        if _fds[slot] >= 0 && _fds[slot] != Executor.closedFD { Glibc.close(_fds[slot]) }
        unmapAll(slot)
        _fds[slot] = fd; _shapes[slot] = shape; lastToken[slot] = nil
    }

    func fd(_ c: Call) -> Int32 {
        switch c.fd {
        case .map: return _fds[c.map]
        case .closed: return Executor.closedFD
        case .file: return devNull
        case .negative: return -1
        }
    }

    /// A placed buffer: pointer (nil for NULL), and the slot it lives in (-1: none).
    struct Placed { var ptr: UnsafeMutableRawPointer?; var slot: Int; var len: Int; var output: Bool }

    func place(_ r: ResolvedBuf, slot: Int) -> Placed {
        switch r {
        case .null: return Placed(ptr: nil, slot: -1, len: 0, output: false)
        case .unmapped: return Placed(ptr: arena.guardPage(slot), slot: -1, len: 0, output: false)
        case let .input(b0):
            let b = b0.count > arena.capacity ? Array(b0.prefix(arena.capacity)) : b0
            let p = arena.place(slot, b.count)
            b.withUnsafeBytes { if $0.count > 0 { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            return Placed(ptr: p, slot: slot, len: b.count, output: false)
        case let .output(n0):
            let n = min(n0, arena.capacity)
            let p = arena.place(slot, n)
            p.initializeMemory(as: UInt8.self, repeating: GuardArena.poison, count: n)
            return Placed(ptr: p, slot: slot, len: n, output: true)
        }
    }

    func read(_ p: Placed, _ n: Int? = nil) -> [UInt8] {
        guard let ptr = p.ptr, p.slot >= 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: ptr, count: min(n ?? p.len, p.len)))
    }

    /// read(p) without an array for outputs up to 16 bytes.
    @inline(__always)
    func readBytes(_ p: Placed) -> Bytes {
        guard let ptr = p.ptr, p.slot >= 0 else { return Bytes() }
        return Bytes(copying: UnsafeRawBufferPointer(start: ptr, count: p.len))
    }

    /// False when the kernel wrote over the canary in front of a placed buffer.
    @inline(__always)
    func canaryOK(_ p: Placed) -> Bool { p.slot < 0 || p.ptr == nil || arena.canaryIntact(p.ptr!) }

    @inline(__always)
    func checkCanary(_ name: String, _ p: Placed, into r: inout CallResult) {
        if !canaryOK(p) { r.mutableMore.brokenCanaries.append(name) }
    }

    func checkCanaries(_ ps: [(String, Placed)], into r: inout CallResult) {
        for (name, p) in ps { checkCanary(name, p, into: &r) }
    }

    /// Input of intBytes(v, n), written in place (same bytes as place(.input(intBytes(v, n)))).
    @inline(__always)
    func placeInt(_ v: UInt64, _ n0: Int, slot: Int) -> Placed {
        let n = min(n0, arena.capacity)
        let p = arena.place(slot, n)
        Layout.writeInt(v, n, into: p)
        return Placed(ptr: p, slot: slot, len: n, output: false)
    }

    /// Input of pattern(seed, n), written in place.
    @inline(__always)
    func placePattern(_ seed: UInt32, _ n0: Int, slot: Int) -> Placed {
        let n = min(n0, arena.capacity)
        let p = arena.place(slot, n)
        Layout.writePattern(seed, n, into: p)
        return Placed(ptr: p, slot: slot, len: n, output: false)
    }

    /// place(Layout.key(b, s)) without building the bytes as an array first.
    @inline(__always)
    func placeKey(_ b: Buf, _ s: MapShape, slot: Int) -> Placed {
        switch b {
        case let .int(v): return placeInt(v, s.keySize == 0 ? 4 : s.keySize, slot: slot)
        case .auto where s.keySize != 0: return placeInt(0, s.keySize, slot: slot)
        case let .pattern(seed, len): return placePattern(seed, min(len ?? s.keySize, Layout.bufferCap), slot: slot)
        default: return placeKeySlow(b, s, slot: slot)
        }
    }

    /// place(Layout.value(b, s)) without building the bytes as an array first.
    @inline(__always)
    func placeValue(_ b: Buf, _ s: MapShape, slot: Int) -> Placed {
        switch b {
        case .auto: return placePattern(0, s.valueLen, slot: slot)
        case let .int(v): return placeInt(v, s.valueLen, slot: slot)
        case let .pattern(seed, len): return placePattern(seed, min(len ?? s.valueLen, Layout.bufferCap), slot: slot)
        default: return placeValueSlow(b, s, slot: slot)
        }
    }

    /// place(Layout.output(b, need:)) for the common auto case.
    @inline(__always)
    func placeOutput(_ b: Buf, need: Int, slot: Int) -> Placed {
        if case .auto = b {
            let n = min(need, Layout.bufferCap, arena.capacity)
            let p = arena.place(slot, n)
            p.initializeMemory(as: UInt8.self, repeating: GuardArena.poison, count: n)
            return Placed(ptr: p, slot: slot, len: n, output: true)
        }
        return placeOutputSlow(b, need: need, slot: slot)
    }

    // The rare buffer kinds of the inlined placeKey/Value/Output, out of line (code size).
    @inline(never)
    func placeKeySlow(_ b: Buf, _ s: MapShape, slot: Int) -> Placed { place(Layout.key(objInt(b) ?? b, s), slot: slot) }
    @inline(never)
    func placeValueSlow(_ b: Buf, _ s: MapShape, slot: Int) -> Placed { place(Layout.value(objInt(b) ?? b, s), slot: slot) }
    @inline(never)
    func placeOutputSlow(_ b: Buf, need: Int, slot: Int) -> Placed { place(Layout.output(b, need: need), slot: slot) }

    /// placeKey(c.key, …) on the plain argument: the common kinds without a Buf to destroy.
    @inline(__always)
    func placeKey(_ c: ElemCall, _ s: MapShape, slot: Int) -> Placed {
        switch c.k {
        case .auto: return placeKey(Buf.auto, s, slot: slot)
        case let .int(v): return placeKey(Buf.int(v), s, slot: slot)
        case let .pattern(seed, len): return placeKey(Buf.pattern(seed, len: len), s, slot: slot)
        default: return placeKey(c.key, s, slot: slot)
        }
    }

    @inline(__always)
    func placeValue(_ c: ElemCall, _ s: MapShape, slot: Int) -> Placed {
        switch c.v {
        case .auto: return placeValue(Buf.auto, s, slot: slot)
        case let .int(v): return placeValue(Buf.int(v), s, slot: slot)
        case let .pattern(seed, len): return placeValue(Buf.pattern(seed, len: len), s, slot: slot)
        default: return placeValue(c.value, s, slot: slot)
        }
    }

    @inline(__always)
    func placeOutput(_ c: ElemCall, need: Int, slot: Int) -> Placed {
        if case .auto = c.o { return placeOutput(Buf.auto, need: need, slot: slot) }
        return placeOutput(c.out, need: need, slot: slot)
    }

    /// The slot's shape, or a default for calls on slots without a map (sizes for their buffers).
    @inline(__always)
    func shape(_ i: Int) -> MapShape {
        if let s = _shapes[i] { return s }
        return defaultShape
    }

    /// Runs one call.
    public func run(_ c: Call) -> CallResult {
        // The fuzz loop sends a call that fail_nth armed here, not to runElem directly: the
        // fault is read back and disarmed off the element ops' hot path.
        if faultFD >= 0 && !FaultNth.armable.contains(c.op) && c.op != .failNth { disarmFault() }
        var r = ElemCall.isElem(c.op) ? withUnsafePointer(to: c) { runElem(ElemCall($0)) } : runOther(c)
        if faultFD >= 0 && c.op != .failNth { finishFault(&r) }
        return r
    }

    /// Runs one call that is not an element op.
    func runOther(_ c: Call) -> CallResult {
        var r = CallResult()
        let s = shape(c.map)
        let fd = self.fd(c)
        switch c.op {
        case .create:
            if _fds[c.map] >= 0 && _fds[c.map] != Executor.closedFD { Glibc.close(_fds[c.map]) }
            unmapAll(c.map)
            _fds[c.map] = -1; _shapes[c.map] = nil; lastToken[c.map] = nil
            identity.ids[c.map] = 0
            let flags = c.numa != nil ? c.mapFlags | BPFMapFlags.numaNode : c.mapFlags
            // inner_map_fd and map_extra need the longer attr, which bpfs_map_create_ex sends only then.
            let innerFD = c.inner == -1 ? 0 : UInt32(bitPattern: innerFD(c.inner))
            let rc = c.btf != 0 ? createWithBTF(c, flags, innerFD) : mapName.withCString { name in
                withUnsafePointer(to: rt) {
                    bpfs_map_create_ex($0, c.type.rawValue, c.keySize, c.valueSize, c.maxEntries, flags, name, c.numa ?? 0, innerFD, c.mapExtra)
                }
            }
            if rc < 0 { r.errno = -rc; return r }
            _fds[c.map] = rc
            var info = bpfs_map_info()
            if withUnsafePointer(to: rt, { bpfs_map_info($0, rc, &info) }) == 0 {
                identity.ids[c.map] = info.id
                r.count = info.id  // the model's record of the map's id (IdentityModel.swift)
                _shapes[c.map] = MapShape(type: BPFMapType(rawValue: info.type), keySize: Int(info.key_size),
                                         valueSize: Int(info.value_size), maxEntries: Int(info.max_entries),
                                         flags: info.map_flags, cpus: cpus, id: info.id, btf: c.btf)
            } else {
                // A write-only map fd cannot be read back: use what was asked for.
                _shapes[c.map] = MapShape(type: c.type, keySize: Int(c.keySize), valueSize: Int(c.valueSize),
                                         maxEntries: Int(c.maxEntries), flags: flags, cpus: cpus, btf: c.btf)
            }
        case .close:
            if _fds[c.map] >= 0 && _fds[c.map] != Executor.closedFD {
                Glibc.close(_fds[c.map])
                _fds[c.map] = Executor.closedFD
            } else {
                r.errno = EBADF
            }
        case .update, .lookup, .lookupAndDelete, .delete, .nextKey:
            preconditionFailure("element ops go to runElem")
        case .putInner: runPutInner(c, s, fd, into: &r)
        case .alive: runAlive(c, into: &r)
        case .failNth: runFailNth(c, into: &r)
        case .open, .drop: runPool(c, into: &r)
        case .putProg: runPutProg(c, s, fd, into: &r)
        case .mmap:
            if s.type == .arena, c.fd == .map, _fds[c.map] >= 0, _fds[c.map] != Executor.closedFD { r.errno = arenaMmapNotModelled; return r }
            let len = Self.mmapLength(s)
            if mappings[c.map].count >= 4 { munmap(mappings[c.map][0].ptr, mappings[c.map][0].len); mappings[c.map].removeFirst() }
            guard let p = mmap(nil, len, Int32(c.flags), MAP_SHARED, fd, 0), p != MAP_FAILED else { r.errno = Glibc.errno; return r }
            mappings[c.map].append((p, len, c.flags & 1 != 0, c.flags & 2 != 0))
            if c.flags & 1 != 0 { readView((p, len, true, c.flags & 2 != 0), into: &r) }
        case .munmap:
            guard let m = mappings[c.map].popLast() else { r.errno = EINVAL; return r }
            r.errno = munmap(m.ptr, m.len) == 0 ? 0 : Glibc.errno
        case .view:
            // Only mappings made with PROT_READ are read (EACCES otherwise: the executor's own answer).
            // With key=#i value=...: first writes the value into element i through the mapping
            // (EACCES unless readable and writable, E2BIG past max_entries: the executor's answers).
            guard let m = mappings[c.map].last else { r.errno = EINVAL; return r }
            guard m.readable else { r.errno = EACCES; return r }
            if case let .int(i) = c.key, c.value != .auto {
                guard m.writable else { r.errno = EACCES; return r }
                let elem = (s.valueSize + 7) & ~7
                guard i < UInt64(s.maxEntries), Int(i) * elem + s.valueSize <= m.len else { r.errno = E2BIG; return r }
                guard case let .input(b) = Layout.value(c.value, s) else { r.errno = EINVAL; return r }
                b.prefix(s.valueSize).withUnsafeBytes { (m.ptr + Int(i) * elem).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            readView(m, into: &r)
        case .freeze:
            r.errno = err(withUnsafePointer(to: rt) { c.attrSize == 0 ? bpfs_map_freeze($0, fd) : bpfs_fuzz_map_freeze_sized($0, fd, c.attrSize) })
        case .lookupBatch, .lookupAndDeleteBatch:
            let inB = place(Layout.inBatch(c.inBatch, last: lastToken[c.map]), slot: 3)
            let outB = place(.output(Layout.tokenLen(s)), slot: 4)
            let ks = place(Layout.batchKeysOut(c, s), slot: 5), vs = place(Layout.batchValuesOut(c, s), slot: 6)
            var count = c.count
            let rc = withUnsafePointer(to: rt) {
                c.op == .lookupBatch
                    ? bpfs_map_lookup_batch($0, fd, inB.ptr, outB.ptr, ks.ptr, vs.ptr, &count, c.elemFlags, c.flags)
                    : bpfs_map_lookup_and_delete_batch($0, fd, inB.ptr, outB.ptr, ks.ptr, vs.ptr, &count, c.elemFlags, c.flags)
            }
            r.errno = err(rc)
            r.count = count
            // After an EFAULT count is not written back: read all that was placed, to see what
            // the kernel copied before the fault.
            let n = r.errno == EFAULT ? Int(c.count) : Int(min(count, c.count))
            let more = r.mutableMore
            more.token = read(outB)
            more.keysOut = read(ks, n * s.keySize)
            more.valuesOut = read(vs, n * s.valueLen)
            if c.fd == .map, r.errno == 0 || r.errno == ENOENT || r.errno == ENOSPC { lastToken[c.map] = r.token }
            checkCanaries([("in_batch", inB), ("out_batch", outB), ("keys", ks), ("values", vs)], into: &r)
        case .updateBatch:
            let ks = place(Layout.batchKeysIn(c, s), slot: 5), vs = place(Layout.batchValuesIn(c, s), slot: 6)
            var count = c.count
            r.errno = err(withUnsafePointer(to: rt) { bpfs_map_update_batch($0, fd, ks.ptr, vs.ptr, &count, c.elemFlags, c.flags) })
            r.count = count
            checkCanaries([("keys", ks), ("values", vs)], into: &r)
        case .deleteBatch:
            let ks = place(Layout.batchKeysIn(c, s), slot: 5)
            var count = c.count
            r.errno = err(withUnsafePointer(to: rt) { bpfs_map_delete_batch($0, fd, ks.ptr, &count, c.elemFlags, c.flags) })
            r.count = count
            checkCanaries([("keys", ks)], into: &r)
        case .pin, .unpin, .objGet, .fdByID, .nextID, .info:
            runIdentity(c, fd: fd, shape: s, into: &r)
        case .race:
            runRace(c, shape: s, into: &r)
        case .ringMmap:
            runRingMmap(c, fd: fd, shape: s, into: &r)
        case .walk:
            guard s.keySize > 0, s.keySize <= Layout.bufferCap else {
                // Key-less maps: one get_next_key shows what a walk gets (EINVAL, or the fd's errno).
                let o = place(.output(8), slot: 2)
                r.walkEnd = err(withUnsafePointer(to: rt) { bpfs_map_get_next_key($0, fd, nil, o.ptr) })
                return r
            }
            let cur = place(.output(s.keySize), slot: 0), nxt = place(.output(s.keySize), slot: 2)
            let v = place(.output(min(s.valueLen, Layout.bufferCap)), slot: 1)
            var first = true
            let limit = min(s.maxEntries, Layout.walkCap) + 2
            var walk: [(key: [UInt8], value: [UInt8]?)] = []
            while walk.count < limit {
                let rc = withUnsafePointer(to: rt) { bpfs_map_get_next_key($0, fd, first ? nil : cur.ptr, nxt.ptr) }
                if rc < 0 { r.walkEnd = -rc; break }
                first = false
                let key = read(nxt)
                let lrc = withUnsafePointer(to: rt) { bpfs_map_lookup_elem($0, fd, nxt.ptr, v.ptr, 0) }
                walk.append((key, lrc == 0 ? read(v) : nil))
                cur.ptr!.copyMemory(from: nxt.ptr!, byteCount: s.keySize)
            }
            if !walk.isEmpty { r.walk = walk }
            checkCanaries([("key", cur), ("next_key", nxt), ("value", v)], into: &r)
        }
        return r
    }

    func fd(_ mode: FDMode, _ map: Int) -> Int32 {
        switch mode {
        case .map: return _fds[map]
        case .closed: return Executor.closedFD
        case .file: return devNull
        case .negative: return -1
        }
    }

    /// Runs one element op (update, lookup, lookup_and_delete, delete, next_key) and returns
    /// its result.
    func runElem(_ c: ElemCall) -> CallResult {
        var r = CallResult()
        runElem(c, into: &r)
        return r
    }

    /// Runs one element op (update, lookup, lookup_and_delete, delete, next_key): the hot
    /// path, kept apart from run(_:) so that its frame stays small. Its result is written
    /// into `r` field by field (every field set): the fuzzer loop reuses one CallResult, where
    /// returning a fresh one copied and destroyed a temporary on every call (broken canaries,
    /// rare, are collected as bits first).
    @inline(__always)
    func runElem(_ c: ElemCall, into r: inout CallResult) {
        let s = shape(c.map)
        let fd = self.fd(c.fd, c.map)
        var errno: Int32 = 0
        var out = Bytes()
        // Bit 0: the "key" canary; bit 1: the second buffer's ("value" or "next_key").
        var broken = 0
        switch c.op {
        case .update:
            if s.isDevmap, let e = devmapRefusal(c.fd, c.map) { errno = e; break }
            let k = placeKey(c, s, slot: 0), v = placeValue(c, s, slot: 1)
            errno = err(bpfs_map_update_elem(rtp, fd, k.ptr, v.ptr, c.flags))
            if !canaryOK(k) { broken |= 1 }
            if !canaryOK(v) { broken |= 2 }
        case .lookup, .lookupAndDelete:
            // A bloom filter's lookup (peek) reads the value to test from the value buffer.
            let k = placeKey(c, s, slot: 0)
            let o = c.op == .lookup && s.isBloom ? placeValue(c, s, slot: 2) : placeOutput(c, need: s.valueLen, slot: 2)
            let rc = c.op == .lookup ? bpfs_map_lookup_elem(rtp, fd, k.ptr, o.ptr, c.flags)
                : bpfs_map_lookup_and_delete_elem(rtp, fd, k.ptr, o.ptr, c.flags)
            errno = err(rc)
            out = readBytes(o)
            if !canaryOK(k) { broken |= 1 }
            if !canaryOK(o) { broken |= 2 }
        case .delete:
            let k = placeKey(c, s, slot: 0)
            errno = err(bpfs_map_delete_elem(rtp, fd, k.ptr))
            if !canaryOK(k) { broken |= 1 }
        case .nextKey:
            let k = c.k == .auto ? place(.null, slot: 0) : placeKey(c, s, slot: 0)
            let o = placeOutput(c, need: s.keySize, slot: 2)
            errno = err(bpfs_map_get_next_key(rtp, fd, k.ptr, o.ptr))
            out = readBytes(o)
            if !canaryOK(k) { broken |= 1 }
            if !canaryOK(o) { broken |= 2 }
        default:
            preconditionFailure("runElem: \(c.op) is not an element op")
        }
        r.errno = errno
        r.outBytes.assign(out)
        r.count = 0
        r.walkEnd = 0
        if r.more.isSome { r.more = nil }
        if broken != 0 { Self.addBroken(&r, broken, second: c.op == .nextKey ? "next_key" : "value") }
    }

    @inline(never)
    static func addBroken(_ r: inout CallResult, _ broken: Int, second: String) {
        if broken & 1 != 0 { r.mutableMore.brokenCanaries.append("key") }
        if broken & 2 != 0 { r.mutableMore.brokenCanaries.append(second) }
    }

    @inline(__always) func err(_ rc: Int32) -> Int32 { rc < 0 ? -rc : 0 }
}
