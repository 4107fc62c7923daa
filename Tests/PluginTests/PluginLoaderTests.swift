import Basics
import BPFKit
import CBPFStress
import Foundation
import StressCore
import XCTest

/// Where the built plugins and the ABI header are.
enum PluginPaths {
    static var repoRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
    }

    /// A product of this package next to the test bundle (.build/<triple>/debug/NAME).
    static func built(_ name: String) throws -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<4 {
            let p = dir.appendingPathComponent(name).path
            if FileManager.default.fileExists(atPath: p) { return p }
            dir = dir.deletingLastPathComponent()
        }
        throw XCTSkip("\(name) is not built next to the tests: run `swift build` first (scripts/test does)")
    }

    static var bugbench: String { get throws { try built("libbpfstress-bugbench.so") } }
    static var example: String { get throws { try built("libbpfstress-example-plugin.so") } }

    /// Compiles `source` into a shared library with the system C compiler.
    static func compile(_ source: String, name: String) throws -> String {
        let dir = NSTemporaryDirectory() + "bpfstress-plugin-\(getpid())-\(name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try source.write(toFile: dir + "/p.c", atomically: true, encoding: .utf8)
        let out = dir + "/lib\(name).so"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        p.arguments = ["-shared", "-fPIC", "-I", repoRoot + "/Sources/CBPFStress/include", dir + "/p.c", "-o", out]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "cc failed for \(name)")
        return out
    }

    /// A plugin whose table claims ABI version `version`.
    static func versioned(_ version: Int) throws -> String {
        try compile("""
        #include "bpfstress_runtime.h"
        static int init(const char *c, char *s, size_t n) { (void)c; s[0] = 0; (void)n; return 0; }
        static int att(const char *s, void **ctx) { (void)s; *ctx = 0; return 0; }
        static long sys(void *ctx, int cmd, void *attr, unsigned int size) { return -38; }
        static const struct bpfstress_runtime t = { .abi_version = \(version), .name = "v\(version)",
            .campaign_init = init, .attach = att, .bpf = sys };
        const struct bpfstress_runtime *bpfstress_runtime_entry(uint32_t v) { (void)v; return &t; }
        """, name: "abi\(version)")
    }
}

/// The loader's errors and the plugin lifecycle, in process.
final class PluginLoaderTests: XCTestCase {
    func error(_ spelling: String) -> StressError? {
        do { _ = try RuntimeFactory.makeCoordinatorRuntime(spelling); return nil } catch { return error as? StressError }
    }

    func testMissingFileIsAUsageErrorNamingThePath() throws {
        let e = try XCTUnwrap(error("plugin:/nonexistent/libnope.so"))
        XCTAssertEqual(e.exitCode, 2)
        XCTAssertEqual(e.message, "runtime plugin /nonexistent/libnope.so: no such file")
        XCTAssertEqual(e.errno, ENOENT)
    }

    func testLibraryWithoutTheEntryPointIsAUsageError() throws {
        let path = try PluginPaths.compile("int not_a_plugin(void) { return 1; }\n", name: "nosym")
        let e = try XCTUnwrap(error("plugin:\(path)"))
        XCTAssertEqual(e.exitCode, 2)
        XCTAssertEqual(e.message, "runtime plugin \(path): not a bpfstress runtime plugin: it does not export bpfstress_runtime_entry")
    }

    func testNotASharedLibraryIsAUsageError() throws {
        let path = NSTemporaryDirectory() + "bpfstress-notelf-\(getpid()).so"
        try "hello".write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let e = try XCTUnwrap(error("plugin:\(path)"))
        XCTAssertEqual(e.exitCode, 2)
        XCTAssertTrue(e.message.hasPrefix("runtime plugin \(path): cannot load: "), e.message)
    }

    func testABIVersionMismatchIsAnEnvironmentError() throws {
        let path = try PluginPaths.versioned(99)
        let e = try XCTUnwrap(error("plugin:\(path)"))
        XCTAssertEqual(e.exitCode, 3)
        XCTAssertEqual(e.message, "runtime plugin \(path): ABI version mismatch: plugin has 99, bpfstress has 1")
        // The same source with the right version loads.
        let ok = try RuntimeFactory.makeCoordinatorRuntime("plugin:\(try PluginPaths.versioned(1))")
        XCTAssertEqual(ok.name, "plugin:v1")
        // ...and its bpf returns what the plugin returns (-ENOSYS), through the typed wrappers.
        XCTAssertThrowsError(try ok.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 4, maxEntries: 1))) {
            XCTAssertEqual(($0 as? BPFError)?.errno?.rawValue, ENOSYS)
        }
    }

    func testSpellings() throws {
        XCTAssertEqual(try RuntimeFactory.parse("kernel"), .kernel)
        XCTAssertEqual(try RuntimeFactory.parse("plugin:/a/b.so"), .plugin(path: "/a/b.so", config: ""))
        XCTAssertEqual(try RuntimeFactory.parse("plugin:/a/b.so:abba,x:y"), .plugin(path: "/a/b.so", config: "abba,x:y"))
        XCTAssertEqual(error("plugin:")?.exitCode, 2)
        XCTAssertEqual(error("wasm")?.message, "unknown runtime 'wasm' (known: kernel, plugin:PATH[:CONFIG])")
    }

    func testBugbenchRejectsAnUnknownFaultAsBadConfig() throws {
        let path = try PluginPaths.bugbench
        let e = try XCTUnwrap(error("plugin:\(path):abba,nosuch"))
        XCTAssertEqual(e.exitCode, 2)
        XCTAssertEqual(e.message, "runtime plugin \(path): bad config 'abba,nosuch': unknown fault 'nosuch' (known: epoch-detach, shared-txn, abba, percpu-size, none)")
    }

    func testExamplePluginForwardsToTheKernelAndHandsItsStateToWorkers() throws {
        let path = try PluginPaths.example
        let rt = try RuntimeFactory.makeCoordinatorRuntime("plugin:\(path):hello")
        XCTAssertEqual(rt.name, "plugin:example")
        XCTAssertEqual(RuntimeFactory.campaignState(of: rt), "example:hello")
        XCTAssertEqual(rt.capabilities, [.cgroupHooks, .tracepoints, .netns])
        // A scenario needing struct_ops is skipped on it, with the reason.
        let env = EnvironmentProbe.probe(runtime: rt)
        XCTAssertEqual(env.unmet(.structOps, runtime: rt), "runtime plugin:example has no struct_ops")
        XCTAssertNil(env.unmet(.cgroupHooks, runtime: rt))
        let worker = try RuntimeFactory.makeWorkerRuntime("plugin:\(path):hello", campaignState: "example:hello")
        let m = try worker.mapCreate(MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 4, name: "bpfs_plug_ex"))
        defer { m.close() }
        try m.update(UInt32(3), UInt64(0xfeed_beef))
        XCTAssertEqual(try m.lookup(UInt32(3), as: UInt64.self), 0xfeed_beef)
        XCTAssertNil(try m.lookup(UInt32(4), as: UInt64.self))
        XCTAssertFalse((worker as! PluginRuntime).providesRestartExtension)
        XCTAssertThrowsError(try (worker as! PluginRuntime).restartExtension("x")) {
            XCTAssertEqual(($0 as? BPFError)?.errno?.rawValue, ENOTSUP)
        }
        RuntimeFactory.campaignFini(rt)
    }

    /// With every fault off the bugbench plugin is a transparent forwarder: the per-CPU batch
    /// lookup (staged through its guarded buffer) returns exact values, restart and hook work.
    func testBugbenchWithoutFaultsIsTransparent() throws {
        let path = try PluginPaths.bugbench
        let rt = try RuntimeFactory.makeCoordinatorRuntime("plugin:\(path):none") as! PluginRuntime
        defer { RuntimeFactory.campaignFini(rt) }
        XCTAssertEqual(rt.name, "plugin:bugbench")
        XCTAssertEqual(rt.capabilities, [.cgroupHooks, .tracepoints, .netns, .extensionRestart])
        let state = try XCTUnwrap(rt.campaignState)
        XCTAssertTrue(state.hasPrefix("/bpfstress-bugbench.\(getpid())."), state)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/dev/shm" + state))
        let w = try RuntimeFactory.makeWorkerRuntime("plugin:\(path):none", campaignState: state) as! PluginRuntime
        let ncpus = Probes.possibleCPUs()
        let m = try w.mapCreate(MapSpec(type: .percpuHash, keySize: 4, valueSize: 4, maxEntries: 8, name: "bpfs_plug_pc"))
        defer { m.close() }
        let stride = perCPUValueStride(valueSize: 4)
        for key in UInt32(0)..<5 {
            var v = [UInt8](repeating: 0, count: stride * ncpus)
            for c in 0..<ncpus { v[c * stride] = UInt8(key * 16 + UInt32(c)) }
            try withUnsafeBytes(of: key) { k in try v.withUnsafeBytes { try m.update(key: k.baseAddress, value: $0.baseAddress!) } }
        }
        var keys = [UInt32](repeating: 0, count: 8)
        var values = [UInt8](repeating: 0, count: stride * ncpus * 8)
        var outBatch: UInt64 = 0
        var count: UInt32 = 8
        XCTAssertThrowsError(try keys.withUnsafeMutableBytes { k in
            try values.withUnsafeMutableBytes { v in
                try m.lookupBatch(inBatch: nil, outBatch: &outBatch, keys: k.baseAddress!, values: v.baseAddress!, count: &count)
            }
        }) { XCTAssertEqual(($0 as? BPFError)?.errno?.rawValue, ENOENT) }  // the whole map in one batch
        XCTAssertEqual(count, 5)
        for i in 0..<5 {
            for c in 0..<ncpus {
                XCTAssertEqual(values[(i * ncpus + c) * stride], UInt8(keys[i] * 16 + UInt32(c)))
            }
        }
        XCTAssertEqual(Set(keys.prefix(5)), [0, 1, 2, 3, 4])
        try w.restartExtension("cgroup_sock_addr")
        XCTAssertEqual(try w.invokeHook(attachType: 23, context: [1, 0, 0, 0]), 0)
        RuntimeFactory.campaignFini(rt)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/dev/shm" + state))
    }
}
