// Storage maps (sk, inode, task, cgrp local storage; cgroup and per-CPU cgroup storage): the create rules, probed on 6.18.
import BPFKit
import Foundation
import Glibc

extension MapShape {
    /// sk_storage, inode_storage, task_storage, cgrp_storage: elements keyed by an owner's fd.
    @inline(__always) public var isLocalStorage: Bool {
        switch type.rawValue {
        case 24, 28, 29, 32: return true
        default: return false
        }
    }
    /// cgroup_storage, percpu_cgroup_storage: elements exist only for attached programs.
    @inline(__always) public var isCgroupStorage: Bool { type.rawValue == 19 || type.rawValue == 21 }
}

extension ShadowModel {
    /// The local storage types, and the BTF fields the fuzzer gives their values (a value
    /// struct is required; a bpf_spin_lock is allowed).
    static let localStorageTypes: [BPFMapType] = [.skStorage, .inodeStorage, .taskStorage, .cgrpStorage]
    static let cgroupStorageTypes: [BPFMapType] = [.cgroupStorage, .percpuCgroupStorage]
    static let storageBTFFields: UInt8 = BTFValue.lock | BTFValue.plain

    /// The parse check of `btf=` on a storage type: "" when allowed (plain or lock on local
    /// storage), a message when not, nil for other types.
    static func storageBTFCheck(_ c: Call) -> String? {
        if localStorageTypes.contains(c.type) {
            return c.btf & ~storageBTFFields == 0 ? "" : "btf=\(BTFValue(fields: c.btf).text): local storage values are fuzzed with plain or lock only"
        }
        return cgroupStorageTypes.contains(c.type) ? "btf=\(BTFValue(fields: c.btf).text): cgroup storage is fuzzed without BTF" : nil
    }

    /// Every reason BPF_MAP_CREATE has to refuse a storage map (nil: not a storage type).
    /// Probed on 6.18 (bpf_local_storage_map_alloc_check, cgroup_storage_map_alloc):
    /// - local storage: flags only NO_PREALLOC (required) and CLONE (taken by all four), else
    ///   EINVAL; max_entries 0, key_size 4, value_size >= 1, a BTF key `int` (signed or not) and
    ///   a BTF value (else EINVAL); value_size above BPF_LOCAL_STORAGE_MAX_VALUE_SIZE E2BIG
    ///   (fact `storage_max_value`, 65407 here: U16_MAX less the element header);
    /// - cgroup storage: key_size 8 (a u64 cgroup id) or 16 (struct bpf_cgroup_storage_key),
    ///   max_entries 0, value_size >= 1 (else EINVAL); flags NUMA_NODE and the four access
    ///   flags, no NO_PREALLOC; value_size above the same limit (per-CPU: above 32768,
    ///   PCPU_MIN_UNIT_SIZE) E2BIG; no BTF from the fuzzer.
    func storageCreateErrors(_ c: Call) -> Set<Int32>? {
        let local = Self.localStorageTypes.contains(c.type)
        guard local || Self.cgroupStorageTypes.contains(c.type) else { return nil }
        // A type the kernel lacks (probed) fails before any other check.
        if let te = facts.storageTypeErrno[c.type.rawValue], te != 0 { return [te] }
        var e = Set<Int32>()
        let f = c.numa != nil ? c.mapFlags | BPFMapFlags.numaNode : c.mapFlags
        if c.maxEntries != 0 || c.valueSize == 0 || c.mapExtra != 0 { e.insert(EINVAL) }
        if local {
            let allowed = BPFMapFlags.noPrealloc | BPFMapFlags.clone
            if f & ~allowed != 0 || f & BPFMapFlags.noPrealloc == 0 || c.keySize != 4 || c.btf == 0 { e.insert(EINVAL) }
            if Int(c.valueSize) > facts.storageMaxValue { e.insert(E2BIG) }
        } else {
            let allowed = BPFMapFlags.numaNode | Self.access
            if f & ~allowed != 0 || (c.keySize != 8 && c.keySize != 16) { e.insert(EINVAL) }
            let limit = c.type == .percpuCgroupStorage ? 32768 : facts.storageMaxValue
            if Int(c.valueSize) > limit { e.insert(E2BIG) }
        }
        return e
    }
}
