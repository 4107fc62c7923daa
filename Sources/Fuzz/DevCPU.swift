// devmap, devmap_hash and cpumap: their create rules and element oracles (ifindex and qsize values, probed on 6.18).
import Basics
import BPFKit
import Foundation
import Glibc

extension MapShape {
    /// devmap, cpumap: array-indexed maps whose entries may be empty (lookup ENOENT).
    public var isDevCPUArray: Bool { type.rawValue == 14 || type.rawValue == 16 }
    /// devmap, devmap_hash: values are ifindexes (resolved in the calling thread's netns).
    public var isDevmap: Bool { type.rawValue == 14 || type.rawValue == 25 }
    /// The five map types of DevCPU.swift and StackArena.swift.
    public var isDevCPU: Bool { [7, 14, 16, 25, 33].contains(type.rawValue) }
}

/// The executor's answer to a devmap update when the calling thread is not in the fuzzer's
/// private network namespace: no syscall (an ifindex could name a real interface there).
let devmapNoNetns = EOPNOTSUPP

/// What the model keeps across the calls of one program for these types.
struct DevCPUState {
    /// The executor runs devmap updates (its thread is in the private netns with only lo).
    var netnsPrivate = false
    /// The ifindexes of the fuzzer's netns (FuzzNetns.swift lists them on entry).
    var ifindexes: Set<UInt32> = [ShadowModel.loIfindex]
    /// The errno of a devmap / devmap_hash update with each of them but lo, probed on entry
    /// (0: it goes in like lo).
    var ifindexErrno: [UInt64: Int32] = [:]
    static func probeKey(_ t: BPFMapType, _ ifindex: UInt32) -> UInt64 { UInt64(t.rawValue) << 32 | UInt64(ifindex) }
    /// Every cpumap the program created: its id and the index of its create call.
    var cpumaps: [(id: UInt32, at: Int)] = []
    mutating func reset() { cpumaps = [] }
}

extension ShadowModel {
    /// Sanity limit on a cpumap entry's qsize (cpu_map_update_elem: larger is EOVERFLOW).
    static let cpumapMaxQsize: UInt32 = 16384
    /// The only ifindex that exists in the fuzzer's namespace: its loopback.
    static let loIfindex: UInt32 = 1

    /// Create rules (probed on 6.18): value 4 (ifindex / qsize) or 8 (+ a program fd);
    /// devmaps take the fd access flags, a cpumap only NUMA_NODE.
    static let devcpuCreateRules: [CreateRule] = [
        CreateRule(types: [.devmap, .devmapHash], flags: BPFMapFlags.numaNode | BPFMapFlags.rdonly | BPFMapFlags.wronly,
                   key: 4...4, value: 4...8, valueSizes: [4, 8]),
        CreateRule(types: [.cpumap], flags: BPFMapFlags.numaNode, key: 4...4, value: 4...8, valueSizes: [4, 8]),
        CreateRule(types: [.stackTrace], flags: BPFMapFlags.numaNode | BPFMapFlags.rdonly | BPFMapFlags.wronly | BPFMapFlags.stackBuildID,
                   key: 4...4, value: 8...Int.max),
        // Arena: no key or value, max_entries pages, MMAPABLE required, map_extra the user address.
        CreateRule(types: [.arena], flags: BPFMapFlags.mmapable | BPFMapFlags.segvOnFault | BPFMapFlags.noUserConv,
                   required: BPFMapFlags.mmapable, key: 0...0, value: 0...0, extra: UInt64.max),
    ]

    /// Flags the kernel adds at create (map info shows them): a devmap is BPF_F_RDONLY_PROG
    /// (dev_map_init_map: programs see the entries, never write them).
    static func devcpuAddedFlags(_ t: BPFMapType) -> UInt32 { t == .devmap || t == .devmapHash ? BPFMapFlags.rdonlyProg : 0 }

    /// The limits of these types that depend on the kernel (facts) or on max_entries.
    func devcpuCreateErrors(_ c: Call) -> Set<Int32> {
        let m = UInt64(c.maxEntries), f = facts.devcpu
        switch c.type {
        case .devmapHash:
            return m > 1 << 31 ? [EINVAL] : []  // its buckets are a power of 2
        case .cpumap:
            return m > UInt64(f.cpumapMaxEntries) ? [E2BIG] : []  // max_entries > NR_CPUS
        case .stackTrace:
            var e = Set<Int32>()
            let v = Int(c.valueSize), build = c.mapFlags & BPFMapFlags.stackBuildID != 0
            let elem = build ? 32 : 8  // struct bpf_stack_build_id or a u64 ip
            if v % 8 != 0 || v % elem != 0 || v / elem > f.perfMaxStack { e.insert(EINVAL) }
            if m > 1 << 31 { e.insert(E2BIG) }
            return e
        case .arena:
            if f.arenaErrno != 0 { return [f.arenaErrno] }
            var e = Set<Int32>()
            let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
            if c.mapExtra % page != 0 { e.insert(EINVAL) }
            let range = m * page
            if range > 1 << 32 { e.insert(E2BIG) }
            if c.mapExtra != 0 && range > 0 && (c.mapExtra >> 32) != ((c.mapExtra &+ range &- 1) >> 32) { e.insert(ERANGE) }
            return e
        default: return []
        }
    }

    /// The executor's refusal of a devmap update outside the private netns, nil when it runs it.
    func devmapRefusal(_ m: MapModel) -> Int32? { m.shape.isDevmap && !devcpu.netnsPrivate ? devmapNoNetns : nil }

    /// An update of a devmap, devmap_hash or cpumap entry (cpu_map_update_elem,
    /// __dev_map_update_elem, __dev_map_hash_update_elem), after the common prefix.
    func devcpuUpdate(_ ck: inout Check, _ m: MapModel, _ key: Bytes, _ value: Bytes, _ flags: UInt64, got: Int32) {
        let s = m.shape
        let idx = key.u32
        let word0 = value.prefixBytes(4).u32
        // The program fd of an 8-byte value (4-byte values have none: -1 for a devmap, 0 for a cpumap).
        let progFD = s.valueSize == 8 ? Int32(bitPattern: value.count >= 8 ? Bytes(value.array[4..<8]).u32 : 0) : (s.isDevmap ? -1 : 0)
        if flags > BPFUpdateFlags.exist { expect(&ck, [EINVAL], got, "flags=\(flags)"); return }
        // The program: none (fd <= 0), an open pool program of the kind the map takes, or not.
        let prog = s.valueSize == 8 ? devcpuProgram(progFD, for: s.type) : nil
        let bad = prog.map { !$0.ok } ?? false
        // The image a lookup returns: the first word and the program id (0: no program).
        let image = s.valueSize == 8 ? Bytes(int: UInt64(word0) | UInt64(prog?.id ?? 0) << 32, count: 8) : Bytes(int: UInt64(word0), count: 4)
        switch s.type {
        case .devmapHash:
            if word0 == 0 { expect(&ck, [EINVAL], got, "ifindex 0 in a devmap_hash"); return }
            let present = m.known[key].isSome
            if present && flags == BPFUpdateFlags.noExist { expect(&ck, [EEXIST], got, "NOEXIST on a present key"); return }
            if !devcpu.ifindexes.contains(word0) { expect(&ck, [EINVAL], got, "ifindex \(word0) does not exist in the fuzzer's netns (\(devcpu.ifindexes.sorted()))"); return }
            if let e = devcpu.ifindexErrno[DevCPUState.probeKey(s.type, word0)], e != 0 { expect(&ck, [e], got, "ifindex \(word0) of the fuzzer's netns, probed: \(ErrnoName.name(e))"); return }
            if bad { expect(&ck, [EINVAL], got, "program fd \(progFD) is no BPF_XDP_DEVMAP program of the pool"); return }
            if !present && m.known.count >= s.maxEntries { expect(&ck, [E2BIG], got, "full: \(m.known.count) of \(s.maxEntries)"); return }
            if expect(&ck, [0], got, "devmap_hash update") { m.known[key] = image; m.mutated() }
        case .devmap:
            if Int(idx) >= s.maxEntries { expect(&ck, [E2BIG], got, "index \(idx) >= max_entries \(s.maxEntries)"); return }
            if flags == BPFUpdateFlags.noExist { expect(&ck, [EEXIST], got, "a devmap answers NOEXIST with EEXIST"); return }
            if word0 == 0 {
                // ifindex 0 empties the entry; a program fd with it is EINVAL.
                if progFD > 0 { expect(&ck, [EINVAL], got, "program fd \(progFD) with ifindex 0"); return }
                if expect(&ck, [0], got, "ifindex 0 (empties the entry)") { m.arr[Int(idx)] = nil }
                return
            }
            if !devcpu.ifindexes.contains(word0) { expect(&ck, [EINVAL], got, "ifindex \(word0) does not exist in the fuzzer's netns (\(devcpu.ifindexes.sorted()))"); return }
            if let e = devcpu.ifindexErrno[DevCPUState.probeKey(s.type, word0)], e != 0 { expect(&ck, [e], got, "ifindex \(word0) of the fuzzer's netns, probed: \(ErrnoName.name(e))"); return }
            if bad { expect(&ck, [EINVAL], got, "program fd \(progFD) is no BPF_XDP_DEVMAP program of the pool"); return }
            if expect(&ck, [0], got, "devmap update") { m.arr[Int(idx)] = image }
        default:  // cpumap
            if Int(idx) >= s.maxEntries { expect(&ck, [E2BIG], got, "cpu \(idx) >= max_entries \(s.maxEntries)"); return }
            if flags == BPFUpdateFlags.noExist { expect(&ck, [EEXIST], got, "a cpumap answers NOEXIST with EEXIST"); return }
            if word0 > Self.cpumapMaxQsize { expect(&ck, [EOVERFLOW], got, "qsize \(word0) > \(Self.cpumapMaxQsize)"); return }
            if Int(idx) >= cpus { expect(&ck, [ENODEV], got, "cpu \(idx) is not possible (\(cpus) CPUs)"); return }
            if word0 == 0 { if expect(&ck, [0], got, "qsize 0 (empties the entry)") { m.arr[Int(idx)] = nil }; return }
            // A program fd that is no BPF_XDP_CPUMAP program fails the entry's allocation.
            if bad { expect(&ck, [ENOMEM], got, "program fd \(progFD) is no BPF_XDP_CPUMAP program of the pool"); return }
            if expect(&ck, [0], got, "cpumap update (starts the entry's kthread)") { m.arr[Int(idx)] = image }
        }
    }

    /// A lookup of a devmap or cpumap entry: its image, ENOENT for an empty one or past max_entries.
    func devcpuLookup(_ ck: inout Check, _ r: CallResult, _ m: MapModel, _ key: Bytes, outLen: Int, outOK: Bool) {
        let s = m.shape
        let idx = Int(key.u32)
        let want = idx < s.maxEntries ? m.arr[idx] : nil
        guard expect(&ck, [want == nil ? ENOENT : (outOK ? 0 : EFAULT)], r.errno, "index \(idx), out buffer \(outLen) of \(s.valueLen) bytes") else { return }
        if r.errno == 0, let w = want, r.outBytes.prefixBytes(s.valueLen) != w {
            ck.fail("value", "\(ProgramText.typeName(s.type)) entry \(idx) returned \(Self.hex(r.out)), model has \(Self.hex(w))")
        }
    }

    /// Delete: devmap and cpumap empty any index below max_entries (EINVAL past it); a
    /// devmap_hash deletes like a hash; stack_trace and arena in StackArena.swift.
    func devcpuDelete(_ ck: inout Check, _ m: MapModel, _ key: Bytes, got: Int32) {
        let s = m.shape
        switch s.type {
        case .devmapHash: elemDelete(&ck, m, key, got: got)
        case .devmap, .cpumap:
            let idx = Int(key.u32)
            if idx >= s.maxEntries { expect(&ck, [EINVAL], got, "index \(idx) >= max_entries \(s.maxEntries)"); return }
            if expect(&ck, [0], got, "delete (empty or not)") { m.arr[idx] = nil }
        default: stackArenaDelete(&ck, m, key, got: got)
        }
    }

    /// A walk of a devmap or cpumap: get_next_key gives every index, the lookups find the entries.
    func devcpuWalk(_ ck: inout Check, _ r: CallResult, _ m: MapModel) {
        let s = m.shape
        if s.maxEntries > Layout.walkCap { return }
        if r.walkEnd != ENOENT || r.walk.count != s.maxEntries {
            ck.fail("walk", "\(ProgramText.typeName(s.type)) walk gave \(r.walk.count) keys ending \(Self.en(r.walkEnd)), want \(s.maxEntries) then ENOENT"); return
        }
        for (i, e) in r.walk.enumerated() {
            if e.key != Layout.intBytes(UInt64(i), 4) { ck.fail("walk", "walk step \(i) gave key \(Self.hex(e.key))"); return }
            if e.value.map({ Bytes($0) }) != m.arr[i] {
                ck.fail("value", "index \(i) holds \(e.value.map { Self.hex($0) } ?? "ENOENT"), want \(m.arr[i].map { Self.hex($0) } ?? "ENOENT")"); return
            }
        }
    }
}

extension BPFMapFlags {
    /// BPF_F_SEGV_ON_FAULT, BPF_F_NO_USER_CONV: arena flags (6.9+), not in Debian 12's headers.
    public static let segvOnFault: UInt32 = 1 << 17
    public static let noUserConv: UInt32 = 1 << 18
}
