import Foundation
import XCTest
import Yams

/// docs/CI.md's GitHub Actions workflow and GitLab CI job: each block parses as YAML, and the
/// shards and the merge are wired as `run --shard I/N` and `merge` expect.
final class CIDocTests: XCTestCase {
    static var doc: String {
        get throws {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
            return try String(contentsOf: root.appendingPathComponent("docs/CI.md"), encoding: .utf8)
        }
    }

    /// The ```yaml blocks of a Markdown text, in order.
    static func yamlBlocks(_ md: String) -> [String] {
        var blocks: [String] = [], current: [Substring]?
        for line in md.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```yaml" { current = [] } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n")); current = nil
            } else { current?.append(line) }
        }
        return blocks
    }

    func parse(_ yaml: String) throws -> [String: Any] {
        try XCTUnwrap(try Yams.load(yaml: yaml) as? [String: Any])
    }

    func testGitHubWorkflowRunsShardsAndPublishesTheMergedJUnit() throws {
        let blocks = Self.yamlBlocks(try Self.doc)
        XCTAssertEqual(blocks.count, 2)
        let wf = try parse(blocks[0])
        let jobs = try XCTUnwrap(wf["jobs"] as? [String: Any])
        let shards = try XCTUnwrap(jobs["shards"] as? [String: Any])
        let matrix = try XCTUnwrap((shards["strategy"] as? [String: Any])?["matrix"] as? [String: Any])
        let values = try XCTUnwrap(matrix["shard"] as? [Int])
        XCTAssertEqual(values, Array(1...values.count))
        let steps = try XCTUnwrap(shards["steps"] as? [[String: Any]])
        let runs = steps.compactMap { $0["run"] as? String }.joined(separator: "\n")
        XCTAssertTrue(runs.contains("--shard \"${{ matrix.shard }}/\(values.count)\""), runs)
        XCTAssertTrue(runs.contains("test \"$status\" -le 1"))
        XCTAssertTrue(steps.contains { ($0["uses"] as? String)?.hasPrefix("actions/upload-artifact@") == true && $0["if"] as? String == "always()" })
        let merge = try XCTUnwrap(jobs["merge"] as? [String: Any])
        XCTAssertEqual(merge["needs"] as? String, "shards")
        let msteps = try XCTUnwrap(merge["steps"] as? [[String: Any]])
        XCTAssertTrue(msteps.compactMap { $0["run"] as? String }.joined().contains("bpfstress merge shards/shard-*/2* --report-dir merged"))
        let publish = try XCTUnwrap(msteps.first { ($0["uses"] as? String)?.hasPrefix("mikepenz/action-junit-report@") == true })
        XCTAssertEqual((publish["with"] as? [String: Any])?["report_paths"] as? String, "merged-junit.xml")
    }

    func testGitLabJobRunsParallelShardsAndReportsTheMergedJUnit() throws {
        let ci = try parse(Self.yamlBlocks(try Self.doc)[1])
        XCTAssertEqual(ci["stages"] as? [String], ["shards", "merge"])
        let shard = try XCTUnwrap(ci["nightly-shard"] as? [String: Any])
        XCTAssertEqual(shard["parallel"] as? Int, 4)
        let script = try XCTUnwrap(shard["script"] as? [String]).joined(separator: "\n")
        XCTAssertTrue(script.contains("--shard \"$CI_NODE_INDEX/$CI_NODE_TOTAL\""), script)
        XCTAssertEqual((shard["artifacts"] as? [String: Any])?["when"] as? String, "always")
        let merge = try XCTUnwrap(ci["nightly-merge"] as? [String: Any])
        XCTAssertEqual((merge["needs"] as? [[String: Any]])?.first?["job"] as? String, "nightly-shard")
        XCTAssertTrue(try XCTUnwrap(merge["script"] as? [String]).contains { $0.contains("bpfstress merge shard-*/2* --report-dir merged") })
        let reports = (merge["artifacts"] as? [String: Any])?["reports"] as? [String: Any]
        XCTAssertEqual(reports?["junit"] as? String, "merged-junit.xml")
    }

    /// The check is a real parse: a block broken the way hand edits break YAML is rejected.
    func testABrokenBlockFailsToParse() throws {
        let gitlab = Self.yamlBlocks(try Self.doc)[1]
        let broken = gitlab.replacingOccurrences(of: "  stage: merge", with: " stage: merge")
        XCTAssertNotEqual(broken, gitlab)
        XCTAssertThrowsError(try Yams.load(yaml: broken))
        XCTAssertThrowsError(try Yams.load(yaml: gitlab + "\n  - [unclosed"))
    }
}
