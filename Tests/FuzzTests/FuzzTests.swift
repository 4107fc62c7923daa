import Basics
import BPFKit
import Foundation
@testable import Fuzz
import Glibc

import XCTest

/// The fuzzer against the real kernel: the shadow model must agree with 6.18 for every
/// covered map type, the text format and replay must be deterministic, the minimizer must
/// shrink, and the oracles must fail when fed wrong data.
final class FuzzTests: XCTestCase {
    static var corpusDir: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../corpora/maps").standardized.path
    }

    override func setUp() { pinCurrentThread(cpu: 0) }

    /// A fuzzer on the kernel: only tests that make bpf(2) calls take one, and they skip
    /// without root (the model, text format, generator and corpus tests run anywhere).
    func fuzzer(seed: UInt64 = 1) throws -> Fuzzer {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2)")
        return Fuzzer(runtime: KernelRuntime(), seed: seed)
    }

    func run(_ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> ExecReport {
        let rep = try fuzzer().execute(try ProgramText.parse(text), all: true)
        XCTAssertEqual(rep.findings, [], file: file, line: line)
        return rep
    }

    // MARK: shadow model vs kernel, per map type

    /// Exact errnos and values the model predicts and 6.18 returns, one program per type.
    func testHashSemanticsExact() throws {
        let rep = try run("""
        create map=0 type=hash key=4 value=8 max=2
        update map=0 key=#1 value=@v1 flags=NOEXIST
        update map=0 key=#1 value=@v2 flags=NOEXIST
        update map=0 key=#2 value=@v2 flags=EXIST
        update map=0 key=#2 value=@v2
        update map=0 key=#3 value=@v3
        lookup map=0 key=#1
        delete map=0 key=#3
        walk map=0
        """)
        XCTAssertEqual(rep.results.map(\.errno), [0, 0, EEXIST, ENOENT, 0, E2BIG, 0, ENOENT, 0])
        XCTAssertEqual(rep.results[6].out, Layout.pattern(1, 8))
        XCTAssertEqual(Set(rep.results[8].walk.map(\.key)), [Layout.intBytes(1, 4), Layout.intBytes(2, 4)])
    }

    func testArrayQueueStackLpmSemanticsExact() throws {
        let rep = try run("""
        create map=0 type=array key=4 value=4 max=2
        update map=0 key=#1 value=@v1 flags=NOEXIST
        update map=0 key=#2 value=@v1
        delete map=0 key=#0
        create map=1 type=queue key=0 value=8 max=1
        update map=1 value=@v1
        update map=1 value=@v2
        update map=1 value=@v2 flags=EXIST
        lookup_and_delete map=1
        create map=2 type=lpm_trie key=8 value=8 max=1 flags=NO_PREALLOC
        update map=2 key=0x080000000a000000 value=@v1
        update map=2 key=0x100000000a010000 value=@v1
        lookup map=2 key=0x200000000a010203
        create map=3 type=stack key=0 value=4 max=2
        lookup_batch map=3 count=1
        """)
        XCTAssertEqual(rep.results.map(\.errno),
                       [0, EEXIST, E2BIG, EINVAL, 0, 0, E2BIG, 0, 0, 0, 0, ENOSPC, 0, 0, ENOTSUPP])
        XCTAssertEqual(rep.results[8].out, Layout.pattern(2, 8), "BPF_EXIST on a full queue replaced the oldest")
    }

    /// Every seed program (one or more per map type and batch op) agrees with the model.
    func testSeedCorpusAgreesWithKernel() throws {
        let c = Corpus(directory: Self.corpusDir)
        let names = try c.load()
        XCTAssertGreaterThanOrEqual(names.count, 9)
        let f = try fuzzer()
        var types = Set<String>(), ops = Set<CallOp>()
        for (n, p) in zip(names, c.programs) {
            let rep = f.execute(p, all: true)
            XCTAssertEqual(rep.findings, [], n)
            types.formUnion(p.calls.filter { $0.op == .create }.map { ProgramText.typeName($0.type) })
            ops.formUnion(p.calls.map(\.op))
        }
        XCTAssertEqual(types, Set(ProgramText.mapTypes.map(\.0)))
        XCTAssertTrue(ops.isSuperset(of: [.lookupBatch, .lookupAndDeleteBatch, .updateBatch, .deleteBatch]))
    }

    /// Random programs on each covered map type: no disagreement, and every type reaches success.
    func testGeneratedProgramsAgreeForEveryMapType() throws {
        for t in Generator.types {
            var g = Generator(seed: 77 ^ UInt64(t.rawValue))
            let f = try fuzzer()
            var okCalls = 0
            for _ in 0..<60 {
                var calls = [g.create(slot: 0, type: t)]
                for _ in 0..<20 { calls.append(g.call(on: calls[0], slot: 0)) }
                calls.append(Call(.walk, map: 0))
                let rep = f.execute(Program(calls), all: true)
                XCTAssertEqual(rep.findings, [], "\(t): \(Program(calls).text)")
                okCalls += rep.results.dropFirst().filter { $0.errno == 0 }.count
            }
            XCTAssertGreaterThan(okCalls, 100, "\(t) rarely succeeded")
        }
    }

    /// A failed update on a full LRU hash still pops a free node, which evicts the oldest
    /// entry (key 0) halfway through a batch walk. Which half of the walk key 0 falls in
    /// depends on the per-map hash seed, so the walk is repeated: before the model knew
    /// this, about half the runs reported "batch walk ended without 1 key(s)".
    func testFailedLRUUpdateEvictsMidWalkWithoutFinding() throws {
        let p = try ProgramText.load(path: Self.corpusDir + "/regress-lru-failed-update-evicts.prog")
        let f = try fuzzer()
        for run in 0..<12 {
            let rep = f.execute(p, all: true)
            XCTAssertEqual(rep.findings, [], "run \(run)")
            XCTAssertEqual(rep.results[7].errno, EEXIST)
            XCTAssertEqual(Set(rep.results[9].walk.map(\.key)), Set([1, 2, 3].map { Layout.intBytes($0, 4) }),
                           "run \(run): the EEXIST update evicted the oldest key")
        }
    }

    // MARK: the oracle fails on wrong answers

    func testOracleFlagsWrongValueErrnoAndCanary() throws {
        let m = ShadowModel(cpus: 2)
        let shape = MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0, cpus: 2)
        var create = Call(.create); create.keySize = 4; create.valueSize = 8; create.maxEntries = 4
        XCTAssertEqual(m.check(0, create, CallResult(), shape: shape), [])
        var up = Call(.update); up.key = .int(1); up.value = .pattern(1, len: nil)
        XCTAssertEqual(m.check(1, up, CallResult(), shape: shape), [])
        var look = Call(.lookup); look.key = .int(1)
        var r = CallResult(); r.out = Layout.pattern(2, 8)
        XCTAssertEqual(m.check(2, look, r, shape: shape).map(\.signature), ["lookup:value"])
        r = CallResult(); r.errno = ENOENT
        XCTAssertEqual(m.check(3, look, r, shape: shape).map(\.signature), ["lookup:errno"])
        r = CallResult(); r.out = Layout.pattern(1, 8); r.brokenCanaries = ["value"]
        XCTAssertEqual(m.check(4, look, r, shape: shape).map(\.signature), ["lookup:canary"])
        var walk = CallResult(); walk.walkEnd = ENOENT
        walk.walk = [(Layout.intBytes(1, 4), Layout.pattern(1, 8)), (Layout.intBytes(1, 4), Layout.pattern(1, 8))]
        XCTAssertEqual(m.check(5, Call(.walk), walk, shape: shape).map(\.signature), ["walk:walk"])
    }

    /// Element ops run in batches and are checked after each batch (Fuzzer.execute): a lookup
    /// answer tampered on the way back is still the finding of exactly its call, in the first
    /// batch, across a batch's end and after a non-element call; the report stops there.
    func testDeferredElementChecksReportTheTamperedCall() throws {
        let f = try fuzzer()
        var text = "create map=0 type=hash key=4 value=8 max=64\n"
        for k in 0..<40 { text += "update map=0 key=#\(k) value=@v\(k)\nlookup map=0 key=#\(k)\n" }
        text += "freeze map=0\n"
        for k in 0..<4 { text += "lookup map=0 key=#\(k)\n" }
        let p = try ProgramText.parse(text)
        // Lookups at 6 (first batch), 64 (the third: batches are 32 element ops) and 84 (after freeze).
        for target in [6, 64, 84] {
            var ran = 0
            f.around = { _, _, body in
                var r = body()
                if ran == target { r.out = [UInt8](repeating: 0xEE, count: 8) }
                ran += 1
                return r
            }
            let rep = f.execute(p)
            XCTAssertEqual(rep.findings.map(\.call), [target], "tampered call \(target)")
            XCTAssertEqual(rep.findings.map(\.signature), ["lookup:value"])
            XCTAssertEqual(rep.calls, target + 1, "the report ends at the finding")
            XCTAssertGreaterThan(ran, target)
            f.around = nil
            XCTAssertEqual(f.execute(p, all: true).results.count, p.calls.count)
        }
    }

    /// A kernel copy past the declared end of an output buffer hits the guard page: EFAULT, as modelled.
    func testShortOutputBufferIsEFAULTAndCanaryHolds() throws {
        let rep = try run("""
        create map=0 type=percpu_hash key=4 value=12 max=4
        update map=0 key=#1 value=@v1
        lookup map=0 key=#1 out=len:12
        lookup map=0 key=#1 out=BAD
        lookup map=0 key=#1
        """)
        XCTAssertEqual(rep.results.map(\.errno), [0, 0, EFAULT, EFAULT, 0])
        XCTAssertEqual(rep.results[4].out.count, 16 * Probes.possibleCPUs())
        XCTAssertTrue(rep.results.allSatisfy { $0.brokenCanaries.isEmpty })
    }

    // MARK: text format

    func testTextFormatRoundTripsAndErrorsNameFileLine() throws {
        var g = Generator(seed: 9)
        for _ in 0..<50 {
            let p = g.program()
            XCTAssertEqual(try ProgramText.parse(p.text), p)
        }
        let c = try ProgramText.parseCall("update map=0 key=0x01000000 value=@v3 flags=NOEXIST")
        XCTAssertEqual(c.key, .bytes([1, 0, 0, 0]))
        XCTAssertEqual(c.value, .pattern(3, len: nil))
        XCTAssertEqual(c.flags, BPFUpdateFlags.noExist)
        XCTAssertThrowsError(try ProgramText.parse("create map=0 type=hash\nupdate map=0 kye=#1\n", file: "x.prog")) {
            XCTAssertEqual("\($0)", "x.prog:2: update has no argument 'kye'")
        }
        XCTAssertThrowsError(try ProgramText.parse("create map=9 type=hash", file: "y.prog")) {
            XCTAssertEqual("\($0)", "y.prog:1: map=9: slot must be 0...3")
        }
        XCTAssertThrowsError(try ProgramText.parse("# c\nfrob map=0", file: "z.prog")) {
            XCTAssertTrue("\($0)".hasPrefix("z.prog:2: unknown call 'frob'"))
        }
    }

    // MARK: determinism

    func testSameSeedSameCalls() {
        var a = Generator(seed: 1234), b = Generator(seed: 1234), c = Generator(seed: 1235)
        let pa = (0..<20).map { _ in a.program() }, pb = (0..<20).map { _ in b.program() }
        XCTAssertEqual(pa, pb)
        XCTAssertNotEqual(pa, (0..<20).map { _ in c.program() })
    }

    func testReplayIsDeterministic() throws {
        var a = Generator(seed: 1234)
        let pa = (0..<20).map { _ in a.program() }
        let f = try fuzzer()
        // Replays make the same calls and get the same answers. Hash maps draw a random hash
        // seed per map, so bucket order (walk order, batch cuts and ENOSPC) is the one thing
        // that may differ: walks are compared as sets, batch lookups on hash maps by errno class.
        // Left out: races (their interleavings, and so what follows them, differ by design),
        // unpins (the pin's reference goes after an RCU grace period, so a later fd_by_id may or
        // may not find the map), next_id (other processes' maps come and go), and for the same
        // reason as unpins alive, and fd_by_id in programs with outer maps (an outer map's free,
        // and with it the put of its inner maps, is deferred: Lifetime.swift).
        func deferred(_ p: Program) -> Bool {
            let outer = p.calls.contains { $0.op == .create && ($0.type == .arrayOfMaps || $0.type == .hashOfMaps) }
            return p.calls.contains { [.race, .unpin, .nextID, .alive].contains($0.op) || (outer && $0.op == .fdByID) }
        }
        for p in pa.filter({ !deferred($0) }).prefix(10) {
            let r1 = f.execute(p, all: true), r2 = f.execute(p, all: true)
            XCTAssertEqual(r1.findings, r2.findings)
            var types: [Int: BPFMapType] = [:]
            for (i, c) in p.calls.enumerated() {
                if c.op == .create { types[c.map] = r1.results[i].errno == 0 ? c.type : nil }
                let hashy = types[c.map].map { [.hash, .percpuHash, .lruHash, .lruPercpuHash].contains($0) } ?? false
                let (a, b) = (r1.results[i], r2.results[i])
                if hashy && [.lookupBatch, .lookupAndDeleteBatch].contains(c.op) { continue }
                // next_key of a present key is ENOENT when that key comes last in bucket order,
                // which the per-map hash seed decides: both answers must be walk answers.
                if hashy && c.op == .nextKey { XCTAssertEqual([0, ENOENT].contains(a.errno), [0, ENOENT].contains(b.errno), c.description); continue }
                XCTAssertEqual(a.errno, b.errno, "\(i): \(c)")
                // An open's answer is the new object's cookie or id, fresh every time.
                if c.op == .open { continue }
                XCTAssertEqual(a.walkEnd, b.walkEnd, "\(i): \(c)")
                XCTAssertEqual(Set(a.walk.map(\.key)), Set(b.walk.map(\.key)), "\(i): \(c)")
                if types[c.map].map({ $0 == .lruHash || $0 == .lruPercpuHash }) != true { XCTAssertEqual(a.out, b.out, "\(i): \(c)") }
            }
        }
        // The fuzz loop itself: same seed, same programs.
        let f1 = try fuzzer(seed: 42), f2 = try fuzzer(seed: 42)
        for _ in 0..<30 { XCTAssertEqual(f1.step().0, f2.step().0) }
    }

    // MARK: minimizer

    /// A test-only fault planted in the oracle (never the kernel): a lookup of key 5 that
    /// returns @v7 is "wrong". Only create + update(#5, @v7) + lookup(#5) matter.
    func testMinimizerShrinksPlantedFaultToTheCallsThatMatter() throws {
        let f = try fuzzer()
        f.model.plantedFault = { _, c, r in
            c.op == .lookup && c.key == .int(5) && r.errno == 0 && r.out == Layout.pattern(7, 8) ? "planted" : nil
        }
        var g = Generator(seed: 5)
        let create = try ProgramText.parseCall("create map=0 type=lru_hash key=4 value=8 max=64")
        var calls = [create]
        for i in 0..<40 {
            var c = g.call(on: create, slot: 0)
            // (obj_get and fd_by_id replace a slot's fd; a race writes key 5 too.)
            if c.op == .freeze || c.op == .close || c.fd != .map || [.deleteBatch, .lookupAndDeleteBatch, .updateBatch, .objGet, .fdByID, .race].contains(c.op) {
                c = Call(.walk)
            }
            if case .int(5) = c.key { c.key = .int(6) }
            calls.append(c)
            if i == 12 { calls.append(try ProgramText.parseCall("update map=0 key=#5 value=@v7")) }
        }
        calls.append(try ProgramText.parseCall("lookup map=0 key=#5"))
        let long = Program(calls)
        let findings = f.execute(long).findings
        XCTAssertEqual(findings.map(\.signature), ["lookup:planted"], long.text)
        let m = Minimizer.minimize(long, signature: "lookup:planted") { f.execute($0).findings }
        XCTAssertEqual(m.text, """
        create map=0 type=lru_hash key=4 value=8 max=64
        update map=0 key=#5 value=@v7
        lookup map=0 key=#5

        """)
    }

    // MARK: concurrent invariants

    func testTornValueIsDetected() throws {
        let a = SharedValue.encode(writer: 1, key: 7, seq: 10), b = SharedValue.encode(writer: 2, key: 7, seq: 99)
        XCTAssertEqual(try SharedValue.verify(a, key: 7).get(), SharedValue.Decoded(writer: 1, key: 7, seq: 10))
        // First 16 bytes of one write, last 16 of another: what a torn copy looks like.
        let torn = Array(a.prefix(16) + b.suffix(16))
        guard case let .failure(e) = SharedValue.verify(torn, key: 7) else { return XCTFail("torn value accepted") }
        XCTAssertTrue(e.description.hasPrefix("torn"), e.description)
        guard case let .failure(e2) = SharedValue.verify(SharedValue.encode(writer: 1, key: 8, seq: 1), key: 7) else {
            return XCTFail("misfiled value accepted")
        }
        XCTAssertTrue(e2.description.contains("for key 8 read under key 7"))
        XCTAssertEqual(checkSharedBatch(keys: [7, 7], values: [a, b], universe: 8, tornAllowed: false),
                       ["key 7 returned twice in one batch"])
        XCTAssertEqual(checkSharedBatch(keys: [7], values: [torn], universe: 8, tornAllowed: false).count, 1)
        XCTAssertEqual(checkSharedBatch(keys: [7], values: [torn], universe: 8, tornAllowed: true), [])
        XCTAssertEqual(checkSharedBatch(keys: [9], values: [SharedValue.encode(writer: 0, key: 9, seq: 0)], universe: 8,
                                        tornAllowed: false),
                       ["key 9 is outside the key range 0..<8 any worker writes"])
    }

    // MARK: corpus

    /// A corpus program whose replay disagrees with the model is kept as a finding, named by
    /// its file (here through a planted oracle fault: the kernel itself agrees).
    func testCorpusProgramFindingsAreKept() throws {
        let dir = NSTemporaryDirectory() + "bpfstress-fuzz-seeds-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "create map=0 type=hash key=4 value=8 max=4\nupdate map=0 key=#5 value=@v7\nlookup map=0 key=#5\n"
            .write(toFile: dir + "/regress-planted.prog", atomically: true, encoding: .utf8)
        try "create map=0 type=hash key=4 value=8 max=4\nlookup map=0 key=#1\n"
            .write(toFile: dir + "/clean.prog", atomically: true, encoding: .utf8)
        let corpus = Corpus(directory: dir)
        XCTAssertEqual(try corpus.load(), ["clean.prog", "regress-planted.prog"])
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2)")
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1, corpus: corpus)
        f.model.plantedFault = { _, c, r in c.op == .lookup && c.key == .int(5) && r.errno == 0 ? "planted" : nil }
        let failed = f.replayCorpus()
        XCTAssertEqual(failed.map(\.source), [dir + "/regress-planted.prog"])
        XCTAssertEqual(failed.first?.report.findings.map(\.signature), ["lookup:planted"])
        XCTAssertFalse(corpus.keys.isEmpty, "the clean program's signatures were learned")
    }

    func testCorpusKeepsOnlyNewSignatures() throws {
        let dir = NSTemporaryDirectory() + "bpfstress-fuzz-corpus-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = Corpus(directory: dir)
        let p = Program([Call(.walk)])
        XCTAssertTrue(c.consider(p, ["a", "b"]))
        XCTAssertFalse(c.consider(p, ["b"]))
        XCTAssertTrue(c.consider(p, ["c"]))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).count, 2)
        XCTAssertEqual(c.signatures, ["a", "b", "c"])
    }
}
