// The array and per-CPU array parts of the oracle: updates by index and the exact batch lookup.
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    /// An array update: every index exists (NOEXIST is EEXIST), indexes past max_entries are E2BIG.
    func arrayUpdate(_ ck: inout Check, _ m: MapModel, _ key: Bytes, _ value: Bytes, _ flags: UInt64, got: Int32) {
        let s = m.shape
        let idx = Int(key.u32)
        if flags > BPFUpdateFlags.exist { expect(&ck, [EINVAL], got, "flags=\(flags)"); return }
        if idx >= s.maxEntries { expect(&ck, [E2BIG], got, "index \(idx) >= max_entries \(s.maxEntries)"); return }
        if flags == BPFUpdateFlags.noExist { expect(&ck, [EEXIST], got, "array elements always exist"); return }
        if expect(&ck, [0], got, "flags=\(flags)") { m.arr[idx] = value; m.mutated() }
    }

    /// The array batch lookup: exact. Entries start after the token (or at 0), count of them,
    /// ENOENT at the end, EFAULT when they do not fit.
    func lookupBatchArray(_ ck: inout Check, _ c: Call, _ r: CallResult, _ m: MapModel, token: UInt32?, fit: Int) {
        let s = m.shape
        // Exact: entries start after the token (or at 0), count of them, ENOENT at the end.
        let start = token.map { Int($0) >= s.maxEntries ? 0 : Int($0) + 1 } ?? 0
        let remaining = s.maxEntries - start
        let want = min(Int(c.count), remaining)
        var expErr: Int32 = Int(c.count) > remaining ? ENOENT : 0
        var n = want
        if want > fit { expErr = EFAULT; n = fit }
        if start >= s.maxEntries { expErr = ENOENT; n = 0 }
        guard expect(&ck, [expErr], r.errno, "array batch from \(start), count \(c.count), buffers fit \(fit)") else { return }
        if expErr == EFAULT { return }
        if Int(r.count) != n { ck.fail("batch", "count \(r.count), want \(n)"); return }
        for i in 0..<n {
            let k = Bytes(r.keysOut[(i * 4)..<(i * 4 + 4)])
            let v = Bytes(r.valuesOut[(i * s.valueLen)..<((i + 1) * s.valueLen)])
            if k != Bytes(int: UInt64(start + i), count: 4) { ck.fail("batch", "entry \(i) has key \(Self.hex(k)), want \(start + i)"); return }
            if v != (m.arr[start + i] ?? m.zero) { ck.fail("value", "batch value of index \(start + i) is \(Self.hex(v)), want \(Self.hex(m.arr[start + i] ?? m.zero))"); return }
        }
        let wantToken = n > 0 ? Layout.intBytes(UInt64(start + n - 1), 4) : [UInt8](repeating: GuardArena.poison, count: 4)
        if r.token != wantToken { ck.fail("batch", "out_batch is \(Self.hex(r.token)), want \(Self.hex(wantToken))") }
    }
}
