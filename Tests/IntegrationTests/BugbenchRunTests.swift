import Foundation
import XCTest

/// Runtime plugins through the CLI: loader errors with their exit codes, the README's example
/// plugin driving a real campaign, and `bpfstress bugbench` finding all four planted seed bugs.
final class BugbenchRunTests: XCTestCase {
    /// A product of the package next to the bpfstress binary.
    func builtLibrary(_ name: String) throws -> String {
        let p = URL(fileURLWithPath: Harness.binary).deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.fileExists(atPath: p) else { throw XCTSkip("\(p) not built: run `swift build` first") }
        return p
    }

    func compilePlugin(_ source: String, name: String, in dir: String, defines: [String] = []) throws -> String {
        try source.write(toFile: dir + "/\(name).c", atomically: true, encoding: .utf8)
        let out = dir + "/lib\(name).so"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/cc")
        p.arguments = defines.map { "-D" + $0 } + ["-shared", "-fPIC", "-I", Harness.repoRoot + "/Sources/CBPFStress/include",
                                                   dir + "/\(name).c", "-o", out]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        return out
    }

    /// A plugin that crashes in its constructor, entry point, campaign_init, attach or its bpf
    /// during the probes used to kill the coordinator (exit 139 or 134, no report). It is now
    /// loaded and probed in a child first: one line naming the plugin, the signal and the stage.
    func testCrashingPluginIsOneLineExitThreeNamingTheSignal() throws {
        let dir = Harness.tempDir("plugin-crash")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = """
        #include <signal.h>
        #include <stdlib.h>
        #include "bpfstress_runtime.h"
        #ifdef IN_CTOR
        __attribute__((constructor)) static void boom(void) { raise(SIGSEGV); }
        #endif
        static int init(const char *c, char *s, size_t n) {
            (void)c; (void)n;
        #ifdef IN_INIT
            *(volatile int *)0 = 1;
        #endif
            s[0] = 0; return 0;
        }
        static int att(const char *s, void **ctx) {
            (void)s; *ctx = 0;
        #ifdef IN_ATTACH
            raise(SIGBUS);
        #endif
            return 0;
        }
        static long sys(void *ctx, int cmd, void *attr, unsigned int size) {
            (void)ctx; (void)cmd; (void)attr; (void)size;
        #ifdef IN_BPF
            __builtin_trap();
        #endif
            return -38;
        }
        static const struct bpfstress_runtime t = { .abi_version = 1, .name = "crashy",
            .campaign_init = init, .attach = att, .bpf = sys };
        const struct bpfstress_runtime *bpfstress_runtime_entry(uint32_t v) {
            (void)v;
        #ifdef IN_ENTRY
            abort();
        #endif
            return &t;
        }
        """
        let cases: [(String, String)] = [
            ("IN_CTOR", "crashed with SIGSEGV in its constructors or entry point"),
            ("IN_ENTRY", "crashed with SIGABRT in its constructors or entry point"),
            ("IN_INIT", "crashed with SIGSEGV in campaign_init"),
            ("IN_ATTACH", "crashed with SIGBUS in attach"),
            ("IN_BPF", "crashed with SIGILL in its bpf during the environment probes"),
        ]
        for (define, what) in cases {
            let lib = try compilePlugin(source, name: "crashy_\(define)", in: dir, defines: [define])
            let r = try Harness.run(["run", "--runtime", "plugin:\(lib)", "--scenario", "map-parallel", "--duration", "1s",
                                     "--report-dir", dir + "/reports", "--quiet"])
            XCTAssertEqual(r.status, 3, "\(define): \(r.stderr)")
            XCTAssertEqual(r.stderr, "bpfstress: runtime plugin \(lib) \(what)\n", define)
            XCTAssertEqual(r.workers, [], define)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/reports/latest"), "no report for a run that never started")
    }

    func testLoaderErrorsAreOneLineWithExitCodes() throws {
        let dir = Harness.tempDir("plugin-errors")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let missing = try Harness.run(["run", "--runtime", "plugin:\(dir)/nope.so", "--scenario", "map-parallel",
                                       "--duration", "1s", "--report-dir", dir, "--quiet"])
        XCTAssertEqual(missing.status, 2, missing.stderr)
        XCTAssertTrue(missing.stderr.hasSuffix("bpfstress: runtime plugin \(dir)/nope.so: no such file\n"), missing.stderr)

        let nosym = try compilePlugin("int unrelated(void) { return 0; }\n", name: "nosym", in: dir)
        let r2 = try Harness.run(["run", "--runtime", "plugin:\(nosym)", "--scenario", "map-parallel", "--duration", "1s",
                                  "--report-dir", dir, "--quiet"])
        XCTAssertEqual(r2.status, 2, r2.stderr)
        XCTAssertTrue(r2.stderr.contains("bpfstress: runtime plugin \(nosym): not a bpfstress runtime plugin: it does not export bpfstress_runtime_entry\n"), r2.stderr)

        let v2 = try compilePlugin("""
        #include "bpfstress_runtime.h"
        static int init(const char *c, char *s, size_t n) { (void)c; (void)n; s[0] = 0; return 0; }
        static int att(const char *s, void **ctx) { (void)s; *ctx = 0; return 0; }
        static long sys(void *ctx, int cmd, void *attr, unsigned int size) { return -38; }
        static const struct bpfstress_runtime t = { .abi_version = 2, .name = "future",
            .campaign_init = init, .attach = att, .bpf = sys };
        const struct bpfstress_runtime *bpfstress_runtime_entry(uint32_t v) { (void)v; return &t; }
        """, name: "future", in: dir)
        let r3 = try Harness.run(["run", "--runtime", "plugin:\(v2)", "--scenario", "map-parallel", "--duration", "1s",
                                  "--report-dir", dir, "--quiet"])
        XCTAssertEqual(r3.status, 3, r3.stderr)
        XCTAssertTrue(r3.stderr.contains("bpfstress: runtime plugin \(v2): ABI version mismatch: plugin has 2, bpfstress has 1\n"), r3.stderr)

        let bugbench = try builtLibrary("libbpfstress-bugbench.so")
        let r4 = try Harness.run(["run", "--runtime", "plugin:\(bugbench):epoch-detach,typo", "--scenario", "map-parallel",
                                  "--duration", "1s", "--report-dir", dir, "--quiet"])
        XCTAssertEqual(r4.status, 2, r4.stderr)
        XCTAssertTrue(r4.stderr.contains("unknown fault 'typo' (known: epoch-detach, shared-txn, abba, percpu-size, none)"), r4.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/latest"), "no report for a run that never started")
    }

    /// The README's minimal plugin runs map-parallel through its own bpf entry, in every worker.
    func testExamplePluginRunsMapParallel() throws {
        let example = try builtLibrary("libbpfstress-example-plugin.so")
        let dir = Harness.tempDir("plugin-example")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(["run", "--runtime", "plugin:\(example):cfg", "--scenario", "map-parallel", "--duration", "3s",
                                 "--workers", "2", "--seed", "5", "--report-dir", dir, "--quiet"], timeout: 60)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let s = try Harness.json(dir + "/latest/summary.json")
        XCTAssertEqual(s["runtime"] as? String, "plugin:example")
        let sc = (s["scenarios"] as! [[String: Any]]).first { $0["name"] as? String == "map-parallel" }!
        XCTAssertEqual(sc["status"] as? String, "ran")
        XCTAssertGreaterThan((sc["ops"] as? Int) ?? 0, 0)
        XCTAssertEqual((s["buckets"] as! [Any]).count, 0)
        XCTAssertEqual((s["workerDeaths"] as! [Any]).count, 0)
        // What the example lacks (struct_ops) is skipped with the reason, not failed.
        let r2 = try Harness.run(["run", "--runtime", "plugin:\(example)", "--scenario", "extension-restart",
                                  "--duration", "2s", "--report-dir", dir, "--quiet"], timeout: 60)
        XCTAssertEqual(r2.status, 0, r2.stdout + r2.stderr)
        let s2 = try Harness.json(dir + "/latest/summary.json")
        let xr = (s2["scenarios"] as! [[String: Any]]).first { $0["name"] as? String == "extension-restart" }!
        let so = (xr["checks"] as! [[String: Any]]).first { $0["name"] as? String == "structops-churn" }!
        XCTAssertEqual(so["skipReason"] as? String, "struct_ops churn skipped: runtime plugin:example has no struct_ops or no kernel BTF")
    }

    /// The acceptance run: every fault found with the right type, culprits named, each within
    /// 60 s, and the no-fault control clean.
    func testBugbenchFindsEveryPlantedFaultAndTheControlIsClean() throws {
        _ = try builtLibrary("libbpfstress-bugbench.so")
        let dir = Harness.tempDir("bugbench")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Harness.run(["bugbench", "--report-dir", dir, "--control-duration", "6"], timeout: 400)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let bench = try XCTUnwrap((try FileManager.default.contentsOfDirectory(atPath: dir)).first { $0.hasPrefix("bugbench-2") })
        let json = try Harness.json(dir + "/" + bench + "/bugbench.json")
        let rows = Dictionary(uniqueKeysWithValues: (json["rows"] as! [[String: Any]]).map { ($0["fault"] as! String, $0) })
        XCTAssertEqual(Set(rows.keys), ["epoch-detach", "shared-txn", "abba", "percpu-size", "control"])
        let expected = ["epoch-detach": "hang", "abba": "hang", "shared-txn": "failure", "percpu-size": "crash"]
        for (fault, type) in expected {
            let row = rows[fault]!
            XCTAssertEqual(row["found"] as? Bool, true, fault)
            XCTAssertEqual(row["findingType"] as? String, type, fault)
            XCTAssertEqual(row["culpritsNamed"] as? Bool, true, "\(fault): missing \(row["missingCulprits"] ?? "")")
            // "found" already means within --limit (60 s); the time itself is a measurement.
            XCTAssertNotNil(row["secondsToFirstFinding"] as? Double, fault)
        }
        XCTAssertEqual(rows["shared-txn"]!["errno"] as? Int, 22)
        XCTAssertTrue((rows["shared-txn"]!["title"] as! String).hasSuffix("failed: EINVAL in load-attach-v4v6"))
        XCTAssertEqual(rows["percpu-size"]!["title"] as? String,
                       "SIGSEGV in memcpy from bb_lookup_batch_copy_values in percpu-batch-sizes")
        XCTAssertTrue((rows["epoch-detach"]!["title"] as! String).hasPrefix("hang in bb_"))
        // Usually `hang in bb_stats_account ...`; on a loaded machine the capture can find both
        // threads waiting, and the title becomes `deadlock in P from bb_... and bb_...`.
        let abba = rows["abba"]!["title"] as! String
        XCTAssertTrue(abba.contains(" in bb_") || (abba.hasPrefix("deadlock in ") && abba.contains(" from bb_")), abba)
        XCTAssertEqual(rows["control"]!["findings"] as? Int, 0)
        // The epoch-detach dump holds the seed's two stacks: the restart synchronizing under the
        // provider lock, and program creation waiting for that lock inside its epoch.
        let run = rows["epoch-detach"]!["runDirectory"] as! String
        let dumps = try FileManager.default.subpathsOfDirectory(atPath: run + "/findings")
            .compactMap { try? String(contentsOfFile: run + "/findings/" + $0, encoding: .utf8) }.joined()
        XCTAssertTrue(dumps.contains(" bb_epoch_synchronize+0x"), dumps)
        XCTAssertTrue(dumps.contains(" bb_program_information_detach_provider+0x"))
        XCTAssertTrue(dumps.contains(" bb_program_create+0x"))
        Harness.validateJUnit(dir + "/" + bench + "/junit.xml")
        let junit = try String(contentsOfFile: dir + "/" + bench + "/junit.xml", encoding: .utf8)
        for name in ["epoch-detach", "shared-txn", "abba", "percpu-size", "control"] {
            XCTAssertTrue(junit.contains("<testcase name=\"\(name)\" classname=\"bugbench\""), name)
        }
        XCTAssertFalse(junit.contains("<failure"))
        XCTAssertFalse(r.workers.isEmpty)
        XCTAssertEqual(r.leakedWorkers, [])
        XCTAssertEqual(Harness.leftoverCgroups(), [])
        let shm = (try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []
        XCTAssertEqual(shm.filter { $0.hasPrefix("bpfstress-bugbench.\(r.pid).") }, [])
    }
}
