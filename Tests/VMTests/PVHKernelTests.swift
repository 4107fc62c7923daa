// Unit tests of the PVH path: the bzImage payload fields, the ELF note check, and the real unpack.
import Foundation
import XCTest
@testable import VM

final class PVHKernelTests: XCTestCase {
    /// A bzImage-shaped blob: setup header (HdrS, protocol 2.15), 2 setup sectors, then the payload.
    func fakeBzImage(payload: [UInt8], offset: Int = 0x40) -> Data {
        var b = [UInt8](repeating: 0, count: 3 * 512 + offset + payload.count + 64)
        b[0x1f1] = 2
        b[0x202] = 0x48; b[0x203] = 0x64; b[0x204] = 0x72; b[0x205] = 0x53
        b[0x206] = 0x0f; b[0x207] = 0x02
        func put32(_ o: Int, _ v: Int) { for i in 0..<4 { b[o + i] = UInt8((v >> (8 * i)) & 0xff) } }
        put32(0x248, offset); put32(0x24c, payload.count)
        for (i, c) in payload.enumerated() { b[3 * 512 + offset + i] = c }
        return Data(b)
    }

    func testPayloadFoundByHeaderFieldsAndNamedByMagic() throws {
        let xz: [UInt8] = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] + Array(repeating: 0xaa, count: 30)
        let p = try PVHKernel.payload(fakeBzImage(payload: xz))
        XCTAssertEqual(p.format, "xz")
        XCTAssertEqual([UInt8](p.bytes), xz)
        let gz: [UInt8] = [0x1f, 0x8b] + Array(repeating: 1, count: 30)
        XCTAssertEqual(try PVHKernel.payload(fakeBzImage(payload: gz, offset: 0x100)).format, "gzip")
        XCTAssertEqual(try PVHKernel.payload(fakeBzImage(payload: Array(repeating: 7, count: 32))).format, "unknown (07070707)")
    }

    func testPayloadOutOfBoundsOrNoHeaderThrows() {
        var d = fakeBzImage(payload: Array(repeating: 1, count: 32))
        d[0x24d] = 0x7f  // length far past the end
        XCTAssertThrowsError(try PVHKernel.payload(d))
        var e = fakeBzImage(payload: Array(repeating: 1, count: 32))
        e[0x202] = 0
        XCTAssertThrowsError(try PVHKernel.payload(e))
    }

    /// An ELF64 header with one PT_NOTE program header over one note.
    func fakeELF(noteName: String, noteType: UInt32) -> Data {
        var b = [UInt8](repeating: 0, count: 0x200)
        b[0] = 0x7f; b[1] = 0x45; b[2] = 0x4c; b[3] = 0x46; b[4] = 2; b[5] = 1
        func put(_ o: Int, _ v: Int, _ n: Int) { for i in 0..<n { b[o + i] = UInt8((v >> (8 * i)) & 0xff) } }
        put(0x20, 0x40, 8); put(0x36, 56, 2); put(0x38, 1, 2)
        let note = 0x100, name = Array(noteName.utf8) + [0]
        put(0x40, 4, 4); put(0x40 + 8, note, 8); put(0x40 + 32, 12 + 8 + 8, 8)
        put(note, name.count, 4); put(note + 4, 8, 4); put(note + 8, Int(noteType), 4)
        for (i, c) in name.enumerated() { b[note + 12 + i] = c }
        return Data(b)
    }

    func testPVHEntryNoteRecognised() {
        XCTAssertTrue(PVHKernel.hasPVHEntry(fakeELF(noteName: "Xen", noteType: 18)))
        XCTAssertFalse(PVHKernel.hasPVHEntry(fakeELF(noteName: "Xen", noteType: 17)))
        XCTAssertFalse(PVHKernel.hasPVHEntry(fakeELF(noteName: "GNU", noteType: 18)))
        XCTAssertFalse(PVHKernel.hasPVHEntry(Data([0x7f, 0x45, 0x4c, 0x46])))
    }

    /// Debian's 6.1 bzImage (xz, CONFIG_PVH=y) unpacks to a vmlinux with the PVH note; a bzImage
    /// that is not one falls back to booting itself, with the reason.
    func testDebianKernelUnpacksToPVHAndBadImageFallsBack() throws {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "/root"
        let k = ProcessInfo.processInfo.environment["BPFSTRESS_TEST_KERNEL"].flatMap { $0.isEmpty ? nil : $0 }
            ?? home + "/.cache/bpfstress/kernels/linux-image-6.1.0-50-amd64/boot/vmlinuz-6.1.0-50-amd64"
        guard FileManager.default.fileExists(atPath: k) else { throw XCTSkip("no Debian kernel: run scripts/get-kernel linux-image-6.1.0-50-amd64") }
        let c = PVHKernel.choose(try KernelImage.resolve(image: k))
        XCTAssertEqual(c.method, "pvh", c.why)
        XCTAssertTrue(PVHKernel.hasPVHEntry(try XCTUnwrap(FileManager.default.contents(atPath: c.image))))

        let tmp = NSTemporaryDirectory() + "pvh-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        var bad = fakeBzImage(payload: Array(repeating: 7, count: 32))
        let off = 0x1000  // kernel_version string for KernelImage.resolve
        bad.append(Data(repeating: 0, count: off + 0x300 - bad.count))
        bad[0x20e] = UInt8(off & 0xff); bad[0x20f] = UInt8(off >> 8)
        for (i, ch) in "6.9.9-pvhtest (x) #1".utf8.enumerated() { bad[off + 0x200 + i] = ch }
        try bad.write(to: URL(fileURLWithPath: tmp + "/vmlinuz"))
        let f = PVHKernel.choose(try KernelImage.resolve(image: tmp + "/vmlinuz"))
        XCTAssertEqual(f.method, "bzimage")
        XCTAssertEqual(f.image, tmp + "/vmlinuz")
        XCTAssertTrue(f.why.contains("unknown (07070707)"), f.why)
    }
}
