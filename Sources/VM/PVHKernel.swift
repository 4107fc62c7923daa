// The bzImage's own vmlinux, unpacked once and cached, booted through its PVH entry: no decompressor under TCG.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Under TCG the bzImage's decompressor (xz for Debian's kernels) is emulated instruction by
/// instruction: it took 4-8 s of a 13 s boot here, before the kernel's clock even starts. A kernel
/// built with CONFIG_PVH carries an ELF note with a 32-bit entry point, and qemu's `-kernel` boots
/// such an ELF directly. The vmlinux is the bzImage's payload, decompressed on the host: the same
/// kernel code, entered through `pvh_start_xen` instead of the decompressor (so no KASLR: the
/// guest runs `nokaslr` anyway).
public enum PVHKernel {
    public static var cacheRoot: String {
        if let c = ProcessInfo.processInfo.environment["BPFSTRESS_CACHE"], !c.isEmpty { return c + "/vmlinux" }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "/root"
        return home + "/.cache/bpfstress/vmlinux"
    }

    /// What `-kernel` gets and how it was chosen, for the log and the summary's `vm.boot`.
    public struct Choice: Sendable, Equatable {
        public var image: String
        /// `pvh` (the cached vmlinux) or `bzimage`.
        public var method: String
        /// Why the bzImage is booted (empty for pvh).
        public var why: String
    }

    /// The vmlinux to boot for `kernel` when it has a PVH entry, else the bzImage with the reason.
    /// BPFSTRESS_VM_BOOT=bzimage forces the bzImage (for comparisons, or a kernel whose PVH path
    /// misbehaves).
    public static func choose(_ kernel: KernelImage) -> Choice {
        let bz = Choice(image: kernel.image, method: "bzimage", why: "")
        if ProcessInfo.processInfo.environment["BPFSTRESS_VM_BOOT"] == "bzimage" {
            return Choice(image: kernel.image, method: "bzimage", why: "BPFSTRESS_VM_BOOT=bzimage")
        }
        do { return Choice(image: try path(for: kernel), method: "pvh", why: "") } catch {
            var c = bz
            c.why = "\(error)"
            return c
        }
    }

    /// The cached vmlinux (unpacked when missing). The key covers the image's path, size and mtime.
    public static func path(for kernel: KernelImage) throws -> String {
        var st = stat()
        guard stat(kernel.image, &st) == 0 else { throw VMError.usage("cannot stat \(kernel.image)") }
        let key = Initramfs.fnv1a(kernel.image + "\0\(st.st_size)\0\(st.st_mtim.tv_sec)")
        let out = cacheRoot + "/" + kernel.release + "-" + String(key, radix: 16) + ".vmlinux"
        if FileManager.default.fileExists(atPath: out) { return out }
        guard let data = FileManager.default.contents(atPath: kernel.image) else { throw VMError.usage("cannot read \(kernel.image)") }
        let payload = try self.payload(data)
        try FileManager.default.createDirectory(atPath: cacheRoot, withIntermediateDirectories: true)
        let tmp = out + ".tmp.\(getpid())"
        defer { unlink(tmp); unlink(tmp + ".in") }
        guard FileManager.default.createFile(atPath: tmp + ".in", contents: payload.bytes) else { throw VMError.io("cannot write \(tmp).in") }
        // The payload ends in the kernel's 4-byte size_append: single-stream / trailing-garbage tolerant.
        let tool: String
        switch payload.format {
        case "xz": tool = "xz -dc --single-stream"
        case "gzip": tool = "gzip -dc"
        case "zstd": tool = "zstd -dcq"
        case "lz4": tool = "lz4 -dcq"
        default: throw VMError.environment("the bzImage payload is \(payload.format): not unpacked")
        }
        let r = try Run.capture(["/bin/sh", "-c", "\(tool) < \"$1\" > \"$2\"", "unpack", tmp + ".in", tmp], timeout: 120)
        guard let elf = FileManager.default.contents(atPath: tmp), elf.count > 0x1000 else {
            throw VMError.environment("unpacking the \(payload.format) payload failed: \(r.output.suffix(200))")
        }
        guard hasPVHEntry(elf) else { throw VMError.environment("the vmlinux has no PVH entry note (CONFIG_PVH off)") }
        guard rename(tmp, out) == 0 else { throw VMError.io("rename \(tmp): errno \(errno)") }
        return out
    }

    /// The compressed kernel inside a bzImage: setup header fields `setup_sects` (0x1f1),
    /// `payload_offset` (0x248) and `payload_length` (0x24c, boot protocol 2.08+), relative to the
    /// protected-mode code after the setup sectors. The format is named from its magic bytes.
    static func payload(_ d: Data) throws -> (bytes: Data, format: String) {
        let b = [UInt8](d.prefix(0x400))
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        guard b.count >= 0x250, b[0x202] == 0x48, b[0x203] == 0x64, b[0x204] == 0x72, b[0x205] == 0x53 else {
            throw VMError.usage("not a bzImage (no HdrS setup header)")
        }
        guard u16(0x206) >= 0x208 else { throw VMError.environment("boot protocol \(String(u16(0x206), radix: 16)) has no payload fields") }
        let sects = b[0x1f1] == 0 ? 4 : Int(b[0x1f1])
        let start = (sects + 1) * 512 + u32(0x248), len = u32(0x24c)
        guard len > 16, start + len <= d.count else { throw VMError.usage("bzImage payload out of bounds") }
        let p = d.subdata(in: start..<(start + len))
        let m = [UInt8](p.prefix(6))
        let format: String
        if m.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) { format = "xz" }
        else if m.starts(with: [0x1f, 0x8b]) { format = "gzip" }
        else if m.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { format = "zstd" }
        else if m.starts(with: [0x02, 0x21, 0x4c, 0x18]) { format = "lz4" }
        else if m.starts(with: [0x42, 0x5a, 0x68]) { format = "bzip2" }
        else { format = "unknown (" + m.prefix(4).map { String(format: "%02x", $0) }.joined() + ")" }
        return (p, format)
    }

    /// An ELF64 x86-64 executable with a PT_NOTE holding the note named "Xen" of type 18
    /// (XEN_ELFNOTE_PHYS32_ENTRY): the entry qemu's PVH loader jumps to.
    static func hasPVHEntry(_ d: Data) -> Bool {
        guard d.count > 64, d.starts(with: [0x7f, 0x45, 0x4c, 0x46, 2, 1]) else { return false }
        func u(_ o: Int, _ n: Int) -> Int {
            guard o >= 0, o + n <= d.count else { return -1 }
            var v = 0
            for i in (0..<n).reversed() { v = v << 8 | Int(d[d.startIndex + o + i]) }
            return v
        }
        let phoff = u(0x20, 8), phentsize = u(0x36, 2), phnum = u(0x38, 2)
        guard phoff > 0, phentsize >= 56, phnum > 0, phnum < 64 else { return false }
        for i in 0..<phnum {
            let ph = phoff + i * phentsize
            guard u(ph, 4) == 4 else { continue }  // PT_NOTE
            var o = u(ph + 8, 8)
            let end = o + u(ph + 32, 8)
            while o >= 0, o + 12 <= end, o + 12 <= d.count {
                let namesz = u(o, 4), descsz = u(o + 4, 4), type = u(o + 8, 4)
                guard namesz >= 0, descsz >= 0 else { return false }
                let name = d.subdata(in: (d.startIndex + o + 12)..<(d.startIndex + min(d.count, o + 12 + namesz)))
                if type == 18, name.starts(with: Array("Xen".utf8)) { return true }
                o += 12 + (namesz + 3) / 4 * 4 + (descsz + 3) / 4 * 4
            }
        }
        return false
    }
}
