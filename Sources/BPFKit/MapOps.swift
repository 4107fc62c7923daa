import CBPFStress
import Glibc
import SystemPackage

/// Map element and batch operations, in one style: each throws `BPFError` with its `Errno`
/// (typed throws, so a failed call on the hot path allocates nothing). Raw pointers in.
extension MapFD {
    /// BPF_MAP_UPDATE_ELEM (bpfs_map_update_elem); key nil pushes to a queue/stack.
    @inlinable
    public func update(key: UnsafeRawPointer?, value: UnsafeRawPointer, flags: UInt64 = 0) throws(BPFError) {
        var rt = self.rt
        if let e = errnoOf(bpfs_map_update_elem(&rt, liveFD, key, value, flags)) { throw mapError("BPF_MAP_UPDATE_ELEM", e) }
    }

    /// BPF_MAP_LOOKUP_ELEM (bpfs_map_lookup_elem); ENOENT for a missing key; key nil peeks a queue/stack.
    @inlinable
    public func lookup(key: UnsafeRawPointer?, value: UnsafeMutableRawPointer, flags: UInt64 = 0) throws(BPFError) {
        var rt = self.rt
        if let e = errnoOf(bpfs_map_lookup_elem(&rt, liveFD, key, value, flags)) { throw mapError("BPF_MAP_LOOKUP_ELEM", e) }
    }

    /// BPF_MAP_DELETE_ELEM (bpfs_map_delete_elem); ENOENT for a missing key.
    @inlinable
    public func delete(key: UnsafeRawPointer) throws(BPFError) {
        var rt = self.rt
        if let e = errnoOf(bpfs_map_delete_elem(&rt, liveFD, key)) { throw mapError("BPF_MAP_DELETE_ELEM", e) }
    }

    /// BPF_MAP_GET_NEXT_KEY (bpfs_map_get_next_key): `key` nil gives the first key;
    /// returns false at the end of the map (ENOENT).
    @inlinable
    public func nextKey(after key: UnsafeRawPointer?, into next: UnsafeMutableRawPointer) throws(BPFError) -> Bool {
        var rt = self.rt
        let rc = bpfs_map_get_next_key(&rt, liveFD, key, next)
        if rc == -ENOENT { return false }
        if let e = errnoOf(rc) { throw mapError("BPF_MAP_GET_NEXT_KEY", e) }
        return true
    }

    /// BPF_MAP_LOOKUP_AND_DELETE_ELEM (bpfs_map_lookup_and_delete_elem); key nil pops a queue/stack.
    public func lookupAndDelete(key: UnsafeRawPointer?, value: UnsafeMutableRawPointer, flags: UInt64 = 0) throws(BPFError) {
        var rt = self.rt
        if let e = errnoOf(bpfs_map_lookup_and_delete_elem(&rt, liveFD, key, value, flags)) {
            throw mapError("BPF_MAP_LOOKUP_AND_DELETE_ELEM", e)
        }
    }

    /// BPF_MAP_FREEZE (bpfs_map_freeze): later user-space writes fail with EPERM.
    public func freeze() throws(BPFError) {
        var rt = self.rt
        if let e = errnoOf(bpfs_map_freeze(&rt, liveFD)) { throw mapError("BPF_MAP_FREEZE", e) }
    }

    /// BPF_MAP_LOOKUP_BATCH (bpfs_map_lookup_batch). `count`: in capacity, out entries
    /// written. At the end of the map this throws ENOENT *after* setting `count` to the
    /// entries of that last batch; after EFAULT `count` is not trustworthy. `outBatch`
    /// needs max(keySize, 8) bytes; per-CPU values need round_up(valueSize, 8) * possibleCPUs
    /// bytes per entry. See bpfs_bpf.h for the full edge cases.
    public func lookupBatch(inBatch: UnsafeRawPointer?, outBatch: UnsafeMutableRawPointer,
                            keys: UnsafeMutableRawPointer, values: UnsafeMutableRawPointer,
                            count: inout UInt32, elemFlags: UInt64 = 0, flags: UInt64 = 0) throws(BPFError) {
        var rt = self.rt
        if let e = errnoOf(bpfs_map_lookup_batch(&rt, liveFD, inBatch, outBatch, keys, values, &count, elemFlags, flags)) {
            throw mapError("BPF_MAP_LOOKUP_BATCH", e)
        }
    }

    /// BPF_MAP_LOOKUP_AND_DELETE_BATCH (bpfs_map_lookup_and_delete_batch): as lookupBatch,
    /// and each returned entry is deleted. After EFAULT entries may be gone without being returned.
    public func lookupAndDeleteBatch(inBatch: UnsafeRawPointer?, outBatch: UnsafeMutableRawPointer,
                                     keys: UnsafeMutableRawPointer, values: UnsafeMutableRawPointer,
                                     count: inout UInt32, elemFlags: UInt64 = 0, flags: UInt64 = 0) throws(BPFError) {
        var rt = self.rt
        if let e = errnoOf(bpfs_map_lookup_and_delete_batch(&rt, liveFD, inBatch, outBatch, keys, values, &count, elemFlags, flags)) {
            throw mapError("BPF_MAP_LOOKUP_AND_DELETE_BATCH", e)
        }
    }

    /// BPF_MAP_UPDATE_BATCH (bpfs_map_update_batch). `elemFlags` may only be 0 or
    /// BPFUpdateFlags.lock (NOEXIST/EXIST are EINVAL in batches). On an element error
    /// (e.g. E2BIG) `count` = entries updated before it; argument errors leave it as
    /// passed in; untrusted after EFAULT.
    public func updateBatch(keys: UnsafeRawPointer, values: UnsafeRawPointer, count: inout UInt32,
                            elemFlags: UInt64 = 0, flags: UInt64 = 0) throws(BPFError) {
        var rt = self.rt
        if let e = errnoOf(bpfs_map_update_batch(&rt, liveFD, keys, values, &count, elemFlags, flags)) {
            throw mapError("BPF_MAP_UPDATE_BATCH", e)
        }
    }

    /// BPF_MAP_DELETE_BATCH (bpfs_map_delete_batch): on error `count` = keys deleted
    /// before the failure, e.g. ENOENT at the first missing key (untrusted after EFAULT).
    public func deleteBatch(keys: UnsafeRawPointer, count: inout UInt32, elemFlags: UInt64 = 0, flags: UInt64 = 0) throws(BPFError) {
        var rt = self.rt
        if let e = errnoOf(bpfs_map_delete_batch(&rt, liveFD, keys, &count, elemFlags, flags)) {
            throw mapError("BPF_MAP_DELETE_BATCH", e)
        }
    }

    // MARK: typed conveniences (fixed-size, non-per-CPU values)

    /// update(key:value:) for plain value types whose size matches the map's.
    public func update<K, V>(_ key: K, _ value: V, flags: UInt64 = 0) throws(BPFError) {
        try checkSizes(K.self, V.self)
        var k = key, v = value, rt = self.rt
        let rc = withUnsafeBytes(of: &k) { kp in
            withUnsafeBytes(of: &v) { vp in bpfs_map_update_elem(&rt, liveFD, kp.baseAddress, vp.baseAddress, flags) }
        }
        if let e = errnoOf(rc) { throw mapError("BPF_MAP_UPDATE_ELEM", e) }
    }

    /// lookup(key:value:) for plain value types; nil when the key is absent (ENOENT).
    public func lookup<K, V>(_ key: K, as: V.Type) throws(BPFError) -> V? {
        try checkSizes(K.self, V.self)
        var k = key, rt = self.rt
        let value = UnsafeMutableRawPointer.allocate(byteCount: max(MemoryLayout<V>.size, 1), alignment: 8)
        defer { value.deallocate() }
        let e = errnoOf(withUnsafeBytes(of: &k) { bpfs_map_lookup_elem(&rt, liveFD, $0.baseAddress, value, 0) })
        if e == .noSuchFileOrDirectory { return nil }
        if let e { throw mapError("BPF_MAP_LOOKUP_ELEM", e) }
        return value.loadUnaligned(as: V.self)
    }

    /// delete(key:) for a plain key type; false when the key was absent (ENOENT).
    @discardableResult
    public func delete<K>(_ key: K) throws(BPFError) -> Bool {
        var k = key, rt = self.rt
        let e = errnoOf(withUnsafeBytes(of: &k) { bpfs_map_delete_elem(&rt, liveFD, $0.baseAddress) })
        if e == .noSuchFileOrDirectory { return false }
        if let e { throw mapError("BPF_MAP_DELETE_ELEM", e) }
        return true
    }

    /// Every key, walked with get_next_key (bounded by `limit` steps, by default maxEntries + 1;
    /// a census that checks a bound above max_entries passes a limit above that bound).
    public func keys<K>(as: K.Type, limit: Int? = nil) throws(BPFError) -> [K] {
        var out: [K] = []
        let cur = UnsafeMutableRawPointer.allocate(byteCount: max(MemoryLayout<K>.size, 8), alignment: 8)
        let next = UnsafeMutableRawPointer.allocate(byteCount: max(MemoryLayout<K>.size, 8), alignment: 8)
        defer { cur.deallocate(); next.deallocate() }
        var first = true
        let limit = limit ?? (Int(spec?.maxEntries ?? UInt32.max) + 1)
        while out.count < limit {
            guard try nextKey(after: first ? nil : UnsafeRawPointer(cur), into: next) else { break }
            first = false
            out.append(next.loadUnaligned(as: K.self))
            cur.copyMemory(from: next, byteCount: MemoryLayout<K>.size)
        }
        return out
    }

    private func checkSizes<K, V>(_: K.Type, _: V.Type) throws(BPFError) {
        guard let spec else { return }
        if MemoryLayout<K>.size != Int(spec.keySize) || (MemoryLayout<V>.size != Int(spec.valueSize) && !spec.type.isPerCPU) {
            throw BPFError(code: .unsupported, operation: "typed map access",
                           detail: "\(K.self)/\(V.self) are \(MemoryLayout<K>.size)/\(MemoryLayout<V>.size) bytes, map has \(spec.keySize)/\(spec.valueSize)")
        }
        if spec.type.isPerCPU {
            throw BPFError(code: .unsupported, operation: "typed map access", detail: "per-CPU maps need the raw API")
        }
    }

    @usableFromInline @inline(__always)
    func mapError(_ op: String, _ e: Errno) -> BPFError {
        BPFError(code: .syscall, operation: op, errno: e)
    }
}

@usableFromInline @inline(__always)
func errnoOf(_ rc: Int32) -> Errno? { rc >= 0 ? nil : Errno(rawValue: -rc) }

/// Byte stride of one per-CPU value slot in batch/lookup buffers.
public func perCPUValueStride(valueSize: UInt32) -> Int { (Int(valueSize) + 7) & ~7 }
