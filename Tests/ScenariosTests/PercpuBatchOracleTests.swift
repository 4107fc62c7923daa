@testable import BPFKit
import Basics
import XCTest
@testable import Scenarios

/// The percpu-batch-sizes oracle: it passes real kernel results and fails tampered ones.
final class PercpuBatchOracleTests: XCTestCase {
    let layout12 = PercpuLayout(valueSize: 12, cpus: 2)

    // MARK: codec

    func testCodecRoundTripsEveryValueSizeAndRejectsAFlippedByte() {
        for vs in PercpuBatchSizes.valueSizes {
            let l = PercpuLayout(valueSize: vs, cpus: 2)
            let e = PercpuValueCodec.entry(key: 7, gen: 42, layout: l)
            XCTAssertEqual(e.count, vs * 2)
            XCTAssertNil(PercpuValueCodec.verify(key: 7, packed: e, layout: l, tornAllowed: false), "vs \(vs)")
            var bad = e
            bad[vs] ^= 0x01  // cpu 1, byte 0: its generation no longer matches cpu 0's
            XCTAssertNotNil(PercpuValueCodec.verify(key: 7, packed: bad, layout: l, tornAllowed: false), "vs \(vs)")
            // The same bytes under another key do not decode.
            if vs > 1 { XCTAssertNotNil(PercpuValueCodec.verify(key: 8, packed: e, layout: l, tornAllowed: true), "vs \(vs)") }
        }
    }

    func testGenerationsMixOnlyWhereTearingIsAllowed() {
        let l = PercpuLayout(valueSize: 20, cpus: 2)
        let a = PercpuValueCodec.entry(key: 3, gen: 1, layout: l), b = PercpuValueCodec.entry(key: 3, gen: 2, layout: l)
        let mixed = Array(a[0..<20]) + Array(b[20..<40])
        XCTAssertNotNil(PercpuValueCodec.verify(key: 3, packed: mixed, layout: l, tornAllowed: false))
        XCTAssertNil(PercpuValueCodec.verify(key: 3, packed: mixed, layout: l, tornAllowed: true))
        // Zeros are an unwritten array element, accepted only for arrays.
        let zeros = [UInt8](repeating: 0, count: 40)
        XCTAssertNil(PercpuValueCodec.verify(key: 3, packed: zeros, layout: l, tornAllowed: true))
        XCTAssertNotNil(PercpuValueCodec.verify(key: 3, packed: zeros, layout: l, tornAllowed: false))
    }

    func testLayoutPadsEachCPUSlotTo8Bytes() {
        XCTAssertEqual(layout12.slotStride, 16)
        XCTAssertEqual(layout12.entryBytes, 32)
        let packed = (0..<24).map { UInt8($0) }
        let buf = layout12.unpack(packed)
        XCTAssertEqual(buf.count, 32)
        XCTAssertEqual(Array(buf[12..<16]), [0, 0, 0, 0])
        XCTAssertEqual(Array(buf[16..<28]), Array(12..<24).map { UInt8($0) })
        XCTAssertEqual(layout12.pack(buf[...]), packed)
    }

    // MARK: errno table (verified on 6.18)

    func make(_ op: BatchOp, _ kind: BatchCaseKind, _ type: BPFMapType = .percpuHash, entries: Int? = 8, count: Int = 8,
              keys: [UInt32] = []) -> BatchCase {
        BatchCase.make(op: op, kind: kind, mapType: type, layout: layout12, maxEntries: 16, count: count, keys: keys, entries: entries)
    }

    func testErrnoTable() {
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.lookup, .correct)), [ENOENT])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.lookup, .correct, .percpuArray, count: 16)), [0])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.lookup, .countAboveMax, .percpuArray)), [ENOENT])
        for k in [BatchCaseKind.valueSizeTimesCount, .roundUpNoCPUs, .oneByteShort] {
            XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.lookup, k)), [EFAULT], k.rawValue)
            XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.update, k, keys: Array(0..<8))), [EFAULT], k.rawValue)
            // Unknown entries (shared map): EFAULT or a read that happened to fit.
            XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.lookup, k, entries: nil)), [ENOENT, EFAULT], k.rawValue)
        }
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.lookupAndDelete, .correct, .percpuArray)), [ENOTSUPP])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.delete, .countZero, .percpuArray)), [ENOTSUPP])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.lookup, .countZero)), [0])
        var c0 = make(.update, .countZero); c0.elemFlags = 8
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(c0), [EINVAL], "elem_flags are checked before count 0")
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.lookup, .elemFlagsLock)), [EINVAL])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.lookup, .flagsNonzero)), [EINVAL])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.lookup, .flagsNonzero, .percpuArray, count: 16)), [0])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.update, .flagsNonzero)), [0])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.lookup, .garbageInBatch)), [ENOENT])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.lookup, .unmappedInBatch)), [EFAULT])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.update, .countAboveMax)), [E2BIG])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.update, .countAboveMax, .lruPercpuHash)), [0])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.delete, .countAboveMax)), [ENOENT])
        XCTAssertEqual(PercpuBatchOracle.expectedErrnos(make(.delete, .oneByteShort, keys: Array(0..<8))), [EFAULT])
    }

    func testCaseArgumentsAreTheWrongSizesTheyName() {
        let c = { (k: BatchCaseKind) in self.make(.lookup, k) }
        XCTAssertEqual(c(.correct).valueBytes, 8 * 32)
        XCTAssertEqual(c(.valueSizeTimesCount).valueBytes, 8 * 12)
        XCTAssertEqual(c(.roundUpNoCPUs).valueBytes, 8 * 16)
        XCTAssertEqual(c(.oneByteShort).valueBytes, 8 * 32 - 1)
        XCTAssertEqual(make(.delete, .oneByteShort, keys: Array(0..<8)).keyBytes, 31)
        XCTAssertEqual(c(.countAboveMax).count, 20)
        XCTAssertTrue(c(.oneByteShort).description.contains("values_bytes=255 (correct 256)"), c(.oneByteShort).description)
        XCTAssertFalse(BatchCaseKind.applicable(.update, shared: true).contains(.valueSizeTimesCount))
        XCTAssertTrue(BatchCaseKind.applicable(.update, shared: false).contains(.valueSizeTimesCount))
        XCTAssertFalse(BatchCaseKind.applicable(.delete, shared: false).contains(.staleInBatch))
    }

    // MARK: check() on synthetic outcomes

    func content(_ keys: [UInt32], gen: UInt8 = 5) -> MapContent {
        Dictionary(uniqueKeysWithValues: keys.map { ($0, PercpuValueCodec.entry(key: $0, gen: gen, layout: layout12)) })
    }

    func testCorrectLookupPassesAndTamperedResultsFail() {
        let before = content(Array(0..<8))
        let c = make(.lookup, .correct)
        let good = BatchOutcome(errno: ENOENT, countOut: 8, returned: before.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        XCTAssertEqual(PercpuBatchOracle.check(c, outcome: good, before: before, after: before, universe: .max), [])

        var tampered = good
        tampered.returned[3].1[5] ^= 0xFF
        XCTAssertEqual(PercpuBatchOracle.check(c, outcome: tampered, before: before, after: before, universe: .max).map(\.check), ["slots-decode"])

        var missing = good
        missing.returned.removeLast(); missing.countOut = 7
        XCTAssertEqual(PercpuBatchOracle.check(c, outcome: missing, before: before, after: before, universe: .max).map(\.check), ["entries-exact"])

        var dup = good
        dup.returned[1] = dup.returned[0]
        XCTAssertTrue(PercpuBatchOracle.check(c, outcome: dup, before: before, after: before, universe: .max).contains { $0.message.contains("twice") })

        var canary = good
        canary.brokenCanaries = ["values"]
        XCTAssertEqual(PercpuBatchOracle.check(c, outcome: canary, before: before, after: before, universe: .max).map(\.check), ["canary-intact"])

        // A lookup that changed the map.
        var after = before; after[2] = nil
        XCTAssertEqual(PercpuBatchOracle.check(c, outcome: good, before: before, after: after, universe: .max).map(\.check), ["failed-call-no-change"])

        // Shared map: no model, values must decode.
        let shared = make(.lookup, .correct, entries: nil, count: 16)
        XCTAssertEqual(PercpuBatchOracle.check(shared, outcome: good, before: nil, after: nil, universe: 16), [])
        XCTAssertEqual(PercpuBatchOracle.check(shared, outcome: tampered, before: nil, after: nil, universe: 16).map(\.check), ["slots-decode"])
        XCTAssertEqual(PercpuBatchOracle.check(shared, outcome: good, before: nil, after: nil, universe: 4).first?.check, "slots-decode")
    }

    func testTooSmallBufferThatSucceedsIsAFinding() {
        let before = content(Array(0..<8))
        let c = make(.lookup, .valueSizeTimesCount)
        let ok = BatchOutcome(errno: EFAULT, countOut: 0)
        XCTAssertEqual(PercpuBatchOracle.check(c, outcome: ok, before: before, after: before, universe: .max), [])
        // The seed bug: success with too few bytes copied.
        let bug = BatchOutcome(errno: ENOENT, countOut: 8, returned: [])
        let v = PercpuBatchOracle.check(c, outcome: bug, before: before, after: before, universe: .max).map(\.check)
        XCTAssertTrue(v.contains("expected-errnos") && v.contains("too-small-efault") && v.contains("slots-decode"), "\(v)")
        // EINVAL where EFAULT was due.
        let einval = BatchOutcome(errno: EINVAL, countOut: 8)
        XCTAssertEqual(Set(PercpuBatchOracle.check(c, outcome: einval, before: before, after: before, universe: .max).map(\.check)),
                       ["expected-errnos", "too-small-efault"])
    }

    func testUpdateAndDeleteModels() {
        let before = content([0, 1, 2])
        let keys: [UInt32] = [5, 6, 7, 8]
        let written = keys.map { PercpuValueCodec.entry(key: $0, gen: 9, layout: layout12) }
        // one byte short: 3 of 4 elements fit and are applied, count says 3.
        let c = make(.update, .oneByteShort, count: 4, keys: keys)
        var want = before
        for i in 0..<3 { want[keys[i]] = written[i] }
        let o = BatchOutcome(errno: EFAULT, countOut: 3)
        XCTAssertEqual(PercpuBatchOracle.check(c, outcome: o, before: before, after: want, written: Array(written.prefix(3)), universe: .max), [])
        var wrongAfter = want; wrongAfter[keys[2]] = nil
        XCTAssertEqual(PercpuBatchOracle.check(c, outcome: o, before: before, after: wrongAfter, written: Array(written.prefix(3)), universe: .max).map(\.check),
                       ["failed-call-no-change"])
        let wrongCount = BatchOutcome(errno: EFAULT, countOut: 4)
        XCTAssertEqual(PercpuBatchOracle.check(c, outcome: wrongCount, before: before, after: want, written: Array(written.prefix(3)), universe: .max).map(\.check),
                       ["failed-call-no-change"])
        // count > max_entries on a full-ish hash: E2BIG exactly when the map fills.
        let big = make(.update, .countAboveMax)
        XCTAssertEqual(PercpuBatchOracle.predictedE2BIGIndex(big, before: before), 16 + 0)
        // delete stops at the first absent key.
        let d = make(.delete, .countAboveMax)
        var afterDelete = before; afterDelete[0] = nil; afterDelete[1] = nil; afterDelete[2] = nil
        XCTAssertEqual(PercpuBatchOracle.check(d, outcome: BatchOutcome(errno: ENOENT, countOut: 3), before: before, after: afterDelete, universe: .max), [])
        XCTAssertFalse(PercpuBatchOracle.check(d, outcome: BatchOutcome(errno: ENOENT, countOut: 2), before: before, after: afterDelete, universe: .max).isEmpty)
    }

    // MARK: against the kernel

    /// Real per-CPU hash, real guarded buffers: the seed bug's size faults at the guard
    /// page with the canary intact, the correct size returns exactly the map, and the
    /// oracle passes both but fails the correct result judged against a tampered model.
    func testKernelResultsPassTheOracleAndATamperedModelFails() throws {
        let rt = KernelRuntime()
        let cpus = Probes.possibleCPUs()
        let l = PercpuLayout(valueSize: 12, cpus: cpus)
        let map = try rt.mapCreate(MapSpec(type: .percpuHash, keySize: 4, valueSize: 12, maxEntries: 16, name: "bpfs_test_pcpu"))
        defer { map.close() }
        var model: MapContent = [:]
        for k in UInt32(0)..<8 {
            model[k] = PercpuValueCodec.entry(key: k, gen: 3, layout: l)
            try map.update(key: withUnsafeBytes(of: k) { Array($0) }, value: l.unpack(model[k]!))
        }
        func call(_ kind: BatchCaseKind) throws -> (BatchCase, BatchOutcome) {
            let c = BatchCase.make(op: .lookup, kind: kind, mapType: .percpuHash, layout: l, maxEntries: 16, count: 8, keys: [], entries: 8)
            let kb = try GuardedBuffer(byteCount: c.keyBytes), vb = try GuardedBuffer(byteCount: c.valueBytes), ob = try GuardedBuffer(byteCount: 8)
            var count = c.count
            var e: Int32 = 0
            do { try map.lookupBatch(inBatch: nil, outBatch: ob, keys: kb, values: vb, count: &count) } catch {
                e = error.errno?.rawValue ?? -1
            }
            var o = BatchOutcome(errno: e, countOut: count)
            if !kb.verifyCanary() { o.brokenCanaries.append("keys") }
            if !vb.verifyCanary() { o.brokenCanaries.append("values") }
            if e == ENOENT {
                o.returned = (0..<Int(count)).map { (kb.uint32(at: 4 * $0)!, l.pack(vb.bytes($0 * l.entryBytes, l.entryBytes)[...])) }
            }
            return (c, o)
        }
        let (small, so) = try call(.valueSizeTimesCount)
        XCTAssertEqual(so.errno, EFAULT)
        XCTAssertEqual(so.brokenCanaries, [])
        XCTAssertEqual(PercpuBatchOracle.check(small, outcome: so, before: model, after: model, universe: .max), [])
        let (short, sho) = try call(.oneByteShort)
        XCTAssertEqual(sho.errno, EFAULT)
        XCTAssertEqual(PercpuBatchOracle.check(short, outcome: sho, before: model, after: model, universe: .max), [])
        let (good, go) = try call(.correct)
        XCTAssertEqual(go.errno, ENOENT)
        XCTAssertEqual(go.countOut, 8)
        XCTAssertEqual(PercpuBatchOracle.check(good, outcome: go, before: model, after: model, universe: .max), [])
        var tampered = model
        tampered[4]![0] ^= 1
        XCTAssertEqual(PercpuBatchOracle.check(good, outcome: go, before: tampered, after: model, universe: .max).map(\.check),
                       ["slots-decode", "failed-call-no-change"])
    }

    // MARK: guarded buffer

    func testGuardedBufferEndsAtTheGuardPageAndSeesCanaryWrites() throws {
        let b = try GuardedBuffer(byteCount: 13)
        XCTAssertEqual(b.count, 13)
        XCTAssertTrue(b.verifyCanary())
        b.write([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], at: 0)  // last two bytes dropped, not written past the end
        XCTAssertEqual(b.bytes().last, 13)
        b.setUInt32(0xdeadbeef, at: 9)
        XCTAssertEqual(b.uint32(at: 9), 0xdeadbeef)
        XCTAssertNil(b.uint32(at: 10))
        XCTAssertTrue(b.verifyCanary())
        // The kernel writing 16 bytes into a 13-byte buffer: EFAULT at the guard page, not a silent overrun.
        let rt = KernelRuntime()
        let map = try rt.mapCreate(MapSpec(type: .array, keySize: 4, valueSize: 16, maxEntries: 1, name: "bpfs_test_guard"))
        defer { map.close() }
        let kb = try GuardedBuffer(byteCount: 4), ob = try GuardedBuffer(byteCount: 8)
        var count: UInt32 = 1
        XCTAssertThrowsError(try map.lookupBatch(inBatch: nil, outBatch: ob, keys: kb, values: b, count: &count)) {
            XCTAssertEqual(($0 as? BPFError)?.errno?.rawValue, EFAULT)
        }
        XCTAssertTrue(b.verifyCanary())
        // An unmapped in_batch cursor (a zero-byte buffer is the guard page itself).
        let unmapped = try GuardedBuffer(byteCount: 0)
        let vb = try GuardedBuffer(byteCount: 16)
        count = 1  // untrusted after the EFAULT above
        XCTAssertThrowsError(try map.lookupBatch(inBatch: unmapped, outBatch: ob, keys: kb, values: vb, count: &count)) {
            XCTAssertEqual(($0 as? BPFError)?.errno?.rawValue, EFAULT)
        }
    }

    func testCanaryDetectsAWriteInFrontOfTheBuffer() throws {
        let b = try GuardedBuffer(byteCount: 32, canaryLength: 16)
        XCTAssertTrue(b.verifyCanary())
        // Simulate an underrun by writing before the start through the test-only pointer.
        (b.base - 3).storeBytes(of: 0, as: UInt8.self)
        XCTAssertFalse(b.verifyCanary())
        XCTAssertEqual(b.firstCorruptCanaryOffset(), 13)
    }
}
