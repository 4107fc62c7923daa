// The ZERO_SEED oracle: two hash maps created with BPF_F_ZERO_SEED and given the same calls walk in the same order.
import BPFKit
import Foundation

extension ShadowModel {
    /// Plain and per-CPU hash maps: with a zero hash seed, bucket placement is a function of the
    /// key, and the order inside a bucket a function of the call history (LRU maps also depend
    /// on free-list state, so they are left out).
    static func hasDeterministicOrder(_ c: Call) -> Bool {
        (c.type == .hash || c.type == .percpuHash) && c.mapFlags & BPFMapFlags.zeroSeed != 0
    }

    /// Appends `c` (slot-independent) and its answer to the slot's history.
    @inline(never)
    func recordHistory(_ c: Call, _ r: CallResult) {
        var d = c
        d.map = 0
        history[c.map] += "\(d.description) -> \(c.op == .walk ? r.walkEnd : r.errno)/\(r.count)\n"
    }

    /// After checkOther's own check: starts, follows and ends a slot's history, and compares
    /// each complete walk with the walk of any ZERO_SEED map that had the same history.
    func trackZeroSeed(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        let bit: UInt8 = 1 << UInt8(truncatingIfNeeded: c.map)
        switch c.op {
        case .create:
            zeroSeedSlots &= ~bit
            if r.errno == 0 && Self.hasDeterministicOrder(c) {
                zeroSeedSlots |= bit
                history[c.map] = ""
                recordHistory(c, r)
            }
        case .close:
            zeroSeedSlots &= ~bit
        case .walk where zeroSeedSlots & bit != 0 && c.fd == .map && r.walkEnd == ENOENT:
            let keys = r.walk.map(\.key)
            if let prior = walkOrders[history[c.map]] {
                if prior.keys != keys {
                    ck.fail("walk", "two ZERO_SEED maps with the same history walk in different orders: slot \(prior.slot) gave " +
                            prior.keys.prefix(6).map { Self.hex($0) }.joined(separator: ",") + ", slot \(c.map) gave " +
                            keys.prefix(6).map { Self.hex($0) }.joined(separator: ","))
                }
            } else {
                walkOrders[history[c.map]] = (c.map, keys)
            }
            recordHistory(c, r)
        default:
            if zeroSeedSlots & bit != 0 { recordHistory(c, r) }
        }
    }
}
