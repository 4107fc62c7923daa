// The mmap oracle on tampered answers: a view that differs from the model, freeze with a writable mapping, a writable mapping of a frozen map.
import BPFKit
@testable import Fuzz
import Glibc
import XCTest

final class MmapOracleTests: XCTestCase {
    let shape = MapShape(type: .array, keySize: 4, valueSize: 12, maxEntries: 4, flags: BPFMapFlags.mmapable, cpus: 2)

    /// An mmapable array with index 1 = @v1, and a runner of (call, answer) pairs.
    func setUpModel() -> (ShadowModel, (Call, CallResult) -> [String]) {
        let m = ShadowModel(cpus: 2)
        var i = 0
        let run: (Call, CallResult) -> [String] = { c, r in i += 1; return m.check(i, c, r, shape: self.shape).map(\.signature) }
        var c = Call(.create); c.type = .array; c.valueSize = 12; c.maxEntries = 4; c.mapFlags = BPFMapFlags.mmapable
        XCTAssertEqual(run(c, CallResult()), [])
        var u = Call(.update); u.key = .int(1); u.value = .pattern(1, len: nil)
        XCTAssertEqual(run(u, CallResult()), [])
        return (m, run)
    }

    /// The view the kernel must show: element i at i * 16, index 1 = @v1.
    func view(index1: [UInt8] = Layout.pattern(1, 12)) -> CallResult {
        var bytes = [UInt8](repeating: 0, count: 4096)
        bytes.replaceSubrange(16..<28, with: index1)
        var r = CallResult(); r.valuesOut = bytes
        return r
    }

    func mmap(_ prot: UInt64) -> Call { var c = Call(.mmap); c.flags = prot; return c }
    func answer(_ e: Int32) -> CallResult { var r = CallResult(); r.errno = e; return r }

    func testViewMustEqualTheModel() {
        let (_, run) = setUpModel()
        XCTAssertEqual(run(mmap(1), view()), [])
        XCTAssertEqual(run(mmap(1), view(index1: Layout.pattern(2, 12))), ["mmap:value"])
    }

    func testFreezeIsBusyWhileAWritableMappingExists() {
        let (_, run) = setUpModel()
        XCTAssertEqual(run(mmap(3), view()), [])
        XCTAssertEqual(run(Call(.freeze), CallResult()), ["freeze:errno"], "EBUSY is due")
        XCTAssertEqual(run(Call(.freeze), answer(EBUSY)), [])
        XCTAssertEqual(run(Call(.munmap), CallResult()), [])
        XCTAssertEqual(run(Call(.freeze), answer(EBUSY)), ["freeze:errno"], "no writable mapping left")
    }

    func testWritableMappingOfAFrozenMapIsRefused() {
        let (_, run) = setUpModel()
        XCTAssertEqual(run(Call(.freeze), CallResult()), [])
        XCTAssertEqual(run(mmap(3), view()), ["mmap:errno"], "EPERM is due")
        XCTAssertEqual(run(mmap(3), answer(EPERM)), [])
        XCTAssertEqual(run(mmap(1), view()), [])
    }

    /// After the last fd closes, the mapping still shows the map's contents.
    func testMappingOutlivesTheFd() {
        let (_, run) = setUpModel()
        XCTAssertEqual(run(mmap(1), view()), [])
        XCTAssertEqual(run(Call(.close), CallResult()), [])
        XCTAssertEqual(run(Call(.view), view()), [])
        XCTAssertEqual(run(Call(.view), view(index1: [UInt8](repeating: 0, count: 12))), ["view:value"])
    }

    /// A write through a writable mapping: a syscall lookup must return it afterwards.
    func testSyscallLookupSeesWritesThroughTheView() {
        let (_, run) = setUpModel()
        XCTAssertEqual(run(mmap(3), view()), [])
        var w = Call(.view); w.key = .int(2); w.value = .pattern(5, len: nil)
        var after = view(); after.valuesOut.replaceSubrange(32..<44, with: Layout.pattern(5, 12))
        XCTAssertEqual(run(w, after), [])
        var look = Call(.lookup); look.key = .int(2)
        var stale = CallResult(); stale.out = [UInt8](repeating: 0, count: 12)
        XCTAssertEqual(run(look, stale), ["lookup:value"])
        var fresh = CallResult(); fresh.out = Layout.pattern(5, 12)
        XCTAssertEqual(run(look, fresh), [])
        var ro = Call(.mmap); ro.flags = 1
        XCTAssertEqual(run(ro, after), [])
        XCTAssertEqual(run(w, CallResult()), ["view:errno"], "EACCES: the latest mapping is read-only")
    }
}
