// The shipped binary carries no test fixtures or test scenarios; bpfstress-selftest has both.
import Foundation
import TestSupport
import XCTest

final class ProductBinaryTests: XCTestCase {
    /// Defined symbols of `binary` that contain `needle`, read with nm (binutils).
    func symbols(_ binary: String, containing needle: String) throws -> [String] {
        let r = try Subprocess.run("/usr/bin/nm", ["--defined-only", binary], timeout: 120)
        XCTAssertEqual(r.status, 0, "nm \(binary)")
        return r.out.split(separator: "\n").map(String.init).filter { $0.contains(needle) }
    }

    func testProductHasNoFixturesAndSelftestHasThem() throws {
        XCTAssertEqual(try symbols(Built.product, containing: "fixture_"), [])
        XCTAssertEqual(try symbols(Built.product, containing: "TestScenarios"), [])
        let planted = try symbols(Built.selftest, containing: "fixture_")
        XCTAssertTrue(planted.contains { $0.hasSuffix(" fixture_block_in_pipe_read") }, "\(planted)")
        XCTAssertTrue(planted.contains { $0.hasSuffix(" fixture_overrun_guard_page") }, "\(planted)")
    }

    /// Asking the product for a test scenario is an unknown scenario (exit 2), not a run.
    func testProductRefusesTestScenariosEvenWithTheVariable() throws {
        let r = try Harness.run(["run", "--scenario", "test-hang", "--duration", "1s"], timeout: 60,
                                env: ["BPFSTRESS_TEST_SCENARIOS": "1"], executable: Built.product)
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssertTrue(r.stderr.contains("test-hang"), r.stderr)
    }
}
