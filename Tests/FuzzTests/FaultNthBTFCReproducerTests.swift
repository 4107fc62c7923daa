// A create with btf= in the C reproducer: a refused BTF load is the create's answer (no map), as in the executor; the EEXIST that a failed allocation gives stays a finding.
import Basics
import BPFKit
import Foundation
@testable import Fuzz
import Glibc
import XCTest

extension CReproducerTests {
    /// An LD_PRELOAD shim whose syscall() fails every BPF_BTF_LOAD with `errno` and passes
    /// the rest on: the host kernel has no fault injection, so this stands in for the guest's
    /// injected fault (6.12.117 answered EEXIST; docs/repro/btf-add-type-enomem.md).
    func btfLoadFailingShim(errno e: Int32) throws -> String {
        let dir = NSTemporaryDirectory() + "bpfstress-btfshim-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let src = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <errno.h>
        #include <stdarg.h>
        #include <sys/syscall.h>
        #include <linux/bpf.h>
        long syscall(long n, ...) {
            va_list ap; long a[6]; va_start(ap, n);
            for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
            va_end(ap);
            if (n == SYS_bpf && a[0] == BPF_BTF_LOAD) { errno = \(e); return -1; }
            long (*real)(long, ...) = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
            return real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
        }
        """
        try src.write(toFile: "\(dir)/shim.c", atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/gcc")
        cc.arguments = ["-O1", "-Wall", "-Werror", "-shared", "-fPIC", "-o", "\(dir)/shim.so", "\(dir)/shim.c", "-ldl"]
        try cc.run(); cc.waitUntilExit()
        XCTAssertEqual(cc.terminationStatus, 0)
        return "\(dir)/shim.so"
    }

    /// The finding's program: the create got EEXIST from its BTF load. With the load refused
    /// (the shim), the C program answers the create with the load's EEXIST, makes no map and
    /// exits 1; it used to create the map without the BTF and say "not reproduced". Without
    /// the shim the host kernel gives its own answer (EOPNOTSUPP: a timer in a per-CPU map)
    /// and nothing reproduces.
    func testRefusedBTFLoadIsTheCreatesAnswerInC() throws {
        let f = try kernelFuzzerWithGCC()
        f.model.plantedFault = { _, c, _ in c.op == .create ? "planted" : nil }
        let p = try ProgramText.parse("create map=0 type=lru_percpu_hash key=3 value=28 max=1 btf=timer\nupdate map=0 key=#1 value=@v1\n")
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings.map(\.signature), ["create:planted"])
        XCTAssertEqual(rep.results[0].errno, EOPNOTSUPP)
        var recorded = rep.results
        recorded[0].errno = EEXIST
        let src = CReproducer.source(p, results: recorded, finding: rep.findings.first, cpus: f.model.cpus)
        let (plain, plainOut) = try compileAndRun(src, "btfrefused")
        XCTAssertEqual(plain, 0, plainOut)
        XCTAssertTrue(plainOut.contains("  1  create                   -> EOPNOTSUPP"), plainOut)

        let shim = try btfLoadFailingShim(errno: EEXIST)
        let run = Process()
        run.executableURL = URL(fileURLWithPath: NSTemporaryDirectory() + "bpfstress-crepro-\(getpid())/btfrefused")
        run.environment = ["LD_PRELOAD": shim]
        let out = Pipe()
        run.standardOutput = out
        try run.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        XCTAssertEqual(run.terminationStatus, 1, text)
        XCTAssertTrue(text.contains("      btf_load EEXIST\n  1  create                   -> EEXIST\n"), text)
        XCTAssertTrue(text.contains("  2  update                   -> EBADF"), "no map was made: \(text)")
    }
}

extension CReproducerTests {
    /// Nothing between arming and the armed call allocates: stdout has its static buffer before
    /// the first call and is flushed before fail-nth is written (stdio's first buffer, malloc'ed
    /// by the fail_nth call's report line, took the fault in the 6.12.117 guest). Programs
    /// without fail_nth keep stdio's default buffering.
    func testFailNthReproducerBuffersStdoutBeforeArming() throws {
        let p = try ProgramText.parse("fail_nth n=4\ncreate map=0 type=lru_percpu_hash key=3 value=28 max=1 btf=timer\n")
        var r = CallResult(); r.errno = EEXIST
        let src = CReproducer.source(p, results: [CallResult(), r], finding: nil, cpus: 2)
        let setup = try XCTUnwrap(src.range(of: "setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);"))
        let call1 = try XCTUnwrap(src.range(of: "/* call 1: fail_nth n=4 */"))
        XCTAssertLessThan(setup.lowerBound, call1.lowerBound)
        let flush = try XCTUnwrap(src.range(of: "fflush(stdout);\n    if (fnth_fd >= 0) close(fnth_fd);"))
        let write = try XCTUnwrap(src.range(of: "if (write(fnth_fd, b, len) != len)"))
        XCTAssertLessThan(flush.lowerBound, write.lowerBound)
        XCTAssertTrue(src.contains("long r = btf < 0 ? btf : sys(BPF_MAP_CREATE, &a, SZ(map_extra));"), src)
        let plain = CReproducer.source(try ProgramText.parse("create map=0 type=hash key=4 value=8 max=4\n"), results: [CallResult()], finding: nil, cpus: 2)
        XCTAssertFalse(plain.contains("setvbuf"))
    }
}

extension FaultNthOracleTests {
    /// EEXIST from a create armed with fail_nth is a finding, not an injected failure: the
    /// kernel's BTF loader drops a failed allocation (btf_check_all_metas ignores
    /// btf_add_type's -ENOMEM) and then reports the shifted type ids as a loop. An allocation
    /// failure must come back as ENOMEM; the model must not learn to accept this.
    func testEEXISTFromAnArmedBTFCreateIsAFinding() throws {
        let c = try ProgramText.parse("create map=0 type=lru_percpu_hash key=3 value=28 max=1 btf=timer\n").calls[0]
        for (got, want) in [(EEXIST, ["create:errno"]), (ENOMEM, []), (EOPNOTSUPP, [])] as [(Int32, [String])] {
            let m = ShadowModel(cpus: 2)
            m.failNthAvailable = true
            arm(m, 4)
            XCTAssertEqual(m.check(4, c, result(got, injected: got != EOPNOTSUPP), shape: nil).map(\.signature), want, ErrnoName.name(got))
        }
    }
}
