// The ZERO_SEED walk-order oracle: twins with one history must walk alike (tampered: a finding; on the kernel: none).
import BPFKit
@testable import Fuzz
import Glibc
import XCTest

final class ZeroSeedOrderTests: XCTestCase {
    let shape = MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, flags: BPFMapFlags.zeroSeed, cpus: 2)

    /// Twins holding keys 1 and 2, then walks answered with `orderA` and `orderB`.
    func findings(_ orderA: [UInt64], _ orderB: [UInt64], seedB: UInt32 = BPFMapFlags.zeroSeed) -> [String] {
        let m = ShadowModel(cpus: 2)
        var out: [String] = []
        var i = 0
        func check(_ c: Call, _ r: CallResult = CallResult(), _ s: MapShape? = nil) { out += m.check(i, c, r, shape: s ?? shape).map(\.signature); i += 1 }
        for slot in 0..<2 {
            var c = Call(.create, map: slot); c.maxEntries = 16; c.mapFlags = slot == 0 ? BPFMapFlags.zeroSeed : seedB
            check(c, CallResult(), MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, flags: c.mapFlags, cpus: 2))
        }
        for k in [1, 2] as [UInt64] {
            for slot in 0..<2 { var u = Call(.update, map: slot); u.key = .int(k); u.value = .int(k); check(u) }
        }
        for (slot, order) in [(0, orderA), (1, orderB)] {
            var r = CallResult(); r.walkEnd = ENOENT
            r.walk = order.map { (Layout.intBytes($0, 4), Layout.intBytes($0, 8)) }
            check(Call(.walk, map: slot), r)
        }
        return out
    }

    func testTwinsWalkingInDifferentOrdersIsAFinding() {
        XCTAssertEqual(findings([1, 2], [1, 2]), [])
        XCTAssertEqual(findings([1, 2], [2, 1]), ["walk:walk"])
        XCTAssertEqual(findings([1, 2], [2, 1], seedB: 0), [], "a map with a random seed may walk in any order")
    }

    /// Twin programs on the kernel: no finding, and the walks compared hold keys.
    func testTwinProgramsAgreeOnTheKernel() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2)")
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 3)
        var g = Generator(seed: 11)
        var compared = 0
        for _ in 0..<40 {
            let p = g.twinProgram()
            let rep = f.execute(p, all: true)
            XCTAssertEqual(rep.findings, [], p.text)
            if let last = rep.results.last, last.walkEnd == ENOENT, last.walk.count >= 2 { compared += 1 }
        }
        XCTAssertGreaterThan(compared, 5, "twin walks with at least two keys")
    }
}
