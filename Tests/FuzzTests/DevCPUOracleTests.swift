// The devmap, devmap_hash, cpumap, stack_trace and arena oracles on tampered kernel answers: create rules, ifindex and qsize values, element commands, the executor's netns refusal.
import Basics
import BPFKit
@testable import Fuzz
import Glibc
import XCTest

final class DevCPUOracleTests: XCTestCase {
    func shape(_ t: BPFMapType, key: Int = 4, value: Int = 4, max: Int = 4) -> MapShape {
        MapShape(type: t, keySize: key, valueSize: value, maxEntries: max, flags: t == .arena ? BPFMapFlags.mmapable : ShadowModel.devcpuAddedFlags(t), cpus: 2)
    }

    /// A model holding one created map of `t` in slot 0 (the private netns on, as on the fuzz thread).
    func model(_ t: BPFMapType, value: Int = 4, max: Int = 4, netns: Bool = true) -> (ShadowModel, MapShape) {
        let m = ShadowModel(cpus: 2)
        m.devcpu.netnsPrivate = netns
        let s = shape(t, key: t == .arena ? 0 : 4, value: t == .arena ? 0 : value, max: max)
        var c = Call(.create); c.type = t; c.keySize = UInt32(s.keySize); c.valueSize = UInt32(s.valueSize); c.maxEntries = UInt32(max)
        if t == .arena { c.mapFlags = BPFMapFlags.mmapable }
        XCTAssertEqual(m.check(0, c, CallResult(), shape: s), [])
        return (m, s)
    }

    func errno(_ e: Int32, out: [UInt8] = []) -> CallResult { var r = CallResult(); r.errno = e; r.out = out; return r }

    func update(_ m: ShadowModel, _ s: MapShape, key: UInt64, value: Buf, flags: UInt64 = 0, got: Int32) -> [String] {
        var c = Call(.update); c.key = .int(key); c.value = value; c.flags = flags
        return m.check(1, c, errno(got), shape: s).map(\.signature)
    }

    func lookup(_ m: ShadowModel, _ s: MapShape, key: UInt64, got: Int32, out: [UInt8] = []) -> [String] {
        var c = Call(.lookup); c.key = .int(key)
        return m.check(2, c, errno(got, out: out), shape: s).map(\.signature)
    }

    func createErrors(_ t: BPFMapType, key: UInt32 = 4, value: UInt32 = 4, max: UInt32 = 4, flags: UInt32 = 0, extra: UInt64 = 0,
                      facts: KernelFacts = .linux6_18) -> Set<Int32> {
        var c = Call(.create); c.type = t; c.keySize = key; c.valueSize = value; c.maxEntries = max; c.mapFlags = flags; c.mapExtra = extra
        return ShadowModel.createErrors(c, cpus: 2).union(ShadowModel(cpus: 2, facts: facts).devcpuCreateErrors(c))
    }

    /// Each create rule as probed on 6.18 (probe: /tmp C programs, see the README's Fuzzing section).
    func testCreateRules() {
        XCTAssertEqual(createErrors(.devmap), [])
        XCTAssertEqual(createErrors(.devmap, value: 8), [])
        XCTAssertEqual(createErrors(.devmap, value: 12), [EINVAL])
        XCTAssertEqual(createErrors(.devmap, key: 8), [EINVAL])
        XCTAssertEqual(createErrors(.devmap, flags: BPFMapFlags.rdonlyProg), [EINVAL])
        XCTAssertEqual(createErrors(.devmap, flags: BPFMapFlags.rdonly), [])
        XCTAssertEqual(createErrors(.devmapHash, max: 0x8000_0001), [EINVAL])
        XCTAssertEqual(createErrors(.cpumap, flags: BPFMapFlags.rdonly), [EINVAL], "a cpumap takes only NUMA_NODE")
        XCTAssertEqual(createErrors(.cpumap, max: 256), [])
        XCTAssertEqual(createErrors(.cpumap, max: 257), [E2BIG], "past NR_CPUS (fact cpumap_max_entries)")
        XCTAssertEqual(createErrors(.stackTrace, value: 8), [])
        XCTAssertEqual(createErrors(.stackTrace, value: 12), [EINVAL])
        XCTAssertEqual(createErrors(.stackTrace, value: 127 * 8), [])
        XCTAssertEqual(createErrors(.stackTrace, value: 128 * 8), [EINVAL], "more frames than perf_event_max_stack")
        XCTAssertEqual(createErrors(.stackTrace, value: 64, flags: BPFMapFlags.stackBuildID), [])
        XCTAssertEqual(createErrors(.stackTrace, value: 40, flags: BPFMapFlags.stackBuildID), [EINVAL])
        XCTAssertEqual(createErrors(.stackTrace, value: 8, max: 0x8000_0001), [E2BIG])
        XCTAssertEqual(createErrors(.stackTrace, value: 8, flags: BPFMapFlags.zeroSeed), [EINVAL])
        let mm = BPFMapFlags.mmapable
        XCTAssertEqual(createErrors(.arena, key: 0, value: 0, max: 1, flags: mm), [])
        XCTAssertEqual(createErrors(.arena, key: 0, value: 0, max: 1), [EINVAL], "MMAPABLE is required")
        XCTAssertEqual(createErrors(.arena, key: 4, value: 0, max: 1, flags: mm), [EINVAL])
        XCTAssertEqual(createErrors(.arena, key: 0, value: 0, max: 1 << 20, flags: mm), [])
        XCTAssertEqual(createErrors(.arena, key: 0, value: 0, max: (1 << 20) + 1, flags: mm), [E2BIG])
        XCTAssertEqual(createErrors(.arena, key: 0, value: 0, max: 1, flags: mm, extra: 0x1001), [EINVAL])
        XCTAssertEqual(createErrors(.arena, key: 0, value: 0, max: 2, flags: mm, extra: 0xFFFF_F000), [ERANGE], "crosses a 4 GiB boundary")
        XCTAssertEqual(createErrors(.arena, key: 0, value: 0, max: 1, flags: mm | BPFMapFlags.rdonly), [EINVAL])
        var old = KernelFacts.linux6_18
        old.devcpu.arenaErrno = EINVAL
        XCTAssertEqual(createErrors(.arena, key: 0, value: 0, max: 1, flags: mm, facts: old), [EINVAL], "no arena (6.1): fact arena")
    }

    /// A kernel that took a create the rules refuse is a finding.
    func testCreateRefusalTamperedIsAFinding() {
        let m = ShadowModel(cpus: 2)
        var c = Call(.create); c.type = .cpumap; c.keySize = 4; c.valueSize = 4; c.maxEntries = 4; c.mapFlags = BPFMapFlags.wronly
        let s = shape(.cpumap)
        XCTAssertEqual(m.check(0, c, CallResult(), shape: s).map(\.signature), ["create:errno"])
    }

    func testDevmapUpdateAndLookup() {
        let (m, s) = model(.devmap)
        XCTAssertEqual(update(m, s, key: 0, value: .int(1), got: 0), [])
        XCTAssertEqual(lookup(m, s, key: 0, got: 0, out: [1, 0, 0, 0]), [])
        XCTAssertEqual(lookup(m, s, key: 0, got: 0, out: [2, 0, 0, 0]).first, "lookup:value", "the lookup must give the ifindex written")
        XCTAssertEqual(lookup(m, s, key: 1, got: 0, out: [1, 0, 0, 0]), ["lookup:errno"], "an empty entry is ENOENT")
        XCTAssertEqual(update(m, s, key: 1, value: .int(999), got: 0), ["update:errno"], "ifindex 999 does not exist in the netns")
        XCTAssertEqual(update(m, s, key: 1, value: .int(999), got: EINVAL), [])
        XCTAssertEqual(update(m, s, key: 2, value: .int(1), flags: BPFUpdateFlags.noExist, got: EEXIST), [], "NOEXIST is always EEXIST")
        XCTAssertEqual(update(m, s, key: 2, value: .int(1), flags: BPFUpdateFlags.exist, got: 0), [], "EXIST is ignored")
        XCTAssertEqual(update(m, s, key: 4, value: .int(1), got: E2BIG), [])
        XCTAssertEqual(update(m, s, key: 4, value: .int(1), flags: 3, got: E2BIG), ["update:errno"], "flags come first: EINVAL")
        XCTAssertEqual(update(m, s, key: 0, value: .int(0), got: 0), [], "ifindex 0 empties the entry")
        XCTAssertEqual(lookup(m, s, key: 0, got: 0, out: [1, 0, 0, 0]), ["lookup:errno"])
        var d = Call(.delete); d.key = .int(3)
        XCTAssertEqual(m.check(3, d, errno(ENOENT), shape: s).map(\.signature), ["delete:errno"], "a devmap deletes an empty entry with success")
        d.key = .int(4)
        XCTAssertEqual(m.check(4, d, errno(EINVAL), shape: s), [])
    }

    /// An 8-byte value: ifindex and program fd in, ifindex and program id (0) out.
    func testDevmapProgramValue() {
        let (m, s) = model(.devmap, value: 8)
        XCTAssertEqual(update(m, s, key: 0, value: .bytes([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]), got: 0), [])
        XCTAssertEqual(lookup(m, s, key: 0, got: 0, out: [1, 0, 0, 0, 0, 0, 0, 0]), [])
        XCTAssertEqual(lookup(m, s, key: 0, got: 0, out: [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).first, "lookup:value", "the fd must come back as the program id")
        XCTAssertEqual(update(m, s, key: 1, value: .bytes([1, 0, 0, 0, 0x3f, 0x42, 0x0f, 0]), got: 0), ["update:errno"], "fd 999999 is no devmap program")
        XCTAssertEqual(update(m, s, key: 1, value: .bytes([0, 0, 0, 0, 3, 0, 0, 0]), got: EINVAL), [], "ifindex 0 with a program fd")
    }

    func testDevmapHashRules() {
        let (m, s) = model(.devmapHash, max: 2)
        XCTAssertEqual(update(m, s, key: 7, value: .int(1), got: 0), [])
        XCTAssertEqual(update(m, s, key: 7, value: .int(999), flags: BPFUpdateFlags.noExist, got: EEXIST), [], "EEXIST before the ifindex")
        XCTAssertEqual(update(m, s, key: 8, value: .int(0), got: 0), ["update:errno"], "ifindex 0 is EINVAL in a devmap_hash")
        XCTAssertEqual(update(m, s, key: 8, value: .int(1), flags: BPFUpdateFlags.exist, got: 0), [], "EXIST is ignored")
        XCTAssertEqual(update(m, s, key: 9, value: .int(1), got: 0), ["update:errno"], "full: E2BIG")
        XCTAssertEqual(update(m, s, key: 9, value: .int(999), got: EINVAL), [], "the ifindex is resolved before the full check")
        XCTAssertEqual(lookup(m, s, key: 8, got: 0, out: [1, 0, 0, 0]), [])
        var d = Call(.delete); d.key = .int(100)
        XCTAssertEqual(m.check(3, d, errno(0), shape: s).map(\.signature), ["delete:errno"])
    }

    func testCpumapRules() {
        let (m, s) = model(.cpumap)
        XCTAssertEqual(update(m, s, key: 0, value: .int(64), got: 0), [])
        XCTAssertEqual(lookup(m, s, key: 0, got: 0, out: [64, 0, 0, 0]), [])
        XCTAssertEqual(update(m, s, key: 1, value: .int(16385), got: 0), ["update:errno"], "qsize > 16384: EOVERFLOW")
        XCTAssertEqual(update(m, s, key: 2, value: .int(16385), got: EOVERFLOW), [], "the qsize before the CPU")
        XCTAssertEqual(update(m, s, key: 2, value: .int(64), got: 0), ["update:errno"], "cpu 2 is not possible: ENODEV")
        XCTAssertEqual(update(m, s, key: 2, value: .int(0), got: ENODEV), [])
        XCTAssertEqual(update(m, s, key: 1, value: .int(16385), flags: BPFUpdateFlags.noExist, got: EEXIST), [])
        XCTAssertEqual(update(m, s, key: 0, value: .int(0), got: 0), [], "qsize 0 empties the entry")
        XCTAssertEqual(lookup(m, s, key: 0, got: ENOENT), [])
        let (m8, s8) = model(.cpumap, value: 8)
        XCTAssertEqual(update(m8, s8, key: 0, value: .bytes([64, 0, 0, 0, 0x3f, 0x42, 0x0f, 0]), got: ENOMEM), [], "a closed program fd fails the entry's allocation")
        XCTAssertEqual(update(m8, s8, key: 0, value: .bytes([64, 0, 0, 0, 0x3f, 0x42, 0x0f, 0]), got: 0), ["update:errno"])
    }

    /// The walk of a devmap gives every index; the lookups find exactly the entries.
    func testDevmapWalk() {
        let (m, s) = model(.devmap, max: 2)
        XCTAssertEqual(update(m, s, key: 1, value: .int(1), got: 0), [])
        var r = CallResult(); r.walkEnd = ENOENT
        r.walk = [([0, 0, 0, 0], nil), ([1, 0, 0, 0], [1, 0, 0, 0])]
        XCTAssertEqual(m.check(3, Call(.walk), r, shape: s), [])
        r.walk = [([0, 0, 0, 0], [1, 0, 0, 0]), ([1, 0, 0, 0], [1, 0, 0, 0])]
        XCTAssertEqual(m.check(4, Call(.walk), r, shape: s).map(\.signature), ["walk:value"], "entry 0 is empty")
    }

    /// Without the private netns the executor answers devmap updates itself (EOPNOTSUPP), and the model expects it.
    func testNoNetnsRefusal() {
        let (m, s) = model(.devmap, netns: false)
        XCTAssertEqual(update(m, s, key: 0, value: .int(1), got: EOPNOTSUPP), [])
        XCTAssertEqual(update(m, s, key: 0, value: .int(1), got: 0), ["update:errno"], "an update made outside the netns is a finding")
    }

    func testStackTraceAndArenaElements() {
        let (m, s) = model(.stackTrace, value: 16, max: 5)
        XCTAssertEqual(lookup(m, s, key: 1, got: ENOENT), [])
        XCTAssertEqual(lookup(m, s, key: 1, got: 0, out: [UInt8](repeating: 0, count: 16)), ["lookup:errno"], "an empty stack map has no ids")
        XCTAssertEqual(update(m, s, key: 1, value: .pattern(1, len: nil), got: EINVAL), [])
        XCTAssertEqual(update(m, s, key: 1, value: .pattern(1, len: nil), got: 0), ["update:errno"])
        var d = Call(.delete); d.key = .int(7)
        XCTAssertEqual(m.check(3, d, errno(ENOENT), shape: s), [], "7 < 8 buckets")
        d.key = .int(8)
        XCTAssertEqual(m.check(4, d, errno(ENOENT), shape: s).map(\.signature), ["delete:errno"], "past the buckets: E2BIG")
        var ld = Call(.lookupAndDelete); ld.key = .int(0)
        XCTAssertEqual(m.check(5, ld, errno(ENOENT), shape: s), [])
        XCTAssertEqual(m.check(6, ld, errno(ENOTSUPP), shape: s).map(\.signature), ["lookup_and_delete:errno"], "fact stack_lookup_and_delete")
        let (a, sa) = model(.arena)
        XCTAssertEqual(a.check(1, Call(.lookup), errno(EINVAL), shape: sa), [])
        XCTAssertEqual(a.check(2, Call(.update), errno(EOPNOTSUPP), shape: sa), [])
        XCTAssertEqual(a.check(3, Call(.delete), errno(0), shape: sa).map(\.signature), ["delete:errno"])
        XCTAssertEqual(a.check(4, Call(.nextKey), errno(EOPNOTSUPP), shape: sa), [])
        var w = CallResult(); w.walkEnd = ENOENT
        XCTAssertEqual(a.check(5, Call(.walk), w, shape: sa).map(\.signature), ["walk:errno"], "an arena walk ends at once with EOPNOTSUPP")
        var lb = Call(.lookupBatch); lb.count = 4
        XCTAssertEqual(a.check(6, lb, errno(ENOTSUPP), shape: sa), [])
    }
}
