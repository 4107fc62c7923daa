// BTF-defined values in generated programs: creates with kernel-owned fields, and BPF_F_LOCK on the maps that hold a bpf_spin_lock.
import BPFKit
import Foundation

extension Generator {
    /// Gives create `c` a BTF value: some of lock, timer and kptr (or none), value_size what
    /// they need plus a data tail (now and then one byte short: EINVAL).
    mutating func addBTF(_ c: inout Call) {
        let (l, t, k) = (BTFValue.lock, BTFValue.timer, BTFValue.kptr)
        c.btf = pick([l, l, l, t, k, l | t, l | k, t | k, l | t | k, BTFValue.plain])
        let need = BTFValue(fields: c.btf).minSize
        c.valueSize = UInt32(need + pick([0, 4, 8, 12, 60]))
        if chance(0.05) { c.valueSize = UInt32(max(1, need - 1)) }
        // Per-CPU values with fields and a value_size that is no multiple of 8 return 4 bytes
        // of padding per CPU that the kernel never writes (see README, Fuzzing: BTF values): not generated
        // where the probed fact percpu_btf_padding says the kernel does that.
        if avoidPercpuPadding && (c.type == .percpuHash || c.type == .percpuArray || c.type == .lruPercpuHash) { c.valueSize = (c.valueSize + 7) & ~7 }
    }

    /// BPF_F_LOCK on calls of a map whose value holds a bpf_spin_lock (update, lookup,
    /// lookup_and_delete flags; batch elem_flags), with the other flags kept.
    mutating func lockFlags(_ c: inout Call) {
        guard chance(0.4) else { return }
        switch c.op {
        case .update, .lookup, .lookupAndDelete: c.flags |= BPFUpdateFlags.lock
        case .lookupBatch, .lookupAndDeleteBatch, .updateBatch, .deleteBatch: c.elemFlags = BPFUpdateFlags.lock
        default: break
        }
    }
}
