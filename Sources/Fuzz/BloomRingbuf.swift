// The bloom filter and ring buffer parts of the oracle: push and peek with no false negatives; no element commands on ring buffers.
import Basics
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    /// get_next_key on a key-less map other than queue/stack: bloom filters refuse it with
    /// EOPNOTSUPP, ring buffers with ENOTSUPP; nil for every other type.
    static func keylessWalkErrno(_ s: MapShape) -> Int32? {
        if s.isBloom { return EOPNOTSUPP }
        if s.isRingbuf || s.isLocalStorage { return ENOTSUPP }
        if s.type == .arena { return EOPNOTSUPP }
        return nil
    }

    /// A push: only BPF_ANY; a bloom filter is never full.
    func bloomPush(_ ck: inout Check, _ m: MapModel, _ value: Bytes, _ flags: UInt64, got: Int32) {
        if flags != 0 { expect(&ck, [EINVAL], got, "bloom filter push flags \(flags)"); return }
        if expect(&ck, [0], got, "push") { m.pushed.insert(value) }
    }

    /// A lookup on a bloom filter is a peek of the value in the value buffer (read, never
    /// written): a value pushed before must hit (no false negatives, ever); any other may
    /// hit (a false positive) or miss. A ring buffer has no lookup (ENOTSUPP).
    func keylessLookup(_ ck: inout Check, _ c: ElemCall, _ r: CallResult, _ m: MapModel) {
        let s = m.shape
        if s.isRingbuf { expect(&ck, [ENOTSUPP], r.errno, "ring buffers have no element commands"); return }
        let vb = Self.resolveValue(c, s)
        if !vb.ok { expect(&ck, [EFAULT], r.errno, "value buffer of \(vb.length) bytes, value needs \(s.valueLen)"); return }
        let hit = m.pushed.contains(vb.value)
        guard expect(&ck, hit ? [0] : [0, ENOENT], r.errno, hit ? "peek of a pushed value (no false negatives)" : "peek of a value never pushed") else { return }
        if r.outBytes.prefixBytes(s.valueLen) != vb.value {
            ck.fail("value", "peek wrote into the value it was given: \(Self.hex(r.out))")
        }
    }
}
