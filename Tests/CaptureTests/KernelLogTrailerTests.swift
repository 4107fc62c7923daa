import Foundation
import XCTest
@testable import Capture

/// A panic that follows an oops is that oops's tail: one finding, not two.
final class KernelLogTrailerTests: XCTestCase {
    let oops = [
        "BUG: kernel NULL pointer dereference, address: 0000000000000008",
        "#PF: supervisor read access in kernel mode",
        "Oops: 0000 [#1] PREEMPT SMP NOPTI",
        "RIP: 0010:htab_map_update_elem+0x45/0x2f0",
        "Call Trace:",
        " <TASK>",
        " bpf_map_update_value+0x100/0x200",
        " __sys_bpf+0x3a1/0x2760",
        " </TASK>",
        "---[ end trace 0000000000000000 ]---",
    ]

    func testAPanicRightAfterAnOopsIsItsTailNotASecondReport() {
        var p = KernelLogParser()
        let t0 = Date()
        let first = p.feed(oops, now: t0)
        XCTAssertEqual(first.map(\.title), ["BUG: unable to handle kernel NULL pointer dereference in htab_map_update_elem"])
        XCTAssertEqual(p.feed(["Kernel panic - not syncing: Fatal exception"], now: t0.addingTimeInterval(1)), [])
        XCTAssertEqual(p.flush(quiet: 0, now: t0.addingTimeInterval(2)), [])
    }

    func testALonePanicLongAfterIsAReportOfItsOwn() {
        var p = KernelLogParser()
        let t0 = Date()
        _ = p.feed(oops, now: t0)
        _ = p.feed(["Kernel panic - not syncing: hung_task: blocked tasks"], now: t0.addingTimeInterval(KernelLogParser.trailerWindow + 1))
        let r = p.flush(quiet: 0, now: t0.addingTimeInterval(KernelLogParser.trailerWindow + 2))
        XCTAssertEqual(r.count, 1)
        XCTAssertTrue(r.first?.title.hasPrefix("kernel panic") ?? false, "\(r)")
    }
}
