// What BPF_MAP_CREATE accepts per map family, as data, and the model of create and freeze.
import Basics
import BPFKit
import Foundation
import Glibc

/// The creation rules of one map family (verified on 6.18): the flags it takes, the sizes it
/// insists on, and the errno of each refusal. createErrors applies a rule; only the few
/// computed limits (hash buckets, per-CPU LRU rounding) are named cases, not closures.
struct CreateRule {
    let types: [BPFMapType]
    /// Flags the type takes; any other bit is EINVAL.
    let flags: UInt32
    /// Flags it must carry (EINVAL without).
    var required: UInt32 = 0
    /// key_size and value_size outside these are EINVAL.
    let key: ClosedRange<Int>
    let value: ClosedRange<Int>
    /// value_size must be one of these (EINVAL), when set (fd values: 4 or 8).
    var valueIn: Set<Int>? = nil
    /// key_size above this is E2BIG (sockhash: MAX_BPF_STACK).
    var keyE2BIG: Int? = nil
    /// The only value sizes it takes (devmap, cpumap: 4 or 8), nil: the range.
    var valueSizes: [Int]? = nil
    /// value_size above this is E2BIG.
    var valueE2BIG: Int? = nil
    /// key_size + value_size at or above this is E2BIG.
    var keyPlusValueE2BIG: Int? = nil
    /// Per-CPU values: round_up(value_size, 8) above 32768 is E2BIG, and NUMA_NODE is EINVAL.
    var perCPU = false
    /// map_extra bits the type takes (bloom filter: the hash count in bits 0-3); others are EINVAL.
    var extra: UInt64 = 0
    /// Combinations of flags (all bits set, NUMA_NODE only when a node is asked for) and their errno.
    var refused: [(flags: UInt32, errno: Int32)] = []
    var limit: Limit = .none

    enum Limit {
        case none
        /// roundup_pow_of_two(max_entries) buckets must fit U32_MAX / sizeof(struct bucket);
        /// with NO_COMMON_LRU, max_entries is first rounded up to a multiple of the CPUs.
        case hashBuckets
        /// Ring buffers: max_entries (the data size) is a power of 2 and a multiple of the page.
        case powerOfTwoPages
        /// max_entries above this is EINVAL.
        case maxEntries(Int)
    }
}

extension ShadowModel {
    static let access: UInt32 = BPFMapFlags.rdonly | BPFMapFlags.wronly | BPFMapFlags.rdonlyProg | BPFMapFlags.wronlyProg
    static let kmallocMax = 4 << 20

    static let createRules: [CreateRule] = {
        let hashFlags = BPFMapFlags.noPrealloc | BPFMapFlags.numaNode | access | BPFMapFlags.zeroSeed
        let hash = CreateRule(types: [.hash], flags: hashFlags, key: 1...Int.max, value: 1...Int.max,
                              keyPlusValueE2BIG: kmallocMax - 64, limit: .hashBuckets)
        let percpuHash = CreateRule(types: [.percpuHash], flags: hashFlags, key: 1...Int.max, value: 1...Int.max,
                                keyPlusValueE2BIG: kmallocMax - 64, perCPU: true, limit: .hashBuckets)
        let lruFlags = hashFlags | BPFMapFlags.noCommonLRU
        // NO_PREALLOC on an LRU map is ENOTSUPP; a per-CPU LRU list cannot be NUMA-bound.
        let lruRefused: [(flags: UInt32, errno: Int32)] = [(BPFMapFlags.noPrealloc, ENOTSUPP),
                                                          (BPFMapFlags.numaNode | BPFMapFlags.noCommonLRU, EINVAL)]
        let lru = CreateRule(types: [.lruHash], flags: lruFlags, key: 1...Int.max, value: 1...Int.max,
                             keyPlusValueE2BIG: kmallocMax - 64, refused: lruRefused, limit: .hashBuckets)
        let lruPercpu = CreateRule(types: [.lruPercpuHash], flags: lruFlags, key: 1...Int.max, value: 1...Int.max,
                                   keyPlusValueE2BIG: kmallocMax - 64, perCPU: true, refused: lruRefused, limit: .hashBuckets)
        let arrayFlags = BPFMapFlags.numaNode | access
        // 6.18: arrays take any value_size up to INT_MAX (4 MiB + 8 is accepted).
        let array = CreateRule(types: [.array], flags: arrayFlags | BPFMapFlags.mmapable | BPFMapFlags.innerMap,
                               key: 4...4, value: 1...Int.max, valueE2BIG: Int(Int32.max))
        let percpuArray = CreateRule(types: [.percpuArray], flags: arrayFlags, key: 4...4, value: 1...Int.max,
                                     valueE2BIG: Int(Int32.max), perCPU: true)
        let lpm = CreateRule(types: [.lpmTrie], flags: BPFMapFlags.noPrealloc | access | BPFMapFlags.numaNode,
                             required: BPFMapFlags.noPrealloc, key: 5...260, value: 1...(kmallocMax - 512))
        let queue = CreateRule(types: [.queue, .stack], flags: BPFMapFlags.numaNode | access, key: 0...0,
                               value: 1...Int.max, valueE2BIG: kmallocMax)
        // Bloom filters: no keys, the hash count in map_extra (0: 5 hashes).
        let bloom = CreateRule(types: [.bloomFilter], flags: BPFMapFlags.numaNode | BPFMapFlags.zeroSeed | access,
                               key: 0...0, value: 1...Int.max, valueE2BIG: kmallocMax, extra: 0xF)
        let ringbuf = CreateRule(types: [.ringbuf, .userRingbuf], flags: BPFMapFlags.numaNode, key: 0...0, value: 0...0,
                                 limit: .powerOfTwoPages)
        // Map-in-map (probed on 6.18): value_size is an fd (4); an array of maps takes neither
        // MMAPABLE nor the program access flags; inner_map_fd is checked in MapInMap.swift.
        let arrayOfMaps = CreateRule(types: [.arrayOfMaps], flags: BPFMapFlags.numaNode | BPFMapFlags.rdonly | BPFMapFlags.wronly,
                                     key: 4...4, value: 4...4)
        let hashOfMaps = CreateRule(types: [.hashOfMaps], flags: hashFlags, key: 1...Int.max, value: 4...4,
                                    keyPlusValueE2BIG: kmallocMax - 64, limit: .hashBuckets)
        return [hash, percpuHash, lru, lruPercpu, array, percpuArray, lpm, queue, bloom, ringbuf, arrayOfMaps, hashOfMaps] + sockMapRules + fdArrayRules + devcpuCreateRules
    }()

    static func createRule(_ t: BPFMapType) -> CreateRule? { createRules.first { $0.types.contains(t) } }

    /// Every reason the kernel has to refuse `c` (any one may win: the order is not part of the contract).
    public static func createErrors(_ c: Call, cpus: Int) -> Set<Int32> {
        var e = Set<Int32>()
        let f = c.numa != nil ? c.mapFlags | BPFMapFlags.numaNode : c.mapFlags
        if f & BPFMapFlags.rdonly != 0 && f & BPFMapFlags.wronly != 0 { e.insert(EINVAL) }
        if f & BPFMapFlags.rdonlyProg != 0 && f & BPFMapFlags.wronlyProg != 0 { e.insert(EINVAL) }
        // numa_node 0xFFFFFFFF is NUMA_NO_NODE: no node asked for.
        let numa = f & BPFMapFlags.numaNode != 0 && c.numa != UInt32.max
        if numa && (c.numa ?? 0) != 0 { e.insert(EINVAL) }  // one NUMA node here
        guard let rule = createRule(c.type) else { return c.mapExtra != 0 ? e.union([EINVAL]) : e }
        if c.mapExtra & ~rule.extra != 0 { e.insert(EINVAL) }
        let effective = numa ? f : f & ~BPFMapFlags.numaNode
        let (k, v, m) = (Int(c.keySize), Int(c.valueSize), Int(c.maxEntries))
        if f & ~rule.flags != 0 || f & rule.required != rule.required { e.insert(EINVAL) }
        if m == 0 || !rule.key.contains(k) || !rule.value.contains(v) { e.insert(EINVAL) }
        if let sizes = rule.valueSizes, !sizes.contains(v) { e.insert(EINVAL) }
        if let x = rule.valueE2BIG, v > x { e.insert(E2BIG) }
        if let vs = rule.valueIn, !vs.contains(v) { e.insert(EINVAL) }
        if let x = rule.keyE2BIG, k > x { e.insert(E2BIG) }
        if case let .maxEntries(x) = rule.limit, m > x { e.insert(EINVAL) }
        if let x = rule.keyPlusValueE2BIG, k + v >= x { e.insert(E2BIG) }
        if rule.perCPU {
            if ((v + 7) & ~7) > 32768 { e.insert(E2BIG) }
            if numa { e.insert(EINVAL) }
        }
        for r in rule.refused where effective & r.flags == r.flags { e.insert(r.errno) }
        if case .hashBuckets = rule.limit {
            var rounded = m
            if (c.type == .lruHash || c.type == .lruPercpuHash) && f & BPFMapFlags.noCommonLRU != 0 && m > 0 {
                rounded = (m + cpus - 1) / cpus * cpus
                if rounded < m { rounded = m / cpus * cpus }
                if rounded < cpus { e.insert(EINVAL) }
            }
            if rounded > (1 << 28) { e.insert(E2BIG) }
        }
        if case .powerOfTwoPages = rule.limit {
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            if m & (m - 1) != 0 || m % page != 0 { e.insert(EINVAL) }
        }
        return e
    }

    func create(_ ck: inout Check, _ c: Call, _ r: CallResult, _ shape: MapShape?) {
        unmapAll(c.map)
        maps[c.map] = nil
        closed[c.map] = false
        lastToken[c.map] = nil
        var allowed = ErrSet(Self.createErrors(c, cpus: cpus).union(templateErrors(c)).union(btfCreateErrors(c)).union(storageCreateErrors(c) ?? []).union(devcpuCreateErrors(c)))
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
        let wantFlags = (c.numa != nil ? c.mapFlags | BPFMapFlags.numaNode : c.mapFlags) & ~fdOnly | Self.devcpuAddedFlags(c.type)
        if s.flags != wantFlags && !(c.mapFlags & BPFMapFlags.wronly != 0) {
            ck.fail("shape", "map info flags 0x\(String(s.flags, radix: 16)), want 0x\(String(wantFlags, radix: 16)) (RDONLY/WRONLY are the fd's)")
        }
        // The model's shape carries the fields the kernel owns (probed); the blob's are c.btf.
        var owned = s
        owned.btf = facts.ownedFields(s.btf)
        let m = MapModel(owned, fdFlags: c.mapFlags)
        m.btfAsked = s.btf
        m.lruFixedFreeTarget = facts.lruFixedFreeTarget
        maps[c.map] = m
        if s.type == .cpumap { devcpu.cpumaps.append((s.id, ck.index)) }
    }

    /// Freeze as the probed kernel facts say: a frozen map refuses with refreezeErrno (checked
    /// before permissions on kernels that answer EBUSY), a read-only fd with readOnlyFreezeErrno.
    func freeze(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        // The attr's tail is checked before anything else: past a page or past the kernel's
        // union bpf_attr a non-zero byte is E2BIG; inside it, past map_fd, EINVAL (CHECK_ATTR).
        if c.attrSize != 0 {
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            if Int(c.attrSize) > page || Int(c.attrSize) > facts.attrSize {
                expect(&ck, [E2BIG], r.errno, "attr size \(c.attrSize) with a non-zero last byte; kernel fact attr_size \(facts.attrSize)"); return
            }
            expect(&ck, [EINVAL], r.errno, "non-zero attr byte \(c.attrSize - 1) past map_fd"); return
        }
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return }
        let m = maps[c.map]!
        // A map with kernel-owned value fields (a BTF record) cannot be frozen (map_freeze);
        // which fields refuse it is a probed fact (6.1 freezes a lock-only value).
        if let e = facts.freezeErrno(btf: m.shape.btf) { expect(&ck, [e], r.errno, "value with BTF fields \(BTFValue(fields: m.shape.btf).text); kernel fact btf_freeze"); return }
        if m.frozen { expect(&ck, [facts.refreezeErrno], r.errno, "already frozen; kernel fact freeze_frozen_map"); return }
        if m.rdonly {
            if expect(&ck, [facts.readOnlyFreezeErrno], r.errno, "read-only map; kernel fact freeze_readonly_fd"), r.errno == 0 { m.frozen = true }
            return
        }
        if m.writeMappings > 0 { expect(&ck, [EBUSY], r.errno, "\(m.writeMappings) writable mmap(s) of the map"); return }
        if expect(&ck, [0], r.errno, "freeze") { m.frozen = true }
    }
}
