import Foundation
import XCTest
@testable import CampaignFile

let schemas = [
    ScenarioSchema(name: "load-attach-v4v6", params: ["connects": .int, "attach_mode": .string, "family": .string]),
    ScenarioSchema(name: "percpu-batch", params: ["rate": .double, "verbose": .bool, "pause": .duration,
                                                  "sizes": .list]),
    ScenarioSchema(name: "map-parallel", params: [:]),
]
/// The op kinds the tests' files may name under `deadlines:` (StressCore passes OpKind's).
let opKinds = ["map_update", "prog_load", "prog_attach", "connect"]

/// Parses `yaml` expecting failure; returns the error for exact assertions.
func parseError(_ yaml: String, file: String = "smoke.yaml", line: UInt = #line) -> CampaignError? {
    do {
        let c = try CampaignParser.parse(yaml, file: file, schemas: schemas, opKinds: opKinds)
        XCTFail("expected an error, parsed \(c)", line: line)
        return nil
    } catch let e as CampaignError {
        return e
    } catch {
        XCTFail("wrong error type \(error)", line: line)
        return nil
    }
}

final class CampaignParserGoodTests: XCTestCase {
    func testFullFileParsesToExactModel() throws {
        let yaml = """
        name: nightly
        seed: 0x2a
        duration: 1h30m
        workers: 4
        threads: 8
        deadline: 2500ms
        deadlines:
          map_update: 5s
          prog_load: 1m
        scenarios:
          - map-parallel
          - name: load-attach-v4v6
            weight: 3
            workers: 1
            threads: 16
            params:
              connects: 8
              attach_mode: link
              family: "v6"
            deadlines:
              connect: 250ms
          - name: percpu-batch
            params:
              rate: 2
              verbose: true
              pause: 1.5
              sizes: [1, 2.5, "3", big, false, [4, x]]
        """
        let c = try CampaignParser.parse(yaml, file: "nightly.yaml", schemas: schemas, opKinds: opKinds)
        XCTAssertEqual(c, Campaign(
            name: "nightly", seed: 42, duration: 5400, workers: 4, threads: 8, deadline: 2.5,
            deadlines: ["map_update": 5, "prog_load": 60],
            scenarios: [
                ScenarioEntry(name: "map-parallel"),
                ScenarioEntry(name: "load-attach-v4v6", weight: 3, workers: 1, threads: 16,
                              params: ["connects": .int(8), "attach_mode": .string("link"), "family": .string("v6")],
                              deadlines: ["connect": 0.25]),
                ScenarioEntry(name: "percpu-batch",
                              params: ["rate": .double(2), "verbose": .bool(true), "pause": .duration(1.5),
                                       "sizes": .list([.int(1), .double(2.5), .string("3"), .string("big"),
                                                       .bool(false), .list([.int(4), .string("x")])])]),
            ]))
    }

    func testDefaultsAndNameFromFile() throws {
        let c = try CampaignParser.parse("scenarios: [percpu-batch]\n", file: "/x/y/quick.yaml", schemas: schemas, opKinds: opKinds)
        XCTAssertEqual(c, Campaign(name: "quick", scenarios: [ScenarioEntry(name: "percpu-batch")]))
        XCTAssertEqual(c.workers, 2)
        XCTAssertEqual(c.threads, 2)
        XCTAssertEqual(c.duration, 10)
        XCTAssertEqual(c.deadline, 10)
        XCTAssertNil(c.seed)
        XCTAssertEqual(Campaign.defaultWorkers, 2)
        XCTAssertEqual(Campaign.defaultThreads, 2)
        XCTAssertEqual(Campaign.defaultDuration, 10.0)
    }

    func testDecimalSeedAndMaxUInt64() throws {
        let c = try CampaignParser.parse("seed: 18446744073709551615\nscenarios: [percpu-batch]\n", file: "s.yaml", schemas: schemas, opKinds: opKinds)
        XCTAssertEqual(c.seed, UInt64.max)
    }

    // The campaign files in corpora/ are checked against the real scenario registry in
    // StressCoreTests.CorpusCampaignTests (this target cannot see the scenarios).
}

final class CampaignParserErrorTests: XCTestCase {
    func assertError(_ yaml: String, line: Int?, key: String?, _ description: String, file: StaticString = #filePath, at: UInt = #line) {
        guard let e = parseError(yaml, line: at) else { return }
        XCTAssertEqual(e.line, line, "line", file: file, line: at)
        XCTAssertEqual(e.key, key, "key", file: file, line: at)
        XCTAssertEqual(e.description, description, file: file, line: at)
        XCTAssertEqual(e.file, "smoke.yaml", file: file, line: at)
    }

    /// A misspelt op kind must not silently leave the real one at the default deadline.
    func testUnknownDeadlineOpKindListsTheValidOnes() {
        assertError("deadlines:\n  prog_atach: 5s\nscenarios: [percpu-batch]\n", line: 2, key: "deadlines.prog_atach",
                    "smoke.yaml:2: unknown op kind 'prog_atach' in deadlines (expected one of: map_update, prog_load, prog_attach, connect)")
        assertError("scenarios:\n  - name: percpu-batch\n    deadlines:\n      conect: 1s\n", line: 4,
                    key: "scenarios[0].deadlines.conect",
                    "smoke.yaml:4: unknown op kind 'conect' in scenarios[0].deadlines (expected one of: default, map_update, prog_load, prog_attach, connect)")
        // `default` is a scenario's own default deadline, not a campaign-wide key (that is `deadline`).
        assertError("deadlines:\n  default: 5s\nscenarios: [percpu-batch]\n", line: 2, key: "deadlines.default",
                    "smoke.yaml:2: unknown op kind 'default' in deadlines (expected one of: map_update, prog_load, prog_attach, connect)")
        let c = try? CampaignParser.parse("scenarios:\n  - name: percpu-batch\n    deadlines:\n      default: 2s\n      connect: 1s\n",
                                          file: "s.yaml", schemas: schemas, opKinds: opKinds)
        XCTAssertEqual(c?.scenarios.first?.deadlines, ["default": 2, "connect": 1])
    }

    func testDuplicateScenarioNameNamesBothLines() {
        assertError("scenarios:\n  - percpu-batch\n  - load-attach-v4v6\n  - name: percpu-batch\n    weight: 2\n", line: 4,
                    key: "scenarios[2]", "smoke.yaml:4: duplicate scenario 'percpu-batch' (first listed on line 2)")
        assertError("scenarios: [percpu-batch, percpu-batch]\n", line: 1, key: "scenarios[1]",
                    "smoke.yaml:1: duplicate scenario 'percpu-batch' (first listed on line 1)")
    }

    /// Nanosecond clocks overflow past ~584 years; anything beyond 30 days is refused by name.
    func testDurationsAboveTheBoundAreErrors() {
        assertError("duration: 99999999h\nscenarios: [percpu-batch]\n", line: 1, key: "duration",
                    "smoke.yaml:1: 'duration' must be at most 30d (got '99999999h')")
        assertError("deadline: 31d\nscenarios: [percpu-batch]\n", line: 1, key: "deadline",
                    "smoke.yaml:1: 'deadline' must be at most 30d (got '31d')")
        XCTAssertEqual(try? CampaignParser.parse("duration: 30d\nscenarios: [percpu-batch]\n", file: "s.yaml",
                                                 schemas: schemas, opKinds: opKinds).duration, 30 * 86400)
    }

    func testUnknownTopLevelKey() {
        assertError("name: s\nwokers: 2\nscenarios: [percpu-batch]\n", line: 2, key: "wokers",
                    "smoke.yaml:2: unknown key 'wokers' (expected one of: name, seed, duration, workers, threads, deadline, deadlines, baseline, regression_threshold, p99_regression_threshold, scenarios)")
    }

    func testWrongTypesAndNonPositiveCounts() {
        assertError("workers: two\nscenarios: [percpu-batch]\n", line: 1, key: "workers",
                    "smoke.yaml:1: 'workers' must be a positive integer (got 'two')")
        assertError("scenarios: [percpu-batch]\nthreads: 0\n", line: 2, key: "threads",
                    "smoke.yaml:2: 'threads' must be a positive integer (got '0')")
        assertError("scenarios: [percpu-batch]\nworkers: -3\n", line: 2, key: "workers",
                    "smoke.yaml:2: 'workers' must be a positive integer (got '-3')")
        assertError("scenarios: [percpu-batch]\nworkers: [1, 2]\n", line: 2, key: "workers",
                    "smoke.yaml:2: 'workers' must be a positive integer (got a list)")
        assertError("scenarios: [percpu-batch]\nworkers: 5000\n", line: 2, key: "workers",
                    "smoke.yaml:2: 'workers' must be at most 1024 (got 5000)")
        assertError("scenarios: [percpu-batch]\nworkers: 2.5\n", line: 2, key: "workers",
                    "smoke.yaml:2: 'workers' must be a positive integer (got '2.5')")
        assertError("scenarios: [percpu-batch]\nseed: -1\n", line: 2, key: "seed",
                    "smoke.yaml:2: 'seed' must be an unsigned 64-bit integer (got '-1')")
        assertError("scenarios: [percpu-batch]\nname:\n", line: 2, key: "name",
                    "smoke.yaml:2: 'name' must be a non-empty string (got nothing)")
        assertError("scenarios: percpu-batch\n", line: 1, key: "scenarios",
                    "smoke.yaml:1: 'scenarios' must be a list of scenario names or mappings (got 'percpu-batch')")
        assertError("scenarios: []\n", line: 1, key: "scenarios",
                    "smoke.yaml:1: 'scenarios' must name at least one scenario")
        assertError("name: x\n", line: 1, key: "scenarios",
                    "smoke.yaml:1: missing required key 'scenarios' (a list of scenario names or mappings)")
    }

    func testBadDurations() {
        assertError("scenarios: [percpu-batch]\n\nduration: soon\n", line: 3, key: "duration",
                    "smoke.yaml:3: 'duration' must be a positive duration like 500ms, 30s, 2m, 1h30m (got 'soon')")
        assertError("scenarios: [percpu-batch]\nduration: 0s\n", line: 2, key: "duration",
                    "smoke.yaml:2: 'duration' must be a positive duration like 500ms, 30s, 2m, 1h30m (got '0s')")
        assertError("scenarios: [percpu-batch]\ndeadline: 10 parsecs\n", line: 2, key: "deadline",
                    "smoke.yaml:2: 'deadline' must be a positive duration like 500ms, 30s, 2m, 1h30m (got '10 parsecs')")
        assertError("scenarios: [percpu-batch]\ndeadlines:\n  map_update: 5s\n  prog_load: -1s\n", line: 4,
                    key: "deadlines.prog_load",
                    "smoke.yaml:4: 'deadlines.prog_load' must be a positive duration like 500ms, 30s, 2m, 1h30m (got '-1s')")
        assertError("scenarios: [percpu-batch]\ndeadlines: 5s\n", line: 2, key: "deadlines",
                    "smoke.yaml:2: 'deadlines' must be a mapping of op kind to duration (got '5s')")
    }

    func testScenarioErrors() {
        assertError("scenarios:\n  - percpu-batch\n  - load-atach-v4v6\n", line: 3, key: "scenarios[1]",
                    "smoke.yaml:3: unknown scenario 'load-atach-v4v6' (known: load-attach-v4v6, map-parallel, percpu-batch)")
        assertError("scenarios:\n  - name: nope\n", line: 2, key: "scenarios[0].name",
                    "smoke.yaml:2: unknown scenario 'nope' (known: load-attach-v4v6, map-parallel, percpu-batch)")
        assertError("scenarios:\n  - weight: 2\n", line: 2, key: "scenarios[0].name",
                    "smoke.yaml:2: scenarios[0]: missing required key 'name'")
        assertError("scenarios:\n  - name: percpu-batch\n    wieght: 2\n", line: 3, key: "scenarios[0].wieght",
                    "smoke.yaml:3: unknown key 'wieght' in scenarios[0] (expected one of: name, weight, workers, threads, params, deadlines)")
        assertError("scenarios:\n  - name: percpu-batch\n    weight: 0\n", line: 3, key: "scenarios[0].weight",
                    "smoke.yaml:3: 'scenarios[0].weight' must be a positive integer (got '0')")
        assertError("scenarios:\n  - name: percpu-batch\n    threads: many\n", line: 3, key: "scenarios[0].threads",
                    "smoke.yaml:3: 'scenarios[0].threads' must be a positive integer (got 'many')")
        assertError("scenarios:\n  - [a, b]\n", line: 2, key: "scenarios[0]",
                    "smoke.yaml:2: scenarios[0] must be a scenario name or a mapping with keys: name, weight, workers, threads, params, deadlines (got a list)")
    }

    func testParamErrors() {
        let head = "scenarios:\n  - name: load-attach-v4v6\n    params:\n"
        assertError(head + "      connects: 8\n      conects: 9\n", line: 5, key: "scenarios[0].params.conects",
                    "smoke.yaml:5: unknown param 'conects' for scenario 'load-attach-v4v6' (expected one of: attach_mode, connects, family)")
        assertError(head + "      connects: many\n", line: 4, key: "scenarios[0].params.connects",
                    "smoke.yaml:4: param 'connects' of scenario 'load-attach-v4v6' must be an int (got 'many')")
        assertError(head + "      family: [v4]\n", line: 4, key: "scenarios[0].params.family",
                    "smoke.yaml:4: param 'family' of scenario 'load-attach-v4v6' must be a string (got a list)")
        assertError("scenarios:\n  - name: load-attach-v4v6\n    params: 8\n", line: 3, key: "scenarios[0].params",
                    "smoke.yaml:3: 'scenarios[0].params' must be a mapping of parameter names to values (got '8')")
        let pb = "scenarios:\n  - percpu-batch\n  - name: percpu-batch\n    params:\n"
        assertError(pb + "      verbose: maybe\n", line: 5, key: "scenarios[1].params.verbose",
                    "smoke.yaml:5: param 'verbose' of scenario 'percpu-batch' must be a bool (true or false) (got 'maybe')")
        assertError(pb + "      rate: fast\n", line: 5, key: "scenarios[1].params.rate",
                    "smoke.yaml:5: param 'rate' of scenario 'percpu-batch' must be a double (got 'fast')")
        assertError(pb + "      pause: later\n", line: 5, key: "scenarios[1].params.pause",
                    "smoke.yaml:5: param 'pause' of scenario 'percpu-batch' must be a duration like 500ms, 30s, 2m, 1h30m (got 'later')")
        assertError(pb + "      sizes: 4\n", line: 5, key: "scenarios[1].params.sizes",
                    "smoke.yaml:5: param 'sizes' of scenario 'percpu-batch' must be a list of values (got '4')")
        assertError(pb + "      sizes: [1, {a: b}]\n", line: 5, key: "scenarios[1].params.sizes",
                    "smoke.yaml:5: param 'sizes' of scenario 'percpu-batch' must be a list of values (got a list)")
    }

    func testEmptyNotMappingSyntaxAndDuplicates() {
        let keys = "name, seed, duration, workers, threads, deadline, deadlines, baseline, regression_threshold, p99_regression_threshold, scenarios"
        assertError("", line: 1, key: nil, "smoke.yaml:1: campaign file is empty (expected a mapping with keys: \(keys))")
        assertError("# only a comment\n", line: 1, key: nil,
                    "smoke.yaml:1: campaign file is empty (expected a mapping with keys: \(keys))")
        assertError("- a\n- b\n", line: 1, key: nil, "smoke.yaml:1: top level must be a mapping with keys: \(keys) (got a list)")
        assertError("just text\n", line: 1, key: nil, "smoke.yaml:1: top level must be a mapping with keys: \(keys) (got 'just text')")
        guard let e = parseError("name: s\nscenarios:\n  - a\n   b: [\n") else { return }
        XCTAssertEqual(e.line, 4)
        XCTAssertNil(e.key)
        XCTAssertTrue(e.description.hasPrefix("smoke.yaml:4: YAML syntax error: "), e.description)
        guard let t = parseError("name: s\nworkers: 1\n\tthreads: 2\n") else { return }
        XCTAssertEqual(t.line, 3)
        XCTAssertTrue(t.description.hasPrefix("smoke.yaml:3: YAML syntax error: "), t.description)
        assertError("workers: 1\nscenarios: [percpu-batch]\nworkers: 2\n", line: 1, key: "workers",
                    "smoke.yaml:1: duplicate key 'workers'")
    }

    func testLoadUnreadableFileNamesPath() {
        XCTAssertThrowsError(try CampaignParser.load(path: "/nonexistent/bpfstress/c.yaml", schemas: schemas, opKinds: opKinds)) { e in
            let ce = e as? CampaignError
            XCTAssertEqual(ce?.file, "/nonexistent/bpfstress/c.yaml")
            XCTAssertNil(ce?.line)
            XCTAssertEqual(ce?.description, "/nonexistent/bpfstress/c.yaml: cannot read campaign file: No such file or directory")
        }
        XCTAssertThrowsError(try CampaignParser.load(path: "/tmp", schemas: schemas, opKinds: opKinds)) { e in
            XCTAssertEqual((e as? CampaignError)?.description, "/tmp: cannot read campaign file: Is a directory")
        }
    }
}

final class DurationTests: XCTestCase {
    func testUnitsAndCombinations() {
        let cases: [(String, Double?)] = [
            ("500ms", 0.5), ("30s", 30), ("2m", 120), ("1h", 3600), ("1h30m", 5400), ("1m30s", 90),
            ("1.5s", 1.5), ("250us", 0.00025), ("100ns", 1e-7), ("2d", 172800), (" 45 ", 45), ("7", 7),
            ("0.25", 0.25), ("0s", 0), ("1h1m1s1ms", 3661.001),
            ("", nil), ("s", nil), ("ms", nil), ("-1s", nil), ("1x", nil), ("1 s", nil), ("1..2s", nil),
            ("inf", nil), ("nan", nil), ("1e3", nil), ("1h 30m", nil), ("+5s", nil), (".", nil),
        ]
        for (s, want) in cases {
            let got = CampaignParser.parseDuration(s)
            if let want {
                XCTAssertNotNil(got, s)
                if let got { XCTAssertEqual(got, want, accuracy: 1e-12, s) }
            } else {
                XCTAssertNil(got, s)
            }
        }
    }
}
