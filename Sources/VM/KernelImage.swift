// A kernel under test: its image, release and module tree, found the way virtme-ng finds them.
import Foundation

/// A bzImage to boot, with its release string and module directory.
public struct KernelImage: Sendable, Equatable {
    public var image: String
    /// e.g. `6.1.0-50-amd64`.
    public var release: String
    /// `.../lib/modules/RELEASE`; nil when the kernel has no module tree (everything built in).
    public var modules: String?

    /// Resolves `image` (absolute path) and its modules: `modules` when given, else
    /// `<image dir>/../lib/modules/<release>`. The release comes from the bzImage header.
    public static func resolve(image: String, modules: String? = nil) throws -> KernelImage {
        let path = URL(fileURLWithPath: image).standardizedFileURL.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VMError.usage("cannot read kernel image '\(image)'")
        }
        guard let release = bzImageRelease(data) else {
            throw VMError.usage("'\(image)' is not an x86 bzImage (no kernel version in its setup header)")
        }
        var mods: String?
        if let m = modules {
            let full = URL(fileURLWithPath: m).standardizedFileURL.path
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDir), isDir.boolValue else {
                throw VMError.usage("--modules '\(m)' is not a directory")
            }
            // Accept either lib/modules or lib/modules/RELEASE.
            mods = FileManager.default.fileExists(atPath: full + "/" + release) ? full + "/" + release : full
        } else {
            let beside = URL(fileURLWithPath: path).deletingLastPathComponent()
                .appendingPathComponent("../lib/modules/" + release).standardizedFileURL.path
            if FileManager.default.fileExists(atPath: beside) { mods = beside }
        }
        return KernelImage(image: path, release: release, modules: mods)
    }

    /// The release in a bzImage: the setup header's `kernel_version` field (offset 0x20e) points
    /// at a NUL-terminated string `RELEASE (builder) #1 ...`, 0x200 bytes past its value.
    public static func bzImageRelease(_ d: Data) -> String? {
        guard d.count > 0x210 else { return nil }
        let b = [UInt8](d.prefix(0x10000))
        guard b.count > 0x206, b[0x202] == 0x48, b[0x203] == 0x64, b[0x204] == 0x72, b[0x205] == 0x53 else { return nil } // "HdrS"
        let off = Int(b[0x20e]) | Int(b[0x20f]) << 8
        let start = off + 0x200
        guard off > 0, start < b.count else { return nil }
        var end = start
        while end < b.count, b[end] != 0, b[end] != 0x20 { end += 1 }
        guard end > start else { return nil }
        return String(decoding: b[start..<end], as: UTF8.self)
    }
}

/// Errors of the VM layer; `exitCode` follows the README table.
public enum VMError: Error, CustomStringConvertible {
    /// Bad flag, file or campaign: exit 2.
    case usage(String)
    /// Missing tool or feature on this machine: exit 3.
    case environment(String)
    /// Report or job files could not be written: exit 4.
    case io(String)

    public var description: String {
        switch self { case .usage(let s), .environment(let s), .io(let s): return s }
    }

    public var exitCode: Int32 {
        switch self { case .usage: return 2; case .environment: return 3; case .io: return 4 }
    }
}
