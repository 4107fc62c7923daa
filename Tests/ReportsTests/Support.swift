import Foundation
import XCTest

/// Repo paths found from this file (symlinks resolved): Tests/ReportsTests/Support.swift is three levels down.
enum Repo {
    static let root: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var schemas: URL {
        if let env = ProcessInfo.processInfo.environment["BPFSTRESS_JUNIT_SCHEMAS"] { return URL(fileURLWithPath: env) }
        return root.deletingLastPathComponent().appendingPathComponent("shared/junit")
    }
}

struct ProcessOutput { var status: Int32; var output: String }

/// Runs a program to completion (bounded by `timeout`), stdout and stderr merged.
func runProgram(_ exe: String, _ args: [String], timeout: TimeInterval = 60) throws -> ProcessOutput {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    final class Box: @unchecked Sendable { var data = Data() }
    let box = Box()
    let reader = Thread { box.data = pipe.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning { p.terminate(); XCTFail("\(exe) timed out") }
    p.waitUntilExit()
    while !reader.isFinished { usleep(1_000) }
    return ProcessOutput(status: p.terminationStatus, output: String(decoding: box.data, as: UTF8.self))
}

/// A fresh directory under /tmp for one test, removed by the caller's defer.
func makeTempDir(_ tag: String) throws -> String {
    var template = Array("/tmp/bpfstress-test-\(tag)-XXXXXX".utf8CString)
    guard let p = mkdtemp(&template) else { throw NSError(domain: "mkdtemp", code: Int(errno)) }
    return String(cString: p)
}

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// True when the JUnit schemas are beside the checkout (a user's clone has none).
var schemasPresent: Bool {
    FileManager.default.isReadableFile(atPath: Repo.schemas.appendingPathComponent("JUnit-windyroad.xsd").path)
}

/// scripts/validate-junit: junitparser and xunitparser always, the schemas when present.
func validateJUnit(_ file: String) throws -> ProcessOutput {
    try runProgram("/bin/bash", [Repo.root.appendingPathComponent("scripts/validate-junit").path, file])
}

/// xmllint --schema against one shared schema; returns (ok, messages). Skips the test when the
/// schemas are absent: callers check the consumers with validateJUnit first.
func xmllint(_ file: String, schema: String) throws -> ProcessOutput {
    try XCTSkipUnless(schemasPresent, "no JUnit schemas at \(Repo.schemas.path) (a clone with nothing beside it)")
    return try runProgram("/usr/bin/xmllint", ["--noout", "--schema", Repo.schemas.appendingPathComponent(schema).path, file])
}
