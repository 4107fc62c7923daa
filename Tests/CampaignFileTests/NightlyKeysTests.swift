import XCTest
@testable import CampaignFile

/// `baseline:`, `regression_threshold:` and `p99_regression_threshold:` (issue 16).
final class NightlyKeysTests: XCTestCase {
    func testBaselineAndThresholdsParse() throws {
        let c = try CampaignParser.parse("""
        name: nightly
        baseline: reports/nightly/20261130T020000Z-7
        regression_threshold: 25%
        p99_regression_threshold: 300
        scenarios: [load-attach-v4v6]
        """, file: "n.yaml", schemas: schemas, opKinds: opKinds)
        XCTAssertEqual(c.baseline, "reports/nightly/20261130T020000Z-7")
        XCTAssertEqual(c.regressionThresholdPercent, 25)
        XCTAssertEqual(c.p99RegressionThresholdPercent, 300)
        let plain = try CampaignParser.parse("scenarios: [load-attach-v4v6]\n", file: "p.yaml", schemas: schemas, opKinds: opKinds)
        XCTAssertNil(plain.baseline)
        XCTAssertNil(plain.regressionThresholdPercent)
        XCTAssertNil(plain.p99RegressionThresholdPercent)
    }

    func testBadValuesNameTheFileLineAndKey() {
        XCTAssertEqual(parseError("regression_threshold: -5\nscenarios: [load-attach-v4v6]\n")?.description,
                       "smoke.yaml:1: 'regression_threshold' must be a positive percentage like 25 or 25% (got '-5')")
        XCTAssertEqual(parseError("scenarios: [load-attach-v4v6]\np99_regression_threshold: lots\n")?.description,
                       "smoke.yaml:2: 'p99_regression_threshold' must be a positive percentage like 25 or 25% (got 'lots')")
        XCTAssertEqual(parseError("baseline: \"\"\nscenarios: [load-attach-v4v6]\n")?.description,
                       "smoke.yaml:1: 'baseline' must be a non-empty string (got '')")
    }
}
