// Ring buffer pages over mmap on tampered answers (a writable producer page, a range past the double-mapped data, data pages that do not alias), and on the kernel.
import BPFKit
@testable import Fuzz
import Glibc
import XCTest

final class RingMmapOracleTests: XCTestCase {
    /// A model with a ringbuf (slot 0) and a user_ringbuf (slot 1) of two data pages each: six
    /// mappable pages (consumer, producer, data twice).
    func setUpModel() -> (String, CallResult) -> [String] {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let m = ShadowModel(cpus: 2)
        var i = 0
        func shape(_ t: BPFMapType) -> MapShape { MapShape(type: t, keySize: 0, valueSize: 0, maxEntries: 2 * page, flags: 0, cpus: 2) }
        let run: (String, CallResult) -> [String] = { text, r in
            i += 1
            let c = try! ProgramText.parseCall(text)
            return m.check(i, c, r, shape: shape(c.map == 0 ? .ringbuf : .userRingbuf)).map(\.signature)
        }
        XCTAssertEqual(run("create map=0 type=ringbuf key=0 value=0 max=\(2 * page)", CallResult()), [])
        XCTAssertEqual(run("create map=1 type=user_ringbuf key=0 value=0 max=\(2 * page)", CallResult()), [])
        return run
    }

    func answer(_ e: Int32, words: [UInt64] = []) -> CallResult {
        var r = CallResult(); r.errno = e
        r.valuesOut = words.flatMap { Layout.intBytes($0, 8) }
        return r
    }

    func testWhichPagesMapWritable() {
        let run = setUpModel()
        XCTAssertEqual(run("ring_mmap map=0 off=0 len=1 prot=3", answer(0, words: [0])), [], "ringbuf: the consumer page is the user's")
        XCTAssertEqual(run("ring_mmap map=0 off=0 len=2 prot=3", answer(0, words: [0, 0])), ["ring_mmap:errno"], "the producer page is the kernel's")
        XCTAssertEqual(run("ring_mmap map=0 off=1 len=1 prot=3", answer(EPERM)), [])
        XCTAssertEqual(run("ring_mmap map=1 off=0 len=1 prot=3", answer(0, words: [0])), ["ring_mmap:errno"], "user_ringbuf: the consumer page is the kernel's")
        XCTAssertEqual(run("ring_mmap map=1 off=1 len=5 prot=3", answer(0, words: [0, 0, 0, 0, 0])), [])
        XCTAssertEqual(run("mmap map=1 prot=3", answer(0)), ["mmap:errno"], "the whole-map mmap starts at the consumer page")
    }

    func testTheMappableRange() {
        let run = setUpModel()
        XCTAssertEqual(run("ring_mmap map=0 off=0 len=6 prot=1", answer(0, words: [0, 0, 0, 0, 0, 0])), [])
        XCTAssertEqual(run("ring_mmap map=0 off=0 len=7 prot=1", answer(0, words: [0, 0, 0, 0, 0, 0, 0])), ["ring_mmap:errno"], "EINVAL past 2 + 2 x data pages")
        XCTAssertEqual(run("ring_mmap map=0 off=5 len=1 prot=1", answer(0, words: [0])), [])
        XCTAssertEqual(run("ring_mmap map=0 off=0 len=0 prot=1", answer(EINVAL)), [])
    }

    /// A u64 written at the first data page shows at data page 0 + data pages (one page,
    /// mapped twice), and in later mappings.
    func testDataPagesAreMappedTwice() {
        let run = setUpModel()
        XCTAssertEqual(run("ring_mmap map=1 off=1 len=5 prot=3 write=#77", answer(0, words: [0, 77, 0, 77, 0])), [])
        XCTAssertEqual(run("ring_mmap map=1 off=0 len=6 prot=1", answer(0, words: [0, 0, 77, 0, 77, 0])), [])
        XCTAssertEqual(run("ring_mmap map=1 off=0 len=6 prot=1", answer(0, words: [0, 0, 77, 0, 0, 0])), ["ring_mmap:value"], "the second copy must alias the first")
        XCTAssertEqual(run("ring_mmap map=1 off=1 len=1 prot=3 write=#5", answer(0, words: [5])), [], "no data page mapped: the producer page")
        XCTAssertEqual(run("ring_mmap map=0 off=0 len=1 prot=3 write=#9", answer(0, words: [9])), [])
        XCTAssertEqual(run("ring_mmap map=0 off=0 len=2 prot=1", answer(0, words: [0, 0])), ["ring_mmap:value"], "consumer_pos was written")
    }

    func testOnTheKernel() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: creates BPF maps")
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        let p = try ProgramText.parse("""
        create map=0 type=ringbuf key=0 value=0 max=\(2 * page)
        create map=1 type=user_ringbuf key=0 value=0 max=\(2 * page)
        ring_mmap map=0 off=0 len=1 prot=3 write=#9
        ring_mmap map=0 off=0 len=2 prot=3
        ring_mmap map=0 off=0 len=6 prot=1
        ring_mmap map=0 off=0 len=7 prot=1
        ring_mmap map=1 off=0 len=1 prot=3
        ring_mmap map=1 off=1 len=5 prot=3 write=#77
        ring_mmap map=1 off=0 len=6 prot=1
        mmap map=0 prot=3
        mmap map=1 prot=3
        mmap map=1 prot=1
        """)
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings, [])
        XCTAssertEqual(rep.results.map(\.errno), [0, 0, 0, EPERM, 0, EINVAL, EPERM, 0, 0, 0, EPERM, 0])
        XCTAssertEqual(rep.results[8].valuesOut, [0, 0, 77, 0, 77, 0].flatMap { Layout.intBytes($0, 8) })
    }
}
