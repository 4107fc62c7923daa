// Unit tests of the bzImage header parser and kernel resolution.
import Foundation
import XCTest
@testable import VM

final class KernelImageTests: XCTestCase {
    /// A fake setup header: "HdrS" at 0x202, kernel_version pointer at 0x20e.
    func fakeImage(version: String) -> Data {
        var b = [UInt8](repeating: 0, count: 0x3000)
        b[0x202] = 0x48; b[0x203] = 0x64; b[0x204] = 0x72; b[0x205] = 0x53
        let off = 0x1000
        b[0x20e] = UInt8(off & 0xff); b[0x20f] = UInt8(off >> 8)
        let s = Array((version + " (builder@host) #1 SMP").utf8)
        for (i, c) in s.enumerated() { b[off + 0x200 + i] = c }
        return Data(b)
    }

    func testReleaseFromSetupHeader() {
        XCTAssertEqual(KernelImage.bzImageRelease(fakeImage(version: "6.1.0-50-amd64")), "6.1.0-50-amd64")
    }

    func testNotABzImage() {
        var d = fakeImage(version: "6.1.0")
        d[0x202] = 0
        XCTAssertNil(KernelImage.bzImageRelease(d))
        XCTAssertNil(KernelImage.bzImageRelease(Data([1, 2, 3])))
    }

    func testModulesFoundBesideImage() throws {
        let root = NSTemporaryDirectory() + "kimg-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/boot", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/lib/modules/6.9.9-test", withIntermediateDirectories: true)
        try fakeImage(version: "6.9.9-test").write(to: URL(fileURLWithPath: root + "/boot/vmlinuz-6.9.9-test"))
        let k = try KernelImage.resolve(image: root + "/boot/vmlinuz-6.9.9-test")
        XCTAssertEqual(k.release, "6.9.9-test")
        XCTAssertEqual(k.modules, root + "/lib/modules/6.9.9-test")
    }

    func testMissingImageIsUsageError() {
        XCTAssertThrowsError(try KernelImage.resolve(image: "/nonexistent/vmlinuz")) { e in
            XCTAssertEqual((e as? VMError)?.exitCode, 2)
        }
    }
}
