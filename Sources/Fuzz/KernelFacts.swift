// Facts the shadow model learns from the running kernel by small bpf() probes at fuzzer start (no version numbers).
import BPFKit
import Basics
import CBPFStress
import Foundation
import Glibc

/// Where kernels differ in ways that are not bugs, each fact is probed on the kernel under
/// test and the model follows it. The report lists them (`bpfstress fuzz` prints them; map-fuzz
/// workers write them into their stats), so a difference between kernels is data, not a finding.
public struct KernelFacts: Sendable, Equatable {
    /// errno of BPF_MAP_FREEZE on a map that is already frozen. 6.18: EPERM (the write
    /// permission, which a frozen map no longer grants, is checked first); 6.1: EBUSY.
    public var refreezeErrno: Int32
    /// errno of BPF_MAP_FREEZE through a read-only fd (BPF_F_RDONLY). 6.18: EPERM; 6.1: 0
    /// (allowed: it has no write-permission check).
    public var readOnlyFreezeErrno: Int32
    /// The kernel's sizeof(union bpf_attr): a non-zero attr byte below it is EINVAL (the
    /// command's own check), at or past it E2BIG. It grows with every kernel that adds a field.
    public var attrSize: Int
    /// A common-LRU map refills a CPU's local free list to a fixed LOCAL_FREE_TARGET (128) and
    /// shrinks (evicts) to reach it even when the map is far from full (before 6.16, e.g. 6.1:
    /// a delete then an update on a 4-entry map evicted the other entries). false: the 6.16+
    /// target, clamp(max_entries / ncpus / 2, 1, 128). Probed by exactly that sequence.
    public var lruFixedFreeTarget: Bool
    /// errno of creating a hash map whose BTF value holds the field (BTFValue.lock, .timer,
    /// .kptr): 0 where the kernel takes it (6.18 takes all three); the model expects the
    /// errno on every create with a field the kernel refuses.
    public var btfFieldErrno: [UInt8: Int32] = [:]
    /// arena, cpumap and stack_trace facts (StackArena.swift).
    public var devcpu = DevCPUFacts()
    /// errno of BPF_MAP_FREEZE on such a map (0: it freezes). 6.18 refuses every map with a
    /// BTF record (ENOTSUPP); 6.1 refuses timers and kptrs but freezes a map whose value holds
    /// only a bpf_spin_lock. Probed on the same maps.
    public var btfFreezeErrno: [UInt8: Int32] = [BTFValue.lock: ENOTSUPP, BTFValue.timer: ENOTSUPP, BTFValue.kptr: ENOTSUPP]

    /// Whether the kernel owns each field's bytes (copies neither in nor out). false: the kernel
    /// does not know the field, and the bytes are plain data (6.1 knows no `kptr_untrusted` type
    /// tag: the pointer is an ordinary member). Probed by writing 0xAB over the field and reading it back.
    public var btfOwned: [UInt8: Bool] = [BTFValue.lock: true, BTFValue.timer: true, BTFValue.kptr: true]
    /// errno of creating a per-CPU hash whose value holds the field (a type that refuses a lock
    /// and a timer everywhere): 6.18 EOPNOTSUPP, 6.1 ENOTSUPP for a lock. Probed.
    public var btfWrongTypeErrno: [UInt8: Int32] = [BTFValue.lock: EOPNOTSUPP, BTFValue.timer: EOPNOTSUPP, BTFValue.kptr: EOPNOTSUPP]
    /// errno of creating a hash with the field and BPF_F_WRONLY_PROG: 6.18 refuses both program
    /// access flags for every field (EACCES); 6.1 only BPF_F_RDONLY_PROG for a lock or a timer
    /// (0: created). Probed. BPF_F_RDONLY_PROG is EACCES on both.
    public var btfWronlyProgErrno: [UInt8: Int32] = [BTFValue.lock: EACCES, BTFValue.timer: EACCES, BTFValue.kptr: EACCES]
    /// A per-CPU map whose value has kernel-owned fields and a value_size that is no multiple of
    /// 8 returns each CPU's padding (round_up(value_size, 8) - value_size bytes) unwritten:
    /// stale heap bytes of an earlier call (bpf_percpu_hash_copy copies value_size bytes around
    /// the fields into a kvmalloc'ed buffer, then the whole stride to user space). Seen on 6.18
    /// (README, Fuzzing: BTF values). Probed; when true the generator makes no such values (the model still
    /// flags one, so a replay of the documented reproducer shows the bug).
    public var percpuBTFPaddingStale: Bool = false
    /// errno of creating an array_of_maps whose template (inner_map_fd) is a hash with the field:
    /// 6.18 takes all three (0); 6.1 refuses a bpf_spin_lock in an inner map (ENOTSUPP,
    /// bpf_map_meta_alloc). Probed on the same hash maps.
    public var btfInnerErrno: [UInt8: Int32] = [:]
    /// errno of a sockmap update with an unbound UDP socket (6.18: EOPNOTSUPP). Probed (SockMaps.swift).
    public var sockmapUnboundUDPErrno: Int32 = EOPNOTSUPP
    /// errno of an XDP program with another expected_attach_type into an XDP prog_array (6.18: EINVAL). Probed (FDArrays.swift).
    public var progArrayAttachTypeErrno: Int32 = EINVAL
    /// Whether OBJ_PIN and OBJ_GET take BPF_F_PATH_FD (6.5+); 6.1 answers EINVAL. Probed by a pin.
    public var pathFD: Bool = true
    /// Storage maps' facts (StorageFacts.swift).
    public var storageFacts = StorageFacts()

    /// The fields the kernel owns among `btf` (plain when it owns none of them).
    public func ownedFields(_ btf: UInt8) -> UInt8 {
        var f = btf
        for (field, owned) in btfOwned where !owned { f &= ~field }
        return f == 0 && btf != 0 ? BTFValue.plain : f
    }

    /// The errno an outer map's create gives for a template with these BTF fields, nil when none refuses it.
    public func innerErrno(btf: UInt8) -> Int32? {
        for (_, f) in BTFValue.names where btf & f != 0 { if let e = btfInnerErrno[f], e != 0 { return e } }
        return nil
    }

    /// The errno freeze gives for a value with these BTF fields, nil when none refuses it.
    public func freezeErrno(btf: UInt8) -> Int32? {
        for (_, f) in BTFValue.names where btf & f != 0 { if let e = btfFreezeErrno[f], e != 0 { return e } }
        return nil
    }

    /// The kernel's sizeof(struct bpf_map_info): the info_len GET_INFO gives back for a longer
    /// zero-tailed buffer. 6.18: 104 (hash and hash_size at the end); 6.1: 88.
    public var mapInfoSize: Int = 104
    /// Whether a private bpffs could be made (fsopen + fsmount, 5.2+): pin, unpin and obj_get
    /// run only with one.
    public var privateBPFFS: Bool = true

    public init(refreezeErrno: Int32, readOnlyFreezeErrno: Int32, attrSize: Int = KernelFacts.linux6_18AttrSize,
                lruFixedFreeTarget: Bool = false) {
        self.refreezeErrno = refreezeErrno; self.readOnlyFreezeErrno = readOnlyFreezeErrno; self.attrSize = attrSize
        self.lruFixedFreeTarget = lruFixedFreeTarget
    }

    public static let linux6_18AttrSize = 168

    /// What 6.18 does (the model's facts when nothing was probed: pure tests).
    public static let linux6_18 = KernelFacts(refreezeErrno: EPERM, readOnlyFreezeErrno: EPERM)

    /// The facts as (name, value) pairs for reports, in a fixed order.
    public var properties: [(name: String, value: String)] {
        var p: [(name: String, value: String)] = [
            ("fact.freeze_frozen_map", Self.name(refreezeErrno)), ("fact.freeze_readonly_fd", Self.name(readOnlyFreezeErrno)),
            ("fact.attr_size", String(attrSize)), ("fact.lru_free_target", lruFixedFreeTarget ? "fixed-128" : "clamped"),
            ("fact.map_info_size", String(mapInfoSize)), ("fact.private_bpffs", privateBPFFS ? "fsmount" : "none")]
        let fields = BTFValue.names.filter { $0.1 != BTFValue.plain }
        for (n, f) in fields { p.append(("fact.btf_\(n)", Self.name(btfFieldErrno[f] ?? 0))) }
        for (n, f) in fields { p.append(("fact.btf_freeze_\(n)", Self.name(btfFreezeErrno[f] ?? 0))) }
        for (n, f) in fields { p.append(("fact.btf_owned_\(n)", btfOwned[f] ?? true ? "yes" : "no")) }
        p.append(("fact.btf_wrong_type_lock", Self.name(btfWrongTypeErrno[BTFValue.lock] ?? 0)))
        p.append(("fact.btf_wrong_type_timer", Self.name(btfWrongTypeErrno[BTFValue.timer] ?? 0)))
        for (n, f) in fields { p.append(("fact.btf_wronly_prog_\(n)", Self.name(btfWronlyProgErrno[f] ?? 0))) }
        for (n, f) in fields { p.append(("fact.btf_inner_\(n)", Self.name(btfInnerErrno[f] ?? 0))) }
        p.append(("fact.path_fd", pathFD ? "yes" : "no"))
        p.append(("fact.sockmap_udp_unbound", Self.name(sockmapUnboundUDPErrno)))
        p.append(("fact.prog_array_attach_type", Self.name(progArrayAttachTypeErrno)))
        p.append(("fact.percpu_btf_padding", percpuBTFPaddingStale ? "stale" : "written"))
        p += storageProperties
        p += devcpu.properties
        return p
    }

    /// One line for logs and fuzz output.
    public var summary: String { properties.map { "\($0.name)=\($0.value)" }.joined(separator: " ") }

    static func name(_ e: Int32) -> String { e == 0 ? "success" : ErrnoName.name(e) }

    /// Probes `runtime`: two 1-entry arrays, one frozen twice, one created read-only and frozen.
    /// A probe that cannot create its map keeps the 6.18 value (and says so in `unprobed`).
    /// Once per process and runtime name (every fuzzer thread of a worker shares the answer:
    /// kernel facts do not change while it runs, and the BTF probes load BTF and make maps).
    public static func probe(runtime: any Runtime) -> (facts: KernelFacts, unprobed: [String]) {
        probeLock.lock(); defer { probeLock.unlock() }
        if let known = probed[runtime.name] { return known }
        let result = probeUncached(runtime: runtime)
        probed[runtime.name] = result
        return result
    }
    nonisolated(unsafe) private static var probed: [String: (facts: KernelFacts, unprobed: [String])] = [:]
    private static let probeLock = NSLock()

    /// The probe itself (probe caches it).
    static func probeUncached(runtime: any Runtime) -> (facts: KernelFacts, unprobed: [String]) {
        var rt = runtime.entry.raw
        var facts = linux6_18
        var unprobed: [String] = []
        func create(_ flags: UInt32) -> Int32 {
            "bpfs_fuzz_probe".withCString { bpfs_map_create(&rt, BPFMapType.array.rawValue, 4, 8, 1, flags, $0, 0) }
        }
        let a = create(0)
        if a >= 0, bpfs_map_freeze(&rt, a) == 0 {
            facts.refreezeErrno = -min(0, bpfs_map_freeze(&rt, a))
        } else {
            unprobed.append("fact.freeze_frozen_map (probe map: errno \(a < 0 ? -a : 0))")
        }
        if a >= 0 {
            // A page of zeros: the kernel gives back min(info_len, sizeof(struct bpf_map_info)).
            var info = [UInt8](repeating: 0, count: 4096)
            var len = UInt32(info.count)
            if bpfs_fuzz_obj_info(&rt, a, &info, &len) == 0 { facts.mapInfoSize = Int(len) } else { unprobed.append("fact.map_info_size (GET_INFO failed)") }
            close(a)
        } else {
            unprobed.append("fact.map_info_size (probe map: errno \(-a))")
        }
        let mnt = bpfs_fuzz_private_bpffs()
        facts.privateBPFFS = mnt >= 0
        if mnt >= 0 {
            let p = create(0)
            if p >= 0 {
                let rc = bpfs_fuzz_obj_pin(&rt, p, "probe", mnt, BPFS_F_PATH_FD)
                facts.pathFD = rc == 0
                if rc == 0 { unlinkat(mnt, "probe", 0) } else if rc != -EINVAL { unprobed.append("fact.path_fd (pin: errno \(-rc))") }
                close(p)
            } else {
                unprobed.append("fact.path_fd (probe map: errno \(-p))")
            }
            close(mnt)
        }
        let b = create(BPFMapFlags.rdonly)
        if b >= 0 {
            facts.readOnlyFreezeErrno = -min(0, bpfs_map_freeze(&rt, b))
            close(b)
        } else {
            unprobed.append("fact.freeze_readonly_fd (probe map: errno \(-b))")
        }
        // The largest freeze attr whose non-zero last byte is EINVAL, not E2BIG (fd -1: the tail
        // is checked before the fd); binary search in 5...page.
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        if bpfs_fuzz_map_freeze_sized(&rt, -1, 5) == -EINVAL {
            var (lo, hi) = (5, page + 1)  // lo: EINVAL, hi: E2BIG
            while hi - lo > 1 {
                let mid = (lo + hi) / 2
                if bpfs_fuzz_map_freeze_sized(&rt, -1, UInt32(mid)) == -EINVAL { lo = mid } else { hi = mid }
            }
            facts.attrSize = lo
        } else {
            unprobed.append("fact.attr_size (a 5-byte freeze attr was not EINVAL)")
        }
        probeSockFacts(&facts, &rt, &unprobed)
        probeFDArrayFacts(&facts, &rt, &unprobed)
        if let early = lruEvictsEarlyOnOneCPU(runtime) { facts.lruFixedFreeTarget = early } else {
            unprobed.append("fact.lru_free_target (probe map could not be created or filled)")
        }
        // A hash map with each BTF field (BTFValue): the errno of its create.
        for (name, f) in BTFValue.names where f != BTFValue.plain {
            let v = BTFValue(fields: f)
            let b = v.blob(keySize: 4, valueSize: v.minSize + 8, intKey: false)
            let btf = b.bytes.withUnsafeBytes { bpfs_fuzz_btf_load(&rt, $0.baseAddress, UInt32($0.count)) }
            guard btf >= 0 else { facts.btfFieldErrno[f] = -btf; unprobed.append("fact.btf_\(name) (BPF_BTF_LOAD: errno \(-btf))"); continue }
            let m = "bpfs_fuzz_probe".withCString {
                bpfs_map_create_btf(&rt, BPFMapType.hash.rawValue, 4, UInt32(v.minSize + 8), 1, 0, $0, 0, 0, 0, btf, b.keyType, b.valueType)
            }
            facts.btfFieldErrno[f] = m < 0 ? -m : 0
            if m >= 0 {
                // 0xAB over the whole value: the field's bytes read back 0 when the kernel owns it.
                var key: UInt32 = 0
                let size = v.minSize + 8
                var value = [UInt8](repeating: 0xAB, count: size), back = [UInt8](repeating: 0, count: size)
                if bpfs_map_update_elem(&rt, m, &key, &value, 0) == 0, bpfs_map_lookup_elem(&rt, m, &key, &back, 0) == 0 {
                    facts.btfOwned[f] = v.owned.allSatisfy { r in back[r].allSatisfy { $0 == 0 } }
                } else {
                    unprobed.append("fact.btf_owned_\(name) (update or lookup failed)")
                }
                let outer = "bpfs_fuzz_probe".withCString {
                    bpfs_map_create_ex(&rt, BPFMapType.arrayOfMaps.rawValue, 4, 4, 1, 0, $0, 0, UInt32(bitPattern: m), 0)
                }
                facts.btfInnerErrno[f] = outer < 0 ? -outer : 0
                if outer >= 0 { close(outer) }
                facts.btfFreezeErrno[f] = -min(0, bpfs_map_freeze(&rt, m))
                close(m)
            } else {
                unprobed.append("fact.btf_freeze_\(name) (probe map: errno \(-m))")
            }
            let wp = "bpfs_fuzz_probe".withCString {
                bpfs_map_create_btf(&rt, BPFMapType.hash.rawValue, 4, UInt32(v.minSize + 8), 1, BPFMapFlags.wronlyProg, $0, 0, 0, 0, btf, b.keyType, b.valueType)
            }
            facts.btfWronlyProgErrno[f] = wp < 0 ? -wp : 0
            if wp >= 0 { close(wp) }
            if f != BTFValue.kptr {
                let w = "bpfs_fuzz_probe".withCString {
                    bpfs_map_create_btf(&rt, BPFMapType.percpuHash.rawValue, 4, UInt32(v.minSize + 8), 1, 0, $0, 0, 0, 0, btf, b.keyType, b.valueType)
                }
                if w >= 0 { close(w); unprobed.append("fact.btf_wrong_type_\(name) (a per-CPU hash took it)") } else { facts.btfWrongTypeErrno[f] = -w }
            }
            close(btf)
        }
        facts.percpuBTFPaddingStale = percpuPaddingStale(&rt, facts)
        probeStorage(&rt, &facts, &unprobed)
        let (dc, dcUnprobed) = DevCPUFacts.probe(&rt)
        facts.devcpu = dc; unprobed += dcUnprobed
        return (facts, unprobed)
    }

    /// The documented reproducer as a probe (README, Fuzzing: BTF values): a per-CPU hash of 12-byte values
    /// with a kptr, 0x11 written over every CPU's stride; a hash update whose value buffer has
    /// the lookup buffer's size, full of 0xEE; then a lookup. Stale when a padding byte is
    /// not 0x11. Three tries (heap reuse is likely, not certain). False when the kernel does
    /// not own a kptr (the value is then plain, copied whole).
    static func percpuPaddingStale(_ rt: inout bpfs_rt, _ facts: KernelFacts) -> Bool {
        guard facts.btfOwned[BTFValue.kptr] ?? false else { return false }
        let cpus = Probes.possibleCPUs(), stride = 16, size = stride * cpus
        let v = BTFValue(fields: BTFValue.kptr)
        let b = v.blob(keySize: 4, valueSize: 12, intKey: false)
        let btf = b.bytes.withUnsafeBytes { bpfs_fuzz_btf_load(&rt, $0.baseAddress, UInt32($0.count)) }
        guard btf >= 0 else { return false }
        defer { close(btf) }
        let m = "bpfs_fuzz_probe".withCString { bpfs_map_create_btf(&rt, BPFMapType.percpuHash.rawValue, 4, 12, 1, 0, $0, 0, 0, 0, btf, b.keyType, b.valueType) }
        let h = "bpfs_fuzz_probe".withCString { bpfs_map_create(&rt, BPFMapType.hash.rawValue, 4, UInt32(size), 1, 0, $0, 0) }
        defer { if m >= 0 { close(m) }; if h >= 0 { close(h) } }
        guard m >= 0, h >= 0 else { return false }
        var key: UInt32 = 0
        var mine = [UInt8](repeating: 0x11, count: size), other = [UInt8](repeating: 0xEE, count: size)
        guard bpfs_map_update_elem(&rt, m, &key, &mine, 0) == 0 else { return false }
        for _ in 0..<3 {
            var back = [UInt8](repeating: 0, count: size)
            guard bpfs_map_update_elem(&rt, h, &key, &other, 0) == 0, bpfs_map_lookup_elem(&rt, m, &key, &back, 0) == 0 else { return false }
            for c in 0..<cpus where back[(c * stride + 12)..<(c * stride + stride)].contains(where: { $0 != 0x11 }) { return true }
        }
        return false
    }

    /// lruEvictsEarlyPinned, once per process and runtime name (every fuzzer of a worker shares it).
    static func lruEvictsEarlyOnOneCPU(_ runtime: any Runtime) -> Bool? {
        lruProbeLock.lock(); defer { lruProbeLock.unlock() }
        if let known = lruProbed[runtime.name] { return known }
        let result = lruEvictsEarlyPinned(runtime.entry.raw)
        lruProbed[runtime.name] = result
        return result
    }

    /// lruEvictsEarly on a thread of its own pinned to CPU 0: the rule is per CPU, and a caller
    /// that migrated would see other CPUs' free lists (the caller's own affinity is left alone).
    static func lruEvictsEarlyPinned(_ rt: bpfs_rt) -> Bool? {
        final class Box: @unchecked Sendable { var result: Bool?; var rt: bpfs_rt; init(_ rt: bpfs_rt) { self.rt = rt } }
        let box = Box(rt)
        let done = DispatchSemaphore(value: 0)
        let t = Thread {
            _ = pinCurrentThread(cpu: 0)
            box.result = lruEvictsEarly(&box.rt)
            done.signal()
        }
        t.start()
        done.wait()
        return box.result
    }
    nonisolated(unsafe) private static var lruProbed: [String: Bool?] = [:]
    private static let lruProbeLock = NSLock()

    /// On a thread pinned to one CPU: 400 seeded updates and deletes of keys 0-7 on a 4-entry
    /// common-LRU hash, each followed by a lookup of every key. An entry that vanishes while the
    /// map held fewer entries than the 6.16+ rule lets it hold before evicting is an early
    /// eviction (the fixed target). nil when the probe map cannot be made.
    static func lruEvictsEarly(_ rt: inout bpfs_rt) -> Bool? {
        let maxEntries = 4, cpus = max(1, Probes.possibleCPUs())
        let capacity = maxEntries - min(max(maxEntries / cpus / 2, 1), 128) + 1
        let fd = "bpfs_fuzz_probe".withCString { bpfs_map_create(&rt, BPFMapType.lruHash.rawValue, 4, 8, UInt32(maxEntries), 0, $0, 0) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var rng = SplitMix64(seed: 0x4C52_5550_524F_4245)
        var present = Set<UInt32>()
        var value: UInt64 = 1
        for _ in 0..<400 {
            var key = UInt32(rng.next() % 8)
            let before = present.count
            if rng.next() % 10 < 3 {
                if bpfs_map_delete_elem(&rt, fd, &key) == 0 { present.remove(key) }
            } else if bpfs_map_update_elem(&rt, fd, &key, &value, 0) == 0 {
                present.insert(key)
            }
            var now = Set<UInt32>()
            for k: UInt32 in 0..<8 {
                var k2 = k, out: UInt64 = 0
                if bpfs_map_lookup_elem(&rt, fd, &k2, &out, 0) == 0 { now.insert(k) }
            }
            if !present.subtracting(now).subtracting([key]).isEmpty && before < capacity { return true }
            present = now
        }
        return false
    }
}
