// The storage maps' oracles on tampered kernel answers (owners, kinds, flags, drops, cgroup storage), the create rules, and live replays of the seeds.
import Basics
import BPFKit
@testable import Fuzz
import Glibc
import XCTest

final class StorageOracleTests: XCTestCase {
    /// Runs `text` through a model with made-up kernel answers: `answers[i]` is call i's errno
    /// (0 when absent), `outs[i]` its output bytes; an `open` gets fd 100 + N and fact 7.
    func check(_ text: String, _ answers: [Int: Int32] = [:], outs: [Int: [UInt8]] = [:]) throws -> [String] {
        let m = ShadowModel(cpus: 2)
        var findings: [String] = []
        for (i, c) in try ProgramText.parse(text).calls.enumerated() {
            var r = CallResult()
            r.errno = answers[i] ?? 0
            var shape: MapShape? = nil
            if c.op == .create {
                shape = MapShape(type: c.type, keySize: Int(c.keySize), valueSize: Int(c.valueSize), maxEntries: 0,
                                 flags: c.mapFlags, cpus: 2, id: 50 + UInt32(c.map), btf: c.btf)
                r.count = 50 + UInt32(c.map)
            }
            if c.op == .open { r.count = 100 + c.count; r.out = Layout.intBytes(7, 8) }
            if let o = outs[i] { r.out = o }
            findings += m.check(i, c, r, shape: r.errno == 0 ? shape : nil).map { "\($0.signature) \($0.message)" }
        }
        return findings
    }

    let sk = """
    create map=0 type=sk_storage key=4 value=8 max=0 flags=NO_PREALLOC btf=plain
    open obj=0 kind=udp
    open obj=1 kind=file
    update map=0 key=obj:0 value=@v1
    lookup map=0 key=obj:0
    """

    func testSocketStorageAgreesAndReturnsTheValue() throws {
        XCTAssertEqual(try check(sk, outs: [4: Layout.pattern(1, 8)]), [])
    }

    func testALookupMustReturnWhatWasWritten() throws {
        let f = try check(sk, outs: [4: Layout.pattern(2, 8)])
        XCTAssertEqual(f.count, 1)
        XCTAssertTrue(f[0].hasPrefix("lookup:value storage of owner"), f[0])
    }

    /// `text` agrees with the kernel answering `right` at call `at`, and the model reports
    /// exactly one finding starting with `finding` when the kernel answers success there.
    func assertTamperedSuccessFails(_ text: String, at: Int, right: Int32, _ finding: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let outs = [4: Layout.pattern(1, 8)]
        XCTAssertEqual(try check(text, [at: right], outs: outs), [], file: file, line: line)
        let f = try check(text, outs: outs)
        XCTAssertEqual(f.count, 1, "\(f)", file: file, line: line)
        XCTAssertTrue(f.first?.hasPrefix(finding) ?? false, "\(f)", file: file, line: line)
    }

    func testWrongKindIsENOTSOCKForSocketStorage() throws {
        try assertTamperedSuccessFails(sk + "\nupdate map=0 key=obj:1 value=@v1", at: 5, right: ENOTSOCK,
                                       "update:errno got success, model expects {ENOTSOCK}")
    }

    func testNoexistOnPresentOwnerIsEEXIST() throws {
        try assertTamperedSuccessFails(sk + "\nupdate map=0 key=obj:0 value=@v2 flags=NOEXIST", at: 5, right: EEXIST,
                                       "update:errno got success, model expects {EEXIST}")
    }

    func testAClosedOwnerFdIsEBADF() throws {
        try assertTamperedSuccessFails(sk + "\nlookup map=0 key=obj:5", at: 5, right: EBADF, "lookup:errno got success, model expects {EBADF}")
    }

    func testTaskStorageRefusesASocketWithEBADF() throws {
        let text = """
        create map=0 type=task_storage key=4 value=8 max=0 flags=NO_PREALLOC btf=plain
        open obj=0 kind=pidfd_self
        open obj=1 kind=udp
        update map=0 key=obj:0 value=@v1
        update map=0 key=obj:0 value=@v1 flags=EXIST
        update map=0 key=obj:1 value=@v1
        """
        try assertTamperedSuccessFails(text, at: 5, right: EBADF, "update:errno got success, model expects {EBADF}")
    }

    /// Storage goes with its owner: a dropped object's fd is closed (EBADF), and the object
    /// opened in its place has no storage (ENOENT), even if its fd number is the same.
    func testStorageOfADroppedOwnerIsGone() throws {
        let text = sk + "\ndrop obj=0\nlookup map=0 key=obj:0\nopen obj=0 kind=udp\nlookup map=0 key=obj:0"
        XCTAssertEqual(try check(text, [6: EBADF, 8: ENOENT], outs: [4: Layout.pattern(1, 8)]), [])
        let f = try check(text, [6: EBADF], outs: [4: Layout.pattern(1, 8), 8: Layout.pattern(1, 8)])
        XCTAssertEqual(f.count, 1)
        XCTAssertTrue(f[0].hasPrefix("lookup:errno got success, model expects {ENOENT}"), f[0])
    }

    /// Two pidfds of this process name one task: storage written through one is read through the other.
    func testTwoPidfdsOfOneTaskShareStorage() throws {
        let text = """
        create map=0 type=task_storage key=4 value=8 max=0 flags=NO_PREALLOC btf=plain
        open obj=0 kind=pidfd_self
        open obj=1 kind=pidfd_self
        update map=0 key=obj:0 value=@v1
        lookup map=0 key=obj:1
        """
        XCTAssertEqual(try check(text, outs: [4: Layout.pattern(1, 8)]), [])
        XCTAssertTrue(try check(text, [4: ENOENT]).first?.hasPrefix("lookup:errno got ENOENT, model expects {success}") ?? false)
    }

    func testLocalStorageHasNoNextKeyOrBatches() throws {
        let text = sk + "\nnext_key map=0 key=obj:0\nlookup_batch map=0 count=4\nlookup_and_delete map=0 key=obj:0"
        XCTAssertEqual(try check(text, [5: ENOTSUPP, 6: ENOTSUPP, 7: ENOTSUPP], outs: [4: Layout.pattern(1, 8)]), [])
        let f = try check(text, [5: ENOENT, 6: ENOTSUPP, 7: ENOTSUPP], outs: [4: Layout.pattern(1, 8)])
        XCTAssertEqual(f.map { String($0.prefix(18)) }, ["next_key:errno got"])
    }

    func testCgroupStorageWithoutAProgramHasNoElements() throws {
        let text = """
        create map=0 type=cgroup_storage key=8 value=8 max=0
        update map=0 key=#1 value=@v1
        update map=0 key=#1 value=@v1 flags=NOEXIST
        lookup map=0 key=#1
        delete map=0 key=#1
        """
        XCTAssertEqual(try check(text, [1: ENOENT, 2: EINVAL, 3: ENOENT, 4: EINVAL]), [])
        let f = try check(text, [1: 0, 2: EINVAL, 3: ENOENT, 4: ENOENT])
        XCTAssertEqual(f.count, 2)
        XCTAssertTrue(f[0].hasPrefix("update:errno got success, model expects {ENOENT}"), f[0])
        XCTAssertTrue(f[1].hasPrefix("delete:errno got ENOENT, model expects {EINVAL}"), f[1])
    }

    func testCreateRules() {
        let m = ShadowModel(cpus: 2)
        var c = Call(.create); c.type = .skStorage; c.keySize = 4; c.valueSize = 8; c.maxEntries = 0
        c.mapFlags = BPFMapFlags.noPrealloc; c.btf = BTFValue.plain
        XCTAssertEqual(m.storageCreateErrors(c), [])
        var d = c; d.mapFlags = 0
        XCTAssertEqual(m.storageCreateErrors(d), [EINVAL], "NO_PREALLOC is required")
        d = c; d.btf = 0
        XCTAssertEqual(m.storageCreateErrors(d), [EINVAL], "BTF is required")
        d = c; d.maxEntries = 1
        XCTAssertEqual(m.storageCreateErrors(d), [EINVAL], "max_entries must be 0")
        d = c; d.valueSize = 65408
        XCTAssertEqual(m.storageCreateErrors(d), [E2BIG], "past BPF_LOCAL_STORAGE_MAX_VALUE_SIZE")
        d = c; d.mapFlags |= BPFMapFlags.clone; d.type = .taskStorage
        XCTAssertEqual(m.storageCreateErrors(d), [], "CLONE is taken by every local storage type")
        var g = Call(.create); g.type = .percpuCgroupStorage; g.keySize = 16; g.valueSize = 32769; g.maxEntries = 0
        XCTAssertEqual(m.storageCreateErrors(g), [E2BIG])
        g.valueSize = 8; g.keySize = 12
        XCTAssertEqual(m.storageCreateErrors(g), [EINVAL], "key is a u64 or the 16-byte struct")
        // A tampered create: the kernel takes a sk_storage without NO_PREALLOC.
        XCTAssertEqual(m.check(0, d.with { $0.mapFlags = 0; $0.type = .skStorage }, CallResult(), shape: nil).map(\.signature), ["create:errno"])
    }

    /// A kernel without cgrp_storage (6.1, probed: fact type_cgrp_storage=EINVAL) refuses
    /// every create of it; a create that succeeds there is a finding.
    func testAMissingTypeIsAProbedFact() {
        var facts = KernelFacts.linux6_18
        facts.storageTypeErrno[BPFMapType.cgrpStorage.rawValue] = EINVAL
        let m = ShadowModel(cpus: 2, facts: facts)
        var c = Call(.create); c.type = .cgrpStorage; c.keySize = 4; c.valueSize = 8; c.maxEntries = 0
        c.mapFlags = BPFMapFlags.noPrealloc; c.btf = BTFValue.plain
        XCTAssertEqual(m.storageCreateErrors(c), [EINVAL])
        XCTAssertEqual(ShadowModel(cpus: 2).storageCreateErrors(c), [], "6.18 has it")
        let shape = MapShape(type: .cgrpStorage, keySize: 4, valueSize: 8, maxEntries: 0, flags: BPFMapFlags.noPrealloc, cpus: 2, btf: BTFValue.plain)
        XCTAssertEqual(m.check(0, c, CallResult(), shape: shape).map(\.signature), ["create:errno"])
        XCTAssertTrue(facts.properties.contains { $0.name == "fact.type_cgrp_storage" && $0.value == "EINVAL" })
    }

    /// Flags past EXIST are EINVAL once the owner's fd is resolved; EXIST on an absent owner ENOENT;
    /// a second delete ENOENT.
    func testFlagsExistAndDelete() throws {
        let text = sk + "\nupdate map=0 key=obj:0 value=@v1 flags=0x8\nupdate map=0 key=obj:5 value=@v1 flags=0x8\ndelete map=0 key=obj:0\ndelete map=0 key=obj:0"
        XCTAssertEqual(try check(text, [5: EINVAL, 6: EBADF, 8: ENOENT], outs: [4: Layout.pattern(1, 8)]), [])
        let f = try check(text, [5: EINVAL, 6: EINVAL, 8: 0], outs: [4: Layout.pattern(1, 8)])
        XCTAssertEqual(f.map { String($0.prefix(13)) }, ["update:errno ", "delete:errno "])
        let exist = sk.replacingOccurrences(of: "value=@v1\n", with: "value=@v1 flags=EXIST\n")
        XCTAssertEqual(try check(exist, [3: ENOENT, 4: ENOENT]), [])
        let g = try check(exist, [4: ENOENT])
        XCTAssertEqual(g.count, 1, "\(g)")
        XCTAssertTrue(g.first?.hasPrefix("update:errno got success, model expects {ENOENT}") ?? false, "\(g)")
    }

    /// inode storage on a program's fd (an anon inode every program and perf event shares) is
    /// checked for its errno set only: success or ENOENT, never EBADF.
    func testInodeStorageOnASharedInodeIsLoose() throws {
        let text = """
        create map=0 type=inode_storage key=4 value=8 max=0 flags=NO_PREALLOC btf=plain
        open obj=0 kind=prog_xdp
        update map=0 key=obj:0 value=@v1 flags=NOEXIST
        lookup map=0 key=obj:0
        """
        XCTAssertEqual(try check(text, [2: EEXIST, 3: ENOENT]), [])
        XCTAssertEqual(try check(text, [2: 0], outs: [3: Layout.pattern(9, 8)]), [])
        XCTAssertTrue(try check(text, [2: EBADF]).first?.hasPrefix("update:errno got EBADF") ?? false)
    }

    /// The probed value size limit is the kernel's: a create at it succeeds, one byte more is E2BIG.
    func testStorageMaxValueProbe() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: probes storage maps with bpf(2)")
        let facts = KernelFacts.probe(runtime: KernelRuntime()).facts
        XCTAssertEqual(facts.storageTypeErrno[BPFMapType.skStorage.rawValue], 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        let v = facts.storageMaxValue
        let p = try ProgramText.parse("""
        create map=0 type=sk_storage key=4 value=\(v) max=0 flags=NO_PREALLOC btf=plain
        create map=1 type=sk_storage key=4 value=\(v + 1) max=0 flags=NO_PREALLOC btf=plain
        """)
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings, [])
        XCTAssertEqual(rep.results.map(\.errno), [0, E2BIG])
    }

    /// The seeds agree with the live kernel (one per pair of types).
    func testSeedsAgreeWithKernel() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: creates storage maps, sockets, pidfds and a cgroup")
        for name in ["sk-inode-storage", "task-cgrp-storage"] {
            let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
            let p = try ProgramText.load(path: FuzzTests.corpusDir + "/\(name).prog")
            let rep = f.execute(p, all: true)
            XCTAssertEqual(rep.findings, [], name)
            if name == "sk-inode-storage" {
                XCTAssertEqual(rep.results[0].errno, 0, "sk_storage created")
                XCTAssertEqual(rep.results[7].out, Layout.pattern(1, 8), "the socket's storage")
                XCTAssertEqual(rep.results[9].errno, ENOTSOCK, "a file is no socket")
            } else {
                XCTAssertEqual(rep.results[9].out, Layout.pattern(1, 8), "the task's storage through another pidfd")
            }
        }
    }
}

extension Call {
    func with(_ f: (inout Call) -> Void) -> Call { var c = self; f(&c); return c }
}
