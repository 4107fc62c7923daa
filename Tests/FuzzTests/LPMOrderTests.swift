// The LPM walk-order oracle: get_next_key returns the trie's post-order (the kernel's own example, a tampered order, and generated tries).
import BPFKit
@testable import Fuzz
import Glibc
import XCTest

final class LPMOrderTests: XCTestCase {
    /// An 8-byte LPM key (prefixlen, then a.b.c.d).
    func key(_ plen: UInt32, _ a: UInt8, _ b: UInt8, _ c: UInt8 = 0, _ d: UInt8 = 0) -> [UInt8] {
        Layout.intBytes(UInt64(plen), 4) + [a, b, c, d]
    }

    /// lpm_trie.c's example: 192.168.0.0/24, 192.168.1.0/24, 192.168.128.0/24, then 192.168.0.0/16.
    func testKernelsOwnExampleIsPostOrder() {
        let order = [key(24, 192, 168, 0), key(24, 192, 168, 1), key(24, 192, 168, 128), key(16, 192, 168)]
        XCTAssertEqual(order.shuffled().sorted(by: MapModel.lpmPostOrderPrecedes), order)
    }

    func model(_ keys: [[UInt8]]) -> (ShadowModel, MapShape) {
        let m = ShadowModel(cpus: 2)
        let s = MapShape(type: .lpmTrie, keySize: 8, valueSize: 8, maxEntries: 16, flags: BPFMapFlags.noPrealloc, cpus: 2)
        var c = Call(.create); c.type = .lpmTrie; c.keySize = 8; c.maxEntries = 16; c.mapFlags = BPFMapFlags.noPrealloc
        XCTAssertEqual(m.check(0, c, CallResult(), shape: s), [])
        for (i, k) in keys.enumerated() {
            var u = Call(.update); u.key = .bytes(k); u.value = .int(1)
            XCTAssertEqual(m.check(i + 1, u, CallResult(), shape: s), [])
        }
        return (m, s)
    }

    func testAWalkOutOfPostOrderIsAFinding() {
        let keys = [key(16, 192, 168), key(24, 192, 168, 1), key(24, 192, 168, 0)]
        for (order, want) in [([2, 1, 0], [String]()), ([0, 2, 1], ["walk:walk"]), ([1, 2, 0], ["walk:walk"])] {
            let (m, s) = model(keys)
            var r = CallResult(); r.walkEnd = ENOENT
            r.walk = order.map { (keys[$0], Layout.intBytes(1, 8)) }
            XCTAssertEqual(m.check(9, Call(.walk), r, shape: s).map(\.signature), want, "\(order)")
        }
    }

    /// Generated LPM programs on the kernel: every walk agrees (the post-order check included).
    func testKernelWalksInPostOrder() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2)")
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 5)
        var g = Generator(seed: 99)
        var long = 0
        for _ in 0..<60 {
            var create = g.create(slot: 0, type: .lpmTrie)
            create.mapFlags = BPFMapFlags.noPrealloc; create.maxEntries = 16; create.keySize = 8
            var calls = [create]
            for _ in 0..<24 { var u = Call(.update); u.key = g.key(.lpmTrie, 8, max: 16); calls.append(u) }
            calls.append(Call(.walk))
            let rep = f.execute(Program(calls), all: true)
            XCTAssertEqual(rep.findings, [], Program(calls).text)
            if (rep.results.last?.walk.count ?? 0) >= 3 { long += 1 }
        }
        XCTAssertGreaterThan(long, 10, "walks of at least three prefixes")
    }
}
