// The oracle's part of BTF-defined values: which map types take which kernel-owned field, and the bytes of a value the kernel owns.
import BPFKit
import Foundation
import Glibc

extension MapShape {
    /// The value holds a bpf_spin_lock: BPF_F_LOCK is allowed (update, lookup, batches).
    @inline(__always) var hasSpinLock: Bool { btf & BTFValue.lock != 0 }

    /// `v` as the kernel stores it: the kernel-owned fields zeroed (copy_map_value skips them
    /// on the way in, check_and_init_map_value zeroes them on the way out).
    func masked(_ v: Bytes) -> Bytes { btf & ~BTFValue.plain == 0 ? v : BTFValue(fields: btf).mask(v, valueSize: valueSize) }
}

extension ShadowModel {
    /// The map types that take each field (map_check_btf): a bpf_spin_lock in hash and array
    /// values, a bpf_timer also in LRU hashes, kptrs in every hash and array flavour; any other
    /// is EOPNOTSUPP.
    static let btfFieldTypes: [(field: UInt8, types: [BPFMapType])] = [
        (BTFValue.lock, [.hash, .array] + localStorageTypes),
        (BTFValue.timer, [.hash, .lruHash, .array]),
        (BTFValue.kptr, [.hash, .percpuHash, .lruHash, .lruPercpuHash, .array, .percpuArray]),
    ]
    /// Map types whose BTF values the fuzzer makes (text programs with btf= on others are refused).
    static let btfTypes: [BPFMapType] = [.hash, .array, .percpuHash, .percpuArray, .lruHash, .lruPercpuHash]

    /// The errors a create with a BTF value may give beyond createErrors.
    func btfCreateErrors(_ c: Call) -> Set<Int32> {
        guard c.btf != 0 else { return [] }
        let b = BTFValue(fields: c.btf)
        // Fields the kernel does not know (a probed fact) are plain bytes: no field rules.
        let owned = facts.ownedFields(c.btf)
        var e = Set<Int32>()
        // The BTF value struct is max(value_size, what the fields need) bytes: smaller
        // value_size disagrees with it (map_check_btf: EINVAL).
        if Int(c.valueSize) < b.minSize { e.insert(EINVAL) }
        // Types larger than BTF_MAX_SIZE (16 MiB) are refused by BPF_BTF_LOAD itself.
        if c.keySize > 1 << 24 || c.valueSize > 1 << 24 { e.insert(EINVAL) }
        // BPF_F_RDONLY_PROG always; BPF_F_WRONLY_PROG as the probed fact btf_wronly_prog says.
        if owned & ~BTFValue.plain != 0 && c.mapFlags & BPFMapFlags.rdonlyProg != 0 { e.insert(EACCES) }
        if c.mapFlags & BPFMapFlags.wronlyProg != 0 {
            for (_, f) in BTFValue.names where owned & f != 0 { if let w = facts.btfWronlyProgErrno[f], w != 0 { e.insert(w) } }
        }
        for (f, types) in Self.btfFieldTypes where owned & f != 0 {
            if !types.contains(c.type) { e.insert(facts.btfWrongTypeErrno[f] ?? EOPNOTSUPP) }
            // A kernel that refuses the field on every map (probed at start) answers that.
            if let refused = facts.btfFieldErrno[f], refused != 0 { e.insert(refused) }
        }
        return e
    }
}
