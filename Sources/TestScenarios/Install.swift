// Registers the test-only scenarios and map-fuzz's planted hang and crash (bpfstress-selftest only).
import CTestFixtures
import Foundation
import Scenarios
import StressCore

/// What bpfstress-selftest adds to the product before its main runs. The product binary never
/// links this module, so it carries no fixture code (`nm` finds no `fixture_` symbol in it).
public enum TestScenarios {
    public static let all: [any Scenario.Type] = [TestHang.self, TestCrash.self, TestLeak.self, TestFindings.self,
                                                  TestGuestPanic.self, TestGuestSilent.self, TestGuestWarning.self]

    /// Fills `Scenarios.testOnly` and, with BPFSTRESS_TEST_SCENARIOS=1 and
    /// BPFSTRESS_TEST_FUZZ_HANG_AT=N (or ..._CRASH_AT=N), makes the first map-fuzz thread block in
    /// a pipe read (or die by SIGSEGV in a memcpy past a guard page) inside its N-th fuzz call.
    public static func install(environment env: [String: String] = ProcessInfo.processInfo.environment) {
        Scenarios.testOnly = all
        guard env["BPFSTRESS_TEST_SCENARIOS"] == "1" else { return }
        let hangAt = UInt64(env["BPFSTRESS_TEST_FUZZ_HANG_AT"] ?? "") ?? 0
        let crashAt = UInt64(env["BPFSTRESS_TEST_FUZZ_CRASH_AT"] ?? "") ?? 0
        guard hangAt != 0 || crashAt != 0 else { return }
        MapFuzz.insideFirstThreadCall = { index in
            if index == hangAt { _ = fixture_block_in_pipe_read(30) }
            if index == crashAt { fixture_overrun_guard_page() }
        }
    }
}
