// Triage never blocks or walks endlessly on odd inputs, and says which finding.json it could not read.

import Foundation
@testable import Triage
import XCTest

final class InputSafetyTests: XCTestCase {
    var root = ""
    override func setUp() {
        root = NSTemporaryDirectory() + "bpfstress-triage-input-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    /// A FIFO with no writer blocks open(2) for reading forever: triage must not open it.
    func testFIFOsAndDevicesAreSkippedWithANote() throws {
        let fifo = root + "/console.fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        try "WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2\nRIP: 0010:f+0x1/0x2\n".write(toFile: root + "/log.txt", atomically: true, encoding: .utf8)
        var notes = Triage.Notes()
        let items = try Triage.scan([root, fifo, "/dev/null"], notes: &notes)
        XCTAssertEqual(items.map(\.report.title), ["WARNING in f"])
        XCTAssertEqual(notes.skipped.sorted(), ["skipped /dev/null: a device", "skipped \(fifo): a FIFO", "skipped \(fifo): a FIFO"].sorted())
        XCTAssertEqual(notes.malformed, [])
    }

    func testSocketsAreSkipped() throws {
        let path = root + "/s.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in
            for (i, b) in path.utf8.enumerated() where i < buf.count - 1 { buf[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(rc, 0)
        var notes = Triage.Notes()
        XCTAssertEqual(try Triage.scan([root], notes: &notes).count, 0)
        XCTAssertEqual(notes.skipped, ["skipped \(path): a socket"])
    }

    /// /proc and /sys are never walked (a walk of /proc reads endless files), as a path or inside one.
    func testPseudoFileSystemsAreNotWalked() throws {
        XCTAssertTrue(Triage.isPseudoFileSystem("/proc"))
        XCTAssertTrue(Triage.isPseudoFileSystem("/proc/self/task"))
        XCTAssertTrue(Triage.isPseudoFileSystem("/sys"))
        XCTAssertFalse(Triage.isPseudoFileSystem(root))
        var notes = Triage.Notes()
        XCTAssertEqual(try Triage.scan(["/proc", "/sys"], notes: &notes).count, 0)
        XCTAssertEqual(notes.skipped, ["skipped /proc: kernel pseudo file system", "skipped /sys: kernel pseudo file system"])
        // Through a symlink inside an input directory it is not followed at all (symlinks are never walked).
        try FileManager.default.createSymbolicLink(atPath: root + "/p", withDestinationPath: "/proc")
        notes = Triage.Notes()
        XCTAssertEqual(try Triage.scan([root], notes: &notes).count, 0)
    }

    func testTruncatedAndMistypedFindingJSONAreWarningsNamingTheFile() throws {
        let a = root + "/findings/aaaa", b = root + "/findings/bbbb"
        for d in [a, b] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        try #"{"signature":"aaaa","type":"hang","title":"hang in x","scen"#.write(toFile: a + "/finding.json", atomically: true, encoding: .utf8)
        try #"{"signature":"bbbb","type":"hang","title":"hang in x","scenario":"s","check":"c","count":"many","firstSeen":0,"lastSeen":0,"dumps":[]}"#
            .write(toFile: b + "/finding.json", atomically: true, encoding: .utf8)
        var notes = Triage.Notes()
        XCTAssertEqual(try Triage.scan([root], notes: &notes).count, 0)
        XCTAssertEqual(notes.malformed, ["\(a)/finding.json: malformed finding.json: not valid JSON (truncated?)",
                                         "\(b)/finding.json: malformed finding.json: wrong type at 'count'"])
    }

    /// The CLI: a note per skipped input on stderr, a warning per malformed finding.json, exit 4.
    func testCLIExitsFourOnAMalformedFindingAndStillPrintsTheRest() throws {
        let bin = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/bpfstress").path
        guard FileManager.default.isExecutableFile(atPath: bin) else { throw XCTSkip("bpfstress not built at \(bin)") }
        try FileManager.default.createDirectory(atPath: root + "/f", withIntermediateDirectories: true)
        try "{".write(toFile: root + "/f/finding.json", atomically: true, encoding: .utf8)
        try "WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2\nRIP: 0010:f+0x1/0x2\n".write(toFile: root + "/log.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(mkfifo(root + "/fifo", 0o600), 0)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["triage", "--json", root]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 4)
        XCTAssertTrue(o.contains(#""title":"WARNING in f""#), o)
        XCTAssertEqual(e.split(separator: "\n").sorted(), [
            "bpfstress: triage: skipped \(root)/fifo: a FIFO",
            "bpfstress: triage: warning: \(root)/f/finding.json: malformed finding.json: not valid JSON (truncated?)"])
    }
}
