import Glibc
import SystemPackage
import XCTest
@testable import BPFKit

final class LoaderTests: XCTestCase {
    let rt = KernelRuntime()

    func testCatalogBuildsAndFindsObjects() throws {
        let corpora = try ProgramCatalog.corporaDirectory()
        XCTAssertTrue(FileUtil.exists(corpora + "/progs/connect4.bpf.c"))
        XCTAssertEqual(try ProgramCatalog.available(), ["connect4", "connect6", "kptr_stash", "lock_contention", "lock_slowpath", "netns_prog", "tcp_cc", "timer_arm"])
        let obj = try ProgramCatalog.objectPath("connect4")
        XCTAssertEqual(obj, corpora + "/progs/out/connect4.o")
        XCTAssertGreaterThanOrEqual(FileUtil.mtime(obj)!, FileUtil.mtime(corpora + "/progs/connect4.bpf.c")!)
        let e = bpfError { _ = try ProgramCatalog.objectPath("no_such_prog") }
        XCTAssertEqual(e?.code, .io)
        XCTAssertEqual(e?.errno, .noSuchFileOrDirectory)
    }

    func testCatalogRebuildsStaleObject() throws {
        // Work on a private copy so the shared corpora are not touched.
        let dir = "/tmp/bpfstress-catalog-\(getpid())"
        defer { _ = try? runProcess(["/bin/rm", "-rf", dir]) }
        XCTAssertEqual(try runProcess(["/bin/mkdir", "-p", dir + "/progs"]), 0)
        let src = try ProgramCatalog.progsDirectory()
        for f in ["connect4.bpf.c", "connect_common.h"] {
            XCTAssertEqual(try runProcess(["/bin/cp", "\(src)/\(f)", "\(dir)/progs/\(f)"]), 0)
        }
        let saved = getenv("BPFSTRESS_CORPORA").map { String(cString: $0) }
        setenv("BPFSTRESS_CORPORA", dir, 1)
        defer { if let saved { setenv("BPFSTRESS_CORPORA", saved, 1) } else { unsetenv("BPFSTRESS_CORPORA") } }
        let obj = try ProgramCatalog.objectPath("connect4")
        XCTAssertEqual(obj, "\(dir)/progs/out/connect4.o")
        let first = FileUtil.mtime(obj)!
        XCTAssertEqual(try ProgramCatalog.objectPath("connect4"), obj)
        XCTAssertEqual(FileUtil.mtime(obj)!, first, "up-to-date object is not rebuilt")
        // Touching the shared header makes it stale.
        usleep(20_000)
        XCTAssertEqual(try runProcess(["/usr/bin/touch", "\(dir)/progs/connect_common.h"]), 0)
        _ = try ProgramCatalog.objectPath("connect4")
        XCTAssertGreaterThan(FileUtil.mtime(obj)!, first)
        XCTAssertEqual(try BPFObject.open(path: obj).programs.map(\.name), ["count_connect4"])
    }

    func testParsesConnectObjects() throws {
        for (name, prog, section, attach) in [("connect4", "count_connect4", "cgroup/connect4", BPFAttachType.cgroupInet4Connect),
                                              ("connect6", "count_connect6", "cgroup/connect6", BPFAttachType.cgroupInet6Connect)] {
            let obj = try BPFObject.open(path: try ProgramCatalog.objectPath(name))
            XCTAssertEqual(obj.license, "GPL")
            XCTAssertEqual(obj.programs.count, 1)
            let p = obj.programs[0]
            XCTAssertEqual(p.name, prog)
            XCTAssertEqual(p.section, section)
            XCTAssertEqual(p.type, .cgroupSockAddr)
            XCTAssertEqual(p.expectedAttachType, attach)
            XCTAssertFalse(p.mapRelocations.isEmpty)
            XCTAssertTrue(p.mapRelocations.allSatisfy { $0.map == "connects" && p.instructions[$0.index].code == 0x18 })
            XCTAssertEqual(obj.maps.map(\.name), ["connects"])
            XCTAssertEqual(obj.maps[0].spec, MapSpec(type: .hash, keySize: 4, valueSize: 8, maxEntries: 4096, flags: 0, name: "connects"))
        }
    }

    func testLoadCreatesMapAndProgram() throws {
        let obj = try BPFObject.open(path: try ProgramCatalog.objectPath("connect4"))
        let loaded = try obj.load(into: rt)
        defer { loaded.close() }
        let prog = try loaded.program("count_connect4")
        let map = try loaded.map("connects")
        let info = try rt.programInfo(prog)
        XCTAssertEqual(info.type, .cgroupSockAddr)
        XCTAssertEqual(info.name, "count_connect4")
        XCTAssertEqual(info.mapCount, 1)
        let mi = try rt.mapInfo(map)
        XCTAssertEqual(mi.name, "connects")
        XCTAssertEqual(mi.maxEntries, 4096)
        XCTAssertEqual(try rt.program(byID: info.id).name, "count_connect4")
        XCTAssertEqual(bpfError { _ = try loaded.program("nope") }?.code, .loader)
        loaded.close()
        XCTAssertTrue(prog.isClosed && map.isClosed)
    }

    func testMissingFileIsIOError() {
        let e = bpfError { _ = try BPFObject.open(path: "/nonexistent/bpfstress/x.o") }
        XCTAssertEqual(e?.code, .io)
        XCTAssertEqual(e?.errno, .noSuchFileOrDirectory)
        XCTAssertEqual(e?.description, "open object failed: ENOENT (No such file or directory) [/nonexistent/bpfstress/x.o]")
    }

    func testTextFileIsNotAnELF() throws {
        let path = "/tmp/bpfstress-text-\(getpid()).o"
        defer { unlink(path) }
        XCTAssertTrue(FileUtil.create(path, "this is not an object file\n"))
        let e = bpfError { _ = try BPFObject.open(path: path) }
        XCTAssertEqual(e?.code, .elf)
        XCTAssertNil(e?.errno)
        XCTAssertEqual(e?.description, "open object failed: \(path): not an ELF file")
    }

    func testHostELFIsNotBPF() {
        let e = bpfError { _ = try BPFObject.open(path: "/bin/true") }
        XCTAssertEqual(e?.code, .elf)
        XCTAssertEqual(e?.description, "open object failed: /bin/true: not a BPF object (e_machine 62)")
    }

    /// Compiles a one-off BPF source into /tmp with the catalog's compiler.
    func compileTemp(_ tag: String, _ source: String) throws -> String {
        let base = "/tmp/bpfstress-\(tag)-\(getpid())"
        XCTAssertTrue(FileUtil.create(base + ".bpf.c", source))
        try ProgramCatalog.compile(source: base + ".bpf.c", object: base + ".o")
        unlink(base + ".bpf.c")
        return base + ".o"
    }

    func testGlobalDataIsUnsupported() throws {
        let path = try compileTemp("globaldata", """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        __u64 hits;
        SEC("cgroup/connect4") int count_hits(struct bpf_sock_addr *ctx) { __sync_fetch_and_add(&hits, 1); return 1; }
        char LICENSE[] SEC("license") = "GPL";
        """)
        defer { unlink(path) }
        let e = bpfError { _ = try BPFObject.open(path: path) }
        XCTAssertEqual(e?.code, .unsupported)
        let d = e?.description ?? ""
        XCTAssertTrue(d.hasPrefix("open object failed: \(path): program count_hits insn "), d)
        XCTAssertTrue(d.hasSuffix(": relocation to 'hits' in '.bss' (global data is not supported)"), d)
    }

    func testObjectWithoutProgramsIsLoaderError() throws {
        let path = try compileTemp("noprogs", """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); } only_map SEC(".maps");
        char LICENSE[] SEC("license") = "GPL";
        """)
        defer { unlink(path) }
        let e = bpfError { _ = try BPFObject.open(path: path) }
        XCTAssertEqual(e?.code, .loader)
        XCTAssertEqual(e?.description, "open object failed: \(path): no programs (no SEC(\"...\") functions)")
    }

    func testVerifierRejectionCarriesLogTail() {
        // r0 is never written before exit: the verifier says "R0 !read_ok".
        let e = bpfError {
            _ = try rt.progLoad(type: .socketFilter, instructions: [.exit], license: "GPL", expectedAttachType: nil, name: "bpfs_bad")
        }
        XCTAssertEqual(e?.code, .syscall)
        XCTAssertEqual(e?.operation, "BPF_PROG_LOAD")
        XCTAssertEqual(e?.errno, .permissionDenied)  // EACCES
        XCTAssertTrue(e?.detail.contains("R0 !read_ok") ?? false, e?.detail ?? "")
        XCTAssertTrue(e?.detail.hasPrefix("bpfs_bad: ") ?? false)
        XCTAssertFalse(e?.description.contains("\n") ?? true, "description is one line")
    }
}
