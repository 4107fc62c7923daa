import Glibc
import SystemPackage
import XCTest
@testable import BPFKit

final class MapTests: XCTestCase {
    let rt = KernelRuntime()

    func hashMap(max: UInt32 = 4, type: BPFMapType = .hash, valueSize: UInt32 = 8, flags: UInt32 = 0) throws -> MapFD {
        try rt.mapCreate(MapSpec(type: type, keySize: 4, valueSize: valueSize, maxEntries: max, flags: flags, name: "bpfs_test"))
    }

    func testUpdateFlagErrnos() throws {
        let m = try hashMap(max: 4)
        try m.update(UInt32(1), UInt64(10))
        // NOEXIST on an existing key.
        XCTAssertEqual(bpfErrno { try m.update(UInt32(1), UInt64(11), flags: BPFUpdateFlags.noExist) }, .fileExists)
        // EXIST on a missing key.
        XCTAssertEqual(bpfErrno { try m.update(UInt32(2), UInt64(20), flags: BPFUpdateFlags.exist) }, .noSuchFileOrDirectory)
        // EXIST on an existing key works and replaces the value.
        try m.update(UInt32(1), UInt64(12), flags: BPFUpdateFlags.exist)
        XCTAssertEqual(try m.lookup(UInt32(1), as: UInt64.self), 12)
        // Bad flag (NOEXIST|EXIST is not a mode).
        XCTAssertEqual(bpfErrno { try m.update(UInt32(3), UInt64(30), flags: 3) }, .invalidArgument)
        // Full hash (4 entries, preallocated): the 5th new key is E2BIG.
        for k: UInt32 in 2...4 { try m.update(k, UInt64(k)) }
        let full = bpfError { try m.update(UInt32(5), UInt64(5)) }
        XCTAssertEqual(full?.errno, .argListTooLong)
        XCTAssertEqual(full?.code, .syscall)
        XCTAssertEqual(full?.description, "BPF_MAP_UPDATE_ELEM failed: E2BIG (Argument list too long)")
        // Replacing an existing key in a full map still works.
        try m.update(UInt32(4), UInt64(44))
        XCTAssertEqual(try m.lookup(UInt32(4), as: UInt64.self), 44)
    }

    func testLookupAndDeleteMissingAreENOENT() throws {
        let m = try hashMap()
        var key: UInt32 = 7
        var value: UInt64 = 0
        let e = bpfError { try m.lookup(key: &key, value: &value) }
        XCTAssertEqual(e?.errno, .noSuchFileOrDirectory)
        XCTAssertEqual(e?.operation, "BPF_MAP_LOOKUP_ELEM")
        XCTAssertEqual(e?.description, "BPF_MAP_LOOKUP_ELEM failed: ENOENT (No such file or directory)")
        XCTAssertNil(try m.lookup(UInt32(7), as: UInt64.self))
        XCTAssertEqual(bpfErrno { try m.delete(key: &key) }, .noSuchFileOrDirectory)
        XCTAssertFalse(try m.delete(UInt32(7)))
        try m.update(UInt32(7), UInt64(70))
        XCTAssertTrue(try m.delete(UInt32(7)))
        XCTAssertNil(try m.lookup(UInt32(7), as: UInt64.self))
    }

    func testGetNextKeyWalksEveryKeyOnce() throws {
        let m = try hashMap(max: 256)
        let inserted = Set((0..<200).map { UInt32($0 * 7 + 3) })
        for k in inserted { try m.update(k, UInt64(k) * 2) }
        let walked = try m.keys(as: UInt32.self)
        XCTAssertEqual(walked.count, inserted.count, "each key exactly once")
        XCTAssertEqual(Set(walked), inserted)
        // Empty map: no first key.
        let empty = try hashMap()
        var next: UInt32 = 0
        XCTAssertFalse(try empty.nextKey(after: nil, into: &next))
    }

    /// Reads the whole map with lookup_batch of `chunk` entries; asserts ENOENT ends it.
    func batchRead(_ m: MapFD, valueStride: Int, chunk: UInt32) throws -> [(UInt32, [UInt8])] {
        var out: [(UInt32, [UInt8])] = []
        var inBatch = [UInt8](repeating: 0, count: 8)
        var outBatch = [UInt8](repeating: 0, count: 8)
        var keys = [UInt32](repeating: 0, count: Int(chunk))
        var values = [UInt8](repeating: 0, count: Int(chunk) * valueStride)
        var first = true
        var sawEnd = false
        for _ in 0..<1000 {
            var count = chunk
            var err: Errno?
            do {
                try inBatch.withUnsafeBytes { ib in
                    try m.lookupBatch(inBatch: first ? nil : ib.baseAddress, outBatch: &outBatch, keys: &keys, values: &values, count: &count)
                }
            } catch let e as BPFError { err = e.errno }
            XCTAssertLessThanOrEqual(count, chunk)
            for i in 0..<Int(count) {
                out.append((keys[i], Array(values[(i * valueStride)..<((i + 1) * valueStride)])))
            }
            if let err {
                XCTAssertEqual(err, .noSuchFileOrDirectory, "batch ends with ENOENT")
                sawEnd = true
                break
            }
            first = false
            inBatch = outBatch
        }
        XCTAssertTrue(sawEnd)
        return out
    }

    func testLookupBatchHashReturnsExactContents() throws {
        let m = try hashMap(max: 512)
        var expected: [UInt32: UInt64] = [:]
        for k in 0..<300 { let key = UInt32(k * 13 + 1); expected[key] = UInt64(k) << 32 | 0xabcd; try m.update(key, expected[key]!) }
        let got = try batchRead(m, valueStride: 8, chunk: 32)
        XCTAssertEqual(got.count, expected.count, "no duplicates, nothing missing")
        var dict: [UInt32: UInt64] = [:]
        for (k, v) in got { dict[k] = v.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        XCTAssertEqual(dict, expected)
        // An empty hash map: ENOENT at once with count 0.
        let empty = try hashMap()
        XCTAssertEqual(try batchRead(empty, valueStride: 8, chunk: 4).count, 0)
    }

    func testLookupBatchPercpuHashUsesRoundedStride() throws {
        // value_size 4 -> each CPU slot is round_up(4, 8) = 8 bytes.
        let ncpu = Probes.possibleCPUs()
        let stride = perCPUValueStride(valueSize: 4)
        XCTAssertEqual(stride, 8)
        let m = try hashMap(max: 128, type: .percpuHash, valueSize: 4)
        var expected: [UInt32: [UInt32]] = [:]
        for k in 0..<50 {
            let key = UInt32(1000 + k)
            var buf = [UInt8](repeating: 0, count: stride * ncpu)
            var vals: [UInt32] = []
            for cpu in 0..<ncpu {
                let v = UInt32(k * 100 + cpu)
                vals.append(v)
                buf.withUnsafeMutableBytes { $0.storeBytes(of: v, toByteOffset: cpu * stride, as: UInt32.self) }
            }
            expected[key] = vals
            var kk = key
            try m.update(key: &kk, value: buf)
        }
        let got = try batchRead(m, valueStride: stride * ncpu, chunk: 16)
        XCTAssertEqual(got.count, 50)
        var dict: [UInt32: [UInt32]] = [:]
        for (k, bytes) in got {
            dict[k] = (0..<ncpu).map { cpu in bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: cpu * stride, as: UInt32.self) } }
        }
        XCTAssertEqual(dict, expected)
    }

    func testUpdateBatchDeleteBatchCounts() throws {
        let m = try hashMap(max: 64)
        var keys: [UInt32] = (1...10).map { $0 }
        var values: [UInt64] = keys.map { UInt64($0) * 3 }
        var count: UInt32 = 10
        try m.updateBatch(keys: &keys, values: &values, count: &count)
        XCTAssertEqual(count, 10)
        XCTAssertEqual(try m.lookup(UInt32(7), as: UInt64.self), 21)
        // Batches accept only BPF_F_LOCK as elem_flags: NOEXIST is EINVAL before any
        // element is touched, and count is left as passed in.
        count = 10
        XCTAssertEqual(bpfErrno { try m.updateBatch(keys: &keys, values: &values, count: &count, elemFlags: BPFUpdateFlags.noExist) }, .invalidArgument)
        XCTAssertEqual(count, 10)
        // A batch that overflows the map: E2BIG, count = entries inserted before it.
        let small = try hashMap(max: 12)
        count = 10
        try small.updateBatch(keys: &keys, values: &values, count: &count)
        var more: [UInt32] = [100, 101, 102, 103, 104]
        var moreValues: [UInt64] = [1, 2, 3, 4, 5]
        count = 5
        XCTAssertEqual(bpfErrno { try small.updateBatch(keys: &more, values: &moreValues, count: &count) }, .argListTooLong)
        XCTAssertEqual(count, 2)
        XCTAssertEqual(try small.lookup(UInt32(101), as: UInt64.self), 2)
        XCTAssertNil(try small.lookup(UInt32(102), as: UInt64.self))
        // Delete 1,2,3,4 then hit the missing 99: ENOENT with count = 4 deleted.
        var del: [UInt32] = [1, 2, 3, 4, 99, 5]
        count = UInt32(del.count)
        XCTAssertEqual(bpfErrno { try m.deleteBatch(keys: &del, count: &count) }, .noSuchFileOrDirectory)
        XCTAssertEqual(count, 4)
        XCTAssertNil(try m.lookup(UInt32(4), as: UInt64.self))
        XCTAssertEqual(try m.lookup(UInt32(5), as: UInt64.self), 15)
        XCTAssertEqual(Set(try m.keys(as: UInt32.self)), Set((5...10).map { UInt32($0) }))
    }

    func testLookupAndDeleteBatchDrainsMap() throws {
        let m = try hashMap(max: 64)
        for k: UInt32 in 1...20 { try m.update(k, UInt64(k)) }
        var outBatch: UInt64 = 0
        var keys = [UInt32](repeating: 0, count: 64)
        var values = [UInt64](repeating: 0, count: 64)
        var count: UInt32 = 64
        XCTAssertEqual(bpfErrno { try m.lookupAndDeleteBatch(inBatch: nil, outBatch: &outBatch, keys: &keys, values: &values, count: &count) }, .noSuchFileOrDirectory)
        XCTAssertEqual(count, 20)
        XCTAssertEqual(Set(keys.prefix(20)), Set((1...20).map { UInt32($0) }))
        for i in 0..<20 { XCTAssertEqual(values[i], UInt64(keys[i])) }
        XCTAssertEqual(try m.keys(as: UInt32.self), [])
    }

    func testArrayAndQueueSemantics() throws {
        let a = try rt.mapCreate(MapSpec(type: .array, keySize: 4, valueSize: 8, maxEntries: 4, name: "bpfs_arr"))
        // Array slots always exist (zeroed); deleting is EINVAL; out of range is E2BIG on update.
        XCTAssertEqual(try a.lookup(UInt32(3), as: UInt64.self), 0)
        XCTAssertEqual(bpfErrno { try a.update(UInt32(4), UInt64(1)) }, .argListTooLong)
        XCTAssertEqual(bpfErrno { _ = try a.delete(UInt32(0)) }, .invalidArgument)
        XCTAssertEqual(bpfErrno { try a.update(UInt32(0), UInt64(1), flags: BPFUpdateFlags.noExist) }, .fileExists)

        // Queues take a NULL key: push, E2BIG when full, FIFO pop, ENOENT when empty.
        let q = try rt.mapCreate(MapSpec(type: .queue, keySize: 0, valueSize: 8, maxEntries: 2, name: "bpfs_q"))
        for var v: UInt64 in [5, 6] { try q.update(key: nil, value: &v) }
        var seven: UInt64 = 7
        XCTAssertEqual(bpfErrno { try q.update(key: nil, value: &seven) }, .argListTooLong)
        var out: UInt64 = 0
        try q.lookupAndDelete(key: nil, value: &out)
        XCTAssertEqual(out, 5)
        try q.lookupAndDelete(key: nil, value: &out)
        XCTAssertEqual(out, 6)
        XCTAssertEqual(bpfErrno { try q.lookupAndDelete(key: nil, value: &out) }, .noSuchFileOrDirectory)
    }

    func testFreezeBlocksUserWrites() throws {
        let m = try hashMap()
        try m.update(UInt32(1), UInt64(1))
        try m.freeze()
        XCTAssertEqual(bpfErrno { try m.update(UInt32(1), UInt64(2)) }, .notPermitted)
        XCTAssertEqual(try m.lookup(UInt32(1), as: UInt64.self), 1)
    }

    func testInfoByIDAndClose() throws {
        let m = try hashMap(max: 33, flags: BPFMapFlags.noPrealloc)
        let info = try rt.mapInfo(m)
        XCTAssertEqual(info.type, .hash)
        XCTAssertEqual(info.keySize, 4)
        XCTAssertEqual(info.valueSize, 8)
        XCTAssertEqual(info.maxEntries, 33)
        XCTAssertEqual(info.flags, BPFMapFlags.noPrealloc)
        XCTAssertEqual(info.name, "bpfs_test")
        // The id space contains our map.
        var id: UInt32 = 0
        var found = false
        for _ in 0..<100_000 {
            guard let next = try rt.nextID(.map, after: id) else { break }
            if next == info.id { found = true; break }
            id = next
        }
        XCTAssertTrue(found)
        let again = try rt.map(byID: info.id)
        XCTAssertEqual(again.spec?.maxEntries, 33)
        try again.update(UInt32(9), UInt64(99))
        XCTAssertEqual(try m.lookup(UInt32(9), as: UInt64.self), 99)
        // close is idempotent and later calls fail with EBADF instead of hitting a reused fd.
        m.close()
        m.close()
        XCTAssertTrue(m.isClosed)
        XCTAssertEqual(bpfErrno { try m.update(UInt32(1), UInt64(1)) }, .badFileDescriptor)
        // Ids are below INT_MAX: the last possible start is ENOENT (nil), INT_MAX itself EINVAL.
        XCTAssertNil(try rt.nextID(.map, after: UInt32(Int32.max) - 1))
        XCTAssertEqual(bpfErrno { _ = try rt.nextID(.map, after: UInt32(Int32.max)) }, .invalidArgument)
    }

    func testTypedAccessRejectsWrongSizes() throws {
        let m = try hashMap()
        let e = bpfError { try m.update(UInt64(1), UInt64(1)) }
        XCTAssertEqual(e?.code, .unsupported)
    }
}
