import CBPFStress
import Glibc
import SystemPackage

/// A user buffer whose last byte sits right before a PROT_NONE guard page, with canary
/// bytes in front of it. A kernel copy that runs past the end faults (EFAULT) instead of
/// silently writing into the next allocation; a write in front of it shows in the canary.
/// Used for batch ops with deliberately wrong sizes (percpu-batch-sizes).
public final class GuardedBuffer {
    /// Usable bytes; `base + count` is the first byte of the guard page.
    public let count: Int
    /// Bytes of canary right before `base`.
    public let canaryLength: Int
    public let canaryByte: UInt8
    private let mapping: UnsafeMutableRawPointer
    private let mappingLength: Int
    /// First usable byte (not aligned in general: the end is what is pinned).
    let base: UnsafeMutableRawPointer

    /// mmap(2) + mprotect(2): `byteCount` usable bytes (0 is allowed: then the buffer
    /// *is* the guard page, handy as an unmapped pointer), `canaryLength` canary bytes.
    public init(byteCount: Int, canaryLength: Int = 64, canaryByte: UInt8 = 0xA5) throws {
        precondition(byteCount >= 0 && canaryLength >= 0)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let dataPages = (byteCount + canaryLength + page - 1) / page
        let length = (dataPages + 1) * page
        guard let m = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              m != MAP_FAILED else {
            throw BPFError(code: .syscall, operation: "mmap guarded buffer", errno: Errno(rawValue: errno),
                           detail: "\(length) bytes")
        }
        let guardPage = m + dataPages * page
        if mprotect(guardPage, page, PROT_NONE) != 0 {
            let e = errno
            munmap(m, length)
            throw BPFError(code: .syscall, operation: "mprotect guard page", errno: Errno(rawValue: e))
        }
        mapping = m
        mappingLength = length
        count = byteCount
        self.canaryLength = canaryLength
        self.canaryByte = canaryByte
        base = guardPage - byteCount
        (base - canaryLength).initializeMemory(as: UInt8.self, repeating: canaryByte, count: canaryLength)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
    }

    deinit { munmap(mapping, mappingLength) }

    /// True when every canary byte in front of the buffer still holds `canaryByte`.
    public func verifyCanary() -> Bool { firstCorruptCanaryOffset() == nil }

    /// Offset (from the start of the canary) of the first overwritten canary byte, or nil.
    public func firstCorruptCanaryOffset() -> Int? {
        let c = (base - canaryLength).assumingMemoryBound(to: UInt8.self)
        for i in 0..<canaryLength where c[i] != canaryByte { return i }
        return nil
    }

    /// A copy of the usable bytes.
    public func bytes() -> [UInt8] { bytes(0, count) }

    /// A copy of `length` bytes from `offset` (clamped to the buffer).
    public func bytes(_ offset: Int, _ length: Int) -> [UInt8] {
        let lo = max(0, min(offset, count)), hi = max(lo, min(offset + length, count))
        return Array(UnsafeRawBufferPointer(start: base + lo, count: hi - lo))
    }

    /// Copies `bytes` in at `offset`; bytes that would pass the end are dropped (never the guard page).
    public func write(_ bytes: [UInt8], at offset: Int = 0) {
        guard offset >= 0, offset < count else { return }
        let n = min(bytes.count, count - offset)
        bytes.withUnsafeBytes { (base + offset).copyMemory(from: $0.baseAddress!, byteCount: n) }
    }

    /// Sets every usable byte to `byte`.
    public func fill(_ byte: UInt8) { base.initializeMemory(as: UInt8.self, repeating: byte, count: count) }

    /// Little-endian u32 at `offset` (e.g. a batch token), nil when it does not fit.
    public func uint32(at offset: Int) -> UInt32? {
        guard offset >= 0, offset + 4 <= count else { return nil }
        return UInt32(littleEndian: (base + offset).loadUnaligned(as: UInt32.self))
    }

    /// Stores a little-endian u32 at `offset` (ignored when it does not fit).
    public func setUInt32(_ v: UInt32, at offset: Int) {
        guard offset >= 0, offset + 4 <= count else { return }
        (base + offset).storeBytes(of: v.littleEndian, as: UInt32.self)
    }
}

/// Batch operations whose buffers are GuardedBuffers, so that scenarios never hold raw
/// pointers. Sizes are whatever the buffers have: the kernel is not told them, which is
/// the point (a wrong size shows as EFAULT at the guard page or as a broken canary).
extension MapFD {
    /// BPF_MAP_LOOKUP_BATCH (bpfs_map_lookup_batch) into guarded buffers; `inBatch` nil starts at the beginning.
    public func lookupBatch(inBatch: GuardedBuffer?, outBatch: GuardedBuffer, keys: GuardedBuffer,
                            values: GuardedBuffer, count: inout UInt32, elemFlags: UInt64 = 0, flags: UInt64 = 0) throws(BPFError) {
        try lookupBatch(inBatch: inBatch.map { UnsafeRawPointer($0.base) }, outBatch: outBatch.base, keys: keys.base,
                        values: values.base, count: &count, elemFlags: elemFlags, flags: flags)
    }

    /// BPF_MAP_LOOKUP_AND_DELETE_BATCH (bpfs_map_lookup_and_delete_batch) into guarded buffers.
    public func lookupAndDeleteBatch(inBatch: GuardedBuffer?, outBatch: GuardedBuffer, keys: GuardedBuffer,
                                     values: GuardedBuffer, count: inout UInt32, elemFlags: UInt64 = 0,
                                     flags: UInt64 = 0) throws(BPFError) {
        try lookupAndDeleteBatch(inBatch: inBatch.map { UnsafeRawPointer($0.base) }, outBatch: outBatch.base,
                                 keys: keys.base, values: values.base, count: &count, elemFlags: elemFlags, flags: flags)
    }

    /// BPF_MAP_UPDATE_BATCH (bpfs_map_update_batch) from guarded buffers.
    public func updateBatch(keys: GuardedBuffer, values: GuardedBuffer, count: inout UInt32,
                            elemFlags: UInt64 = 0, flags: UInt64 = 0) throws(BPFError) {
        try updateBatch(keys: UnsafeRawPointer(keys.base), values: UnsafeRawPointer(values.base), count: &count,
                        elemFlags: elemFlags, flags: flags)
    }

    /// BPF_MAP_DELETE_BATCH (bpfs_map_delete_batch) from a guarded key buffer.
    public func deleteBatch(keys: GuardedBuffer, count: inout UInt32, elemFlags: UInt64 = 0, flags: UInt64 = 0) throws(BPFError) {
        try deleteBatch(keys: UnsafeRawPointer(keys.base), count: &count, elemFlags: elemFlags, flags: flags)
    }

    /// BPF_MAP_UPDATE_ELEM (bpfs_map_update_elem) with byte arrays (per-CPU values: stride × CPUs).
    public func update(key: [UInt8], value: [UInt8], flags: UInt64 = 0) throws(BPFError) {
        var rt = self.rt
        let rc = key.withUnsafeBytes { k in value.withUnsafeBytes { v in bpfs_map_update_elem(&rt, liveFD, k.baseAddress, v.baseAddress, flags) } }
        if let e = errnoOf(rc) { throw BPFError(code: .syscall, operation: "BPF_MAP_UPDATE_ELEM", errno: e) }
    }

    /// BPF_MAP_DELETE_ELEM (bpfs_map_delete_elem) with a byte-array key.
    public func delete(key: [UInt8]) throws(BPFError) {
        var rt = self.rt
        let rc = key.withUnsafeBytes { bpfs_map_delete_elem(&rt, liveFD, $0.baseAddress) }
        if let e = errnoOf(rc) { throw BPFError(code: .syscall, operation: "BPF_MAP_DELETE_ELEM", errno: e) }
    }

    /// BPF_MAP_LOOKUP_ELEM (bpfs_map_lookup_elem) into a byte array of `valueBytes`.
    public func lookup(key: [UInt8], valueBytes: Int) throws(BPFError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: max(valueBytes, 1)), rt = self.rt
        let rc = key.withUnsafeBytes { k in out.withUnsafeMutableBytes { bpfs_map_lookup_elem(&rt, liveFD, k.baseAddress, $0.baseAddress, 0) } }
        if let e = errnoOf(rc) { throw BPFError(code: .syscall, operation: "BPF_MAP_LOOKUP_ELEM", errno: e) }
        return Array(out.prefix(valueBytes))
    }
}
