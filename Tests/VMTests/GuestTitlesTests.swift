// Titles of guest-level findings from real 6.1 guest consoles (Fixtures/, captured by the VM tests).
import Foundation
import Reports
import XCTest
@testable import VM

final class GuestTitlesTests: XCTestCase {
    static func fixture(_ name: String) throws -> String {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        return try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
    }

    func testSysrqPanicTitledLikeSyzkaller() throws {
        // As the console stream delivers it (CR removed); the raw file has CRLF line ends.
        let console = try Self.fixture("panic-sysrq-c-6.1.txt").replacingOccurrences(of: "\r\n", with: "\n")
        let panicLine = try XCTUnwrap(console.split(separator: "\n").map(String.init).first { $0.contains("Kernel panic") })
        XCTAssertEqual(ConsoleLineKind.classify(panicLine), .panic("sysrq triggered crash"))
        let near = GuestSession.reportsNear(panic: "sysrq triggered crash", in: console)
        XCTAssertEqual(near.map(\.title), [])
        XCTAssertEqual(GuestTitles.panic(reason: "sysrq triggered crash", reports: near), "kernel panic: sysrq triggered crash")
    }

    func testPanicAfterSoftLockupTakesTheLockupTitle() throws {
        let console = """
        [   80.1] watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [bpfs.lcabba:212]
        [   80.1] Modules linked in: overlay 9p netfs 9pnet_virtio virtio_pci
        [   80.1] CPU: 1 PID: 212 Comm: bpfs.lcabba Not tainted 6.1.0-50-amd64 #1  Debian 6.1.176-1
        [   80.1] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
        [   80.1] RIP: 0010:native_queued_spin_lock_slowpath+0x5e/0x2c0
        [   80.1] Code: 6d f0 0f ba 2f 08 0f 92 c0 0f b6 c0 c1 e0 08 89 c2 8b 07 30 e4 09 d0 a9 00 01 ff ff 75 47 85 c0 74 0e 8b 07 84 c0 74 08 f3 90 <8b> 07 84 c0 75 f8 b8 01 00 00 00 66 89 07 5d c3 cc cc cc cc 8b 37
        [   80.1] RSP: 0018:ffffb7a6c0b2bd10 EFLAGS: 00000202
        [   80.1] RAX: 0000000000000001 RBX: ffff9a4e41a0e000 RCX: 0000000000000000
        [   80.1] Call Trace:
        [   80.1]  <TASK>
        [   80.1]  _raw_spin_lock_irqsave+0x39/0x50
        [   80.1]  htab_map_update_elem+0x10b/0x3a0
        [   80.1]  bpf_map_update_value+0x10f/0x2a0
        [   80.1]  map_update_elem+0x1b9/0x3c0
        [   80.1]  __sys_bpf+0x7d0/0x2310
        [   80.1]  __x64_sys_bpf+0x1a/0x30
        [   80.1]  do_syscall_64+0x5d/0xb0
        [   80.1]  entry_SYSCALL_64_after_hwframe+0x64/0xce
        [   80.1]  </TASK>
        """
        let panicked = console + "\n[   80.2] Kernel panic - not syncing: softlockup: hung tasks\n"
        // The lockup report as the kernel-report parser titles it on its own...
        let lockup = try XCTUnwrap(KernelConsoleParser.parse(console).first)
        XCTAssertTrue(lockup.title.hasPrefix("BUG: soft lockup in "), lockup.title)
        // ...is the panic's title.
        let near = GuestSession.reportsNear(panic: "softlockup: hung tasks", in: panicked)
        XCTAssertEqual(GuestTitles.panic(reason: "softlockup: hung tasks", reports: near), lockup.title)
    }

    func testEveryVCPUsNMIBacktraceIsFound() throws {
        let console = try Self.fixture("nmi-backtrace-silent-agent-6.1.txt")
        let bts = GuestTitles.nmiBacktraces(console)
        XCTAssertEqual(bts.map(\.cpu), [0, 1])
        // CPU 0: the interrupted RIP, then the idle task's frames; the <NMI> handler frames are gone.
        // CPU 0 was in the idle task (PID 0): its frames name nothing.
        XCTAssertEqual(bts[0].frames, ["(idle task)"])
        XCTAssertEqual(bts[1].frames, ["native_safe_halt"])
        XCTAssertNil(GuestTitles.hangCulprit(bts))
        XCTAssertEqual(GuestTitles.hang(reportsBeforeNMI: [], nmiConsole: console, seconds: 8),
                       "guest hang: no heartbeat, every vCPU idle")
    }

    func testHangNamedAfterTheFirstBusyFrame() {
        let console = """
        NMI backtrace for cpu 0 skipped: idling at native_safe_halt+0xb/0x10
        NMI backtrace for cpu 1
        CPU: 1 PID: 212 Comm: bpfs.lcabba Not tainted 6.1.0-50-amd64 #1
        Call Trace:
         <NMI>
         nmi_cpu_backtrace.cold+0x32/0x79
         </NMI>
        RIP: 0010:native_queued_spin_lock_slowpath+0x5e/0x2c0
         <TASK>
         _raw_spin_lock_irqsave+0x39/0x50
         htab_lock_bucket+0x4d/0x60
         htab_map_update_elem+0x10b/0x3a0
         </TASK>
        """
        let bts = GuestTitles.nmiBacktraces(console)
        XCTAssertEqual(bts.count, 2)
        XCTAssertEqual(bts[1].frames, ["native_queued_spin_lock_slowpath", "_raw_spin_lock_irqsave", "htab_lock_bucket", "htab_map_update_elem"])
        XCTAssertEqual(GuestTitles.hang(reportsBeforeNMI: [], nmiConsole: console, seconds: 30), "guest hang in htab_map_update_elem")
    }

    func testConsoleReportBeforeNMINamesTheHang() {
        let lockup = TriageReport(file: "c", type: "hang", title: "BUG: soft lockup in __inet_stream_connect", frame: "__inet_stream_connect")
        XCTAssertEqual(GuestTitles.hang(reportsBeforeNMI: [lockup], nmiConsole: "", seconds: 30), "BUG: soft lockup in __inet_stream_connect")
    }

    func testMarkers() {
        XCTAssertEqual(ConsoleLineKind.classify("bpfstress-heartbeat 12"), .heartbeat)
        XCTAssertEqual(ConsoleLineKind.classify("bpfstress-guest: result 3"), .result(3))
        XCTAssertEqual(ConsoleLineKind.classify("bpfstress-guest: exit 0"), .initExit(0))
        XCTAssertEqual(ConsoleLineKind.classify("bpfstress-guest: agent started pid 137 at 6.44 s"), .agentStarted)
        XCTAssertEqual(ConsoleLineKind.classify("bpfstress-guest: campaign started at 7.02 s"), .campaignStarted)
        XCTAssertEqual(ConsoleLineKind.classify("[   1.0] WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2"),
                       .reportHeader("WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2"))
        XCTAssertEqual(ConsoleLineKind.classify("[   1.0] random: crng init done"), .other)
    }
}
