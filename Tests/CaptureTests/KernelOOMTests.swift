// The OOM killer named from the kernel log, and signals sent with kill told from faults.
@testable import Capture
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class KernelOOMTests: XCTestCase {
    func testMatchTakesOnlyTheOOMKillersLineForThatPid() {
        let global = "Out of memory: Killed process 4242 (bpfs.0.mp) total-vm:1048576kB, anon-rss:900000kB, file-rss:0kB"
        XCTAssertEqual(KernelOOM.match(global, pid: 4242), "Out of memory: Killed process 4242 (bpfs.0.mp)")
        let memcg = "Memory cgroup out of memory: Killed process 77 (python3) total-vm:300000kB"
        XCTAssertEqual(KernelOOM.match(memcg, pid: 77), "Memory cgroup out of memory: Killed process 77 (python3)")
        XCTAssertNil(KernelOOM.match(global, pid: 424), "another pid's prefix")
        XCTAssertNil(KernelOOM.match(global, pid: 42420))
        XCTAssertNil(KernelOOM.match("oom_reaper: reaped process 4242 (bpfs.0.mp), now anon-rss:0kB", pid: 4242))
        XCTAssertNil(KernelOOM.match("audit: Killed process 4242 (x)", pid: 4242), "not the OOM killer")
        XCTAssertNil(KernelOOM.match("Out of memory: Killed process 4242 (unterminated", pid: 4242))
    }

    /// A real OOM kill, confined to a cgroup-v1 memory cgroup of 32 MiB with no swap.
    func testARealOOMKillIsFoundInTheKernelLog() throws {
        try XCTSkipUnless(getuid() == 0, "needs root")
        let v1 = "/sys/fs/cgroup/memory"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: v1 + "/memory.limit_in_bytes"), "no cgroup-v1 memory controller")
        let cg = v1 + "/bpfstress-oomtest-\(getpid())"
        XCTAssertEqual(mkdir(cg, 0o755), 0)
        defer { rmdir(cg) }
        try "33554432".write(toFile: cg + "/memory.limit_in_bytes", atomically: false, encoding: .utf8)
        try? "0".write(toFile: cg + "/memory.swappiness", atomically: false, encoding: .utf8)
        // The child joins the cgroup, then touches 256 MiB: the memcg OOM killer must end it.
        let pid = try Spawn.start(["/bin/sh", "-c", "echo $$ > \(cg)/cgroup.procs && exec /usr/bin/python3 -c "
                                   + "'b = bytearray(256 << 20); import time; time.sleep(30)'"])
        let waited = Spawn.wait(pid, timeout: 30)
        if waited == nil { kill(pid, SIGKILL); _ = Spawn.wait(pid, timeout: 5) }
        let status = try XCTUnwrap(waited, "not killed within 30 s")
        XCTAssertEqual(status & 0x7f, SIGKILL)
        XCTAssertEqual(KernelOOM.killLine(pid: pid), "Memory cgroup out of memory: Killed process \(pid) (python3)")
        XCTAssertNil(KernelOOM.killLine(pid: getpid()))
    }
}
