// The scenarios that break the kernel refuse to run on a machine that is not a bpfstress guest.
import Scenarios
import XCTest
@testable import TestScenarios

final class GuestOnlyTests: XCTestCase {
    func testKernelBreakingScenariosRefuseOutsideAGuest() throws {
        let cmdline = (try? String(contentsOfFile: "/proc/cmdline", encoding: .utf8)) ?? ""
        if cmdline.contains("bpfstress.guest=1") { throw XCTSkip("running inside a bpfstress guest") }
        XCTAssertThrowsError(try GuestOnly.require("test-guest-panic")) { e in
            XCTAssertEqual("\(e)", "test-guest-panic runs only inside a bpfstress guest (kernel command line has no bpfstress.guest=1)")
        }
    }

    func testGuestScenariosAreTestOnly() {
        let names = TestScenarios.all.map { $0.descriptor.name }
        for n in ["test-guest-panic", "test-guest-silent", "test-guest-warning"] { XCTAssertTrue(names.contains(n), n) }
        XCTAssertFalse(Scenarios.all.map { $0.descriptor.name }.contains { $0.hasPrefix("test-guest") })
    }
}
