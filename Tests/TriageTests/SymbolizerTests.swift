// --vmlinux: frames gain file:line from a real ELF with DWARF (a small C program built here), titles do not change.

import Foundation
import Reports
@testable import Triage
import XCTest

final class SymbolizerTests: XCTestCase {
    var dir = ""
    var elf = ""
    /// Lines of `t.c` where each function starts (its name and brace on one line) and a call inside one.
    let source = """
    int bpfs_leaf(int x) {
        return x * 3 + 1;
    }

    int bpfs_middle(int x) {
        int y = bpfs_leaf(x);
        return y + 2;
    }

    int main(int argc, char **argv) {
        (void)argv;
        return bpfs_middle(argc);
    }
    """

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "bpfstress-sym-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try source.write(toFile: dir + "/t.c", atomically: true, encoding: .utf8)
        elf = dir + "/t"
        guard let cc = ["/usr/bin/gcc", "/usr/bin/cc", "/opt/swift/usr/bin/clang"].first(where: FileManager.default.isExecutableFile)
        else { throw XCTSkip("no C compiler to build the test ELF") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cc)
        // gcc writes .debug_aranges by default; clang only when asked (elfutils 0.188 needs them).
        p.arguments = ["-g", "-O0"] + (cc.hasSuffix("clang") ? ["-gdwarf-aranges"] : []) + ["-o", elf, dir + "/t.c"]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "cc failed")
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testFunctionStartsAndCallSitesMapToTheirLines() throws {
        let s = try KernelSymbolizer(vmlinux: elf)
        // A RIP is the exact pc: offset 0 is the function's first line.
        XCTAssertEqual(s.location(line: "RIP: 0010:bpfs_leaf+0x0/0x20"), dir + "/t.c:1")
        XCTAssertEqual(s.location(line: "RIP: 0010:bpfs_middle+0x0/0x40"), dir + "/t.c:5")
        // A return address is looked up one byte back: the call in bpfs_middle (line 6).
        let ret = try XCTUnwrap(callReturnOffset(s))
        XCTAssertEqual(s.location(line: " bpfs_middle+0x\(String(ret, radix: 16))/0x40"), dir + "/t.c:6")
        XCTAssertNil(s.location(line: " no_such_function+0x1/0x2"))
        XCTAssertNil(s.location(line: "plain text"))
    }

    /// The offset just after the call instruction in bpfs_middle: the first offset whose byte-back maps to line 6.
    func callReturnOffset(_ s: KernelSymbolizer) -> UInt64? {
        (1..<0x40).first { off in
            s.location(function: "bpfs_middle", offset: UInt64(off), size: nil, returnAddress: true) == dir + "/t.c:6"
                && s.location(function: "bpfs_middle", offset: UInt64(off), size: nil, returnAddress: false) != dir + "/t.c:6"
        }.map(UInt64.init)
    }

    func testReportsGainLocationsButTitlesDoNotChange() throws {
        let log = """
        [   25.883067] WARNING: CPU: 0 PID: 1 at t.c:2 bpfs_leaf+0x4/0x20
        [   25.884091] RIP: 0010:bpfs_leaf+0x0/0x20
        [   25.884536] Call Trace:
        [   25.884945]  <TASK>
        [   25.885241]  bpfs_middle+0x10/0x40
        [   25.885504]  main+0x1c/0x30
        [   25.887028]  </TASK>
        """
        let plain = KernelConsoleParser.parse(log, file: "c.log")
        let s = try KernelSymbolizer(vmlinux: elf)
        var located = plain
        located[0].location = s.culpritLocation(located[0])
        XCTAssertEqual(plain.map(\.title), ["WARNING in bpfs_leaf"])
        XCTAssertEqual(located.map(\.title), plain.map(\.title))
        XCTAssertEqual(located[0].signature, plain[0].signature)
        XCTAssertEqual(located[0].location, dir + "/t.c:1")
        XCTAssertTrue(Triage.jsonLines(located).contains(#""location":"\#(dir)/t.c:1""#))
        XCTAssertFalse(Triage.jsonLines(plain).contains("location"))
        let annotated = s.annotate(located[0].text)
        XCTAssertTrue(annotated.contains("RIP: 0010:bpfs_leaf+0x0/0x20 \(dir)/t.c:1"), annotated)
    }

    func testAFileThatIsNotELFIsOneLineError() throws {
        try "not an elf".write(toFile: dir + "/x", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try KernelSymbolizer(vmlinux: dir + "/x")) { e in
            XCTAssertTrue("\(e)".hasPrefix("cannot read symbols from \(dir)/x: "), "\(e)")
            XCTAssertFalse("\(e)".contains("\n"))
        }
    }
}
