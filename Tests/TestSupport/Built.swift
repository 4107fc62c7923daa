// Where the test targets find the repository and the built executables.
import Foundation

public enum Built {
    /// The repository root (two levels above Tests/TestSupport).
    public static var repoRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
    }

    /// The shipped CLI, next to the running test bundle (.build/<triple>/debug/bpfstress).
    public static var product: String { executable("bpfstress") }

    /// The CLI plus the test-only scenarios and fixtures (the tests that need a planted hang,
    /// crash, leak or guest failure run this one; the product has none of it).
    public static var selftest: String { executable("bpfstress-selftest") }

    /// `name` in the directory of the running test bundle or up to three levels above it.
    public static func executable(_ name: String) -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return repoRoot + "/.build/debug/" + name
    }
}
