// The OBJ_GET_INFO_BY_FD oracle: info_len short, exact, longer with a zero or non-zero tail, and the bytes of struct bpf_map_info.
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    /// The struct bpf_map_info the kernel must write for `rec`, facts.mapInfoSize bytes: type,
    /// id, key_size, value_size, max_entries, map_flags, name, then zeros (no ifindex, netns or
    /// hash for these maps) but the BTF type ids of a BTF-defined value and map_extra at 80.
    func expectedInfo(_ rec: IdentityModel.Record) -> [UInt8] {
        let s = rec.map.shape
        var b = [UInt8](repeating: 0, count: max(facts.mapInfoSize, 88))
        func put(_ v: UInt64, _ off: Int, _ n: Int) { for i in 0..<n { b[off + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }
        put(UInt64(s.type.rawValue), 0, 4)
        put(UInt64(rec.id), 4, 4)
        put(UInt64(s.keySize), 8, 4)
        put(UInt64(s.valueSize), 12, 4)
        put(UInt64(s.maxEntries), 16, 4)
        put(UInt64(s.flags), 20, 4)
        for (i, ch) in Array(IdentityModel.mapName.utf8.prefix(15)).enumerated() { b[24 + i] = ch }
        put(rec.extra, 80, 8)
        if rec.map.btfAsked != 0 {
            // A BTF-defined value: btf_id is the BTF object's id (the kernel's number, any
            // non-zero; info() takes it from the answer), then the blob's key and value type ids.
            let blob = BTFValue(fields: rec.map.btfAsked).blob(keySize: s.keySize, valueSize: s.valueSize, intKey: s.type == .array || s.type == .percpuArray)
            put(UInt64(blob.keyType), 68, 4)
            put(UInt64(blob.valueType), 72, 4)
        }
        return Array(b.prefix(facts.mapInfoSize))
    }

    /// info: the fd first (EBADF, EINVAL for a file that is no bpf object), then
    /// bpf_check_uarg_tail_zero (E2BIG past a page; past sizeof(info) the tail must read as
    /// zero: EFAULT when it cannot be read, E2BIG when not zero), then the copy in and out of
    /// min(info_len, sizeof) bytes (EFAULT). info_len comes back as that minimum; bytes past it
    /// stay as they were. The fd's access does not matter.
    func info(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        let n = Int(c.count), size = facts.mapInfoSize
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var input = [UInt8](repeating: 0, count: min(n, 8192))
        if c.flags & 1 != 0, !input.isEmpty { input[input.count - 1] = 1 }
        let buffer = c.out == .null || c.out == .unmapped ? nil : input
        var allowed: ErrSet = [0]
        var why = "info_len \(n), sizeof(bpf_map_info) \(size) (kernel fact map_info_size)"
        if let e = fdError(c) {
            // bpf_obj_get_info_by_fd answers EBADFD (not EBADF) when the fd is not open.
            allowed = [e == EBADF ? EBADFD : e]; why = "fd \(c.fd.rawValue)"
        } else if n > page {
            allowed = [E2BIG]; why += ": more than a page"
        } else if n > size && buffer == nil {
            allowed = [EFAULT]; why += ": the tail cannot be read"
        } else if n > size && input[size...].contains(where: { $0 != 0 }) {
            allowed = [E2BIG]; why += ": non-zero byte past the struct"
        } else if n > 0 && buffer == nil {
            allowed = [EFAULT]; why += ": no buffer"
        }
        guard expect(&ck, allowed, r.errno, why) else { return }
        if r.errno != 0 {
            if r.count != c.count { ck.fail("info", "info_len \(r.count) after a failed call, want it left at \(c.count)") }
            if let buffer, r.valuesOut != buffer { ck.fail("info", "a failed call changed the info buffer") }
            return
        }
        let want = min(n, size)
        if r.count != UInt32(want) { ck.fail("info", "info_len came back \(r.count), want min(\(n), \(size)) = \(want)"); return }
        guard let rec = identity.last[c.map], let buffer else { return }
        var expected = buffer
        for (i, x) in expectedInfo(rec).prefix(want).enumerated() { expected[i] = x }
        if rec.map.btfAsked != 0 && want > 64 && r.valuesOut.count >= want {
            // btf_id: the kernel's id of the map's BTF, which the model cannot know; never 0.
            let btfID = r.valuesOut[64..<min(want, 68)]
            if want >= 68 && btfID.allSatisfy({ $0 == 0 }) { ck.fail("info", "btf_id 0 for a map created with BTF"); return }
            for i in btfID.indices { expected[i] = r.valuesOut[i] }
        }
        if r.valuesOut != expected {
            let at = (0..<min(r.valuesOut.count, expected.count)).first { r.valuesOut[$0] != expected[$0] } ?? min(r.valuesOut.count, expected.count)
            ck.fail("info", "info bytes differ at offset \(at): got \(Self.hex(Array(r.valuesOut.dropFirst(at / 4 * 4).prefix(8)))), want \(Self.hex(Array(expected.dropFirst(at / 4 * 4).prefix(8))))")
        }
    }
}

extension IdentityModel {
    /// The name the executor gives every map it creates (Executor.mapName).
    static let mapName = "bpfs_fuzz"
}
