import CBPFStress
import Glibc
import SystemPackage
import XCTest
@testable import BPFKit

final class ProbeTests: XCTestCase {
    func testProbeValues() throws {
        let osrelease = FileUtil.read("/proc/sys/kernel/osrelease")!.split(separator: "\n").first.map(String.init)
        XCTAssertEqual(Probes.kernelRelease(), osrelease)
        let possible = FileUtil.read("/sys/devices/system/cpu/possible")!
        XCTAssertEqual(Probes.possibleCPUs(), Probes.parseCPUList(possible))
        XCTAssertGreaterThanOrEqual(Probes.possibleCPUs(), 1)
        XCTAssertEqual(Probes.parseCPUList("0-1\n"), 2)
        XCTAssertEqual(Probes.parseCPUList("0,2-3"), 3)
        XCTAssertEqual(Probes.parseCPUList("0"), 1)
        XCTAssertNil(Probes.parseCPUList("x-1"))
        XCTAssertNil(Probes.parseCPUList("3-1"))
        XCTAssertEqual(Probes.isRoot(), geteuid() == 0)
        XCTAssertEqual(Probes.hasBTF(), access("/sys/kernel/btf/vmlinux", R_OK) == 0)
        guard case .success = Probes.canLoadBPF(KernelRuntime()) else { return XCTFail("cannot load a socket filter") }
    }

    func testCgroup2MountParsing() throws {
        let root = try XCTUnwrap(Probes.cgroup2Mount())
        XCTAssertTrue(FileUtil.exists(root + "/cgroup.procs"))
        XCTAssertTrue(FileUtil.exists(root + "/cgroup.controllers"), "\(root) is a cgroup2 root")
        let sample = """
        25 30 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755
        41 31 0:38 / /sys/fs/cgroup/my\\040cg rw,relatime shared:9 - cgroup2 cgroup2 rw
        """
        XCTAssertEqual(Probes.parseCgroup2Mount(mountinfo: sample), "/sys/fs/cgroup/my cg")
        XCTAssertNil(Probes.parseCgroup2Mount(mountinfo: "25 30 0:22 / /sys rw - sysfs sysfs rw"))
    }

    func testTracepointProbe() throws {
        try XCTSkipUnless(Probes.isRoot())
        XCTAssertTrue(Probes.hasTracepoint("sched", "sched_switch"))
        XCTAssertFalse(Probes.hasTracepoint("bpfstress_nope", "nope"))
    }
}

/// A plugin-style runtime: records every bpf command, then forwards to the kernel.
final class RecordingRuntime: Runtime {
    let name = "recording"
    let capabilities: RuntimeCapabilities = [.cgroupHooks]
    var commands: [Int32] = []
    var failNext: Int32 = 0
    private(set) var entry = BPFEntry.kernel

    init() {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        entry = BPFEntry(sys: { ctx, cmd, attr, size in
            let me = Unmanaged<RecordingRuntime>.fromOpaque(ctx!).takeUnretainedValue()
            me.commands.append(cmd)
            if me.failNext != 0 { defer { me.failNext = 0 }; return -Int(me.failNext) }
            return BPFEntry.kernelSys(cmd: cmd, attr: attr, size: size)
        }, ctx: ctx)
    }
}

final class RuntimeTests: XCTestCase {
    func testPluginEntrySeesEveryCommand() throws {
        let rec = RecordingRuntime()
        let obj = try BPFObject.open(path: try ProgramCatalog.objectPath("connect4"))
        let loaded = try obj.load(into: rec)
        defer { loaded.close() }
        XCTAssertEqual(rec.commands, [0, 5], "MAP_CREATE then PROG_LOAD, nothing behind our back")
        let map = try loaded.map("connects")
        try map.update(UInt32(80), UInt64(1))
        XCTAssertEqual(try map.lookup(UInt32(80), as: UInt64.self), 1)
        _ = try rec.nextID(.program, after: 0)
        XCTAssertEqual(rec.commands, [0, 5, 2, 1, 11])
        // The plugin's errno comes back unchanged.
        rec.failNext = EDEADLK
        XCTAssertEqual(bpfErrno { try map.update(UInt32(81), UInt64(1)) }, Errno(rawValue: EDEADLK))
        XCTAssertTrue(map.runtime === rec)
    }

    func testKernelRuntimeDescribesItself() {
        let k = KernelRuntime()
        XCTAssertEqual(k.name, "kernel")
        XCTAssertTrue(k.capabilities.contains(.cgroupHooks))
        XCTAssertFalse(k.capabilities.contains(.extensionRestart))
    }

    func testErrorDescriptions() {
        XCTAssertEqual(BPFError(code: .syscall, operation: "BPF_PROG_ATTACH", errno: .invalidArgument).description,
                       "BPF_PROG_ATTACH failed: EINVAL (Invalid argument)")
        XCTAssertEqual(BPFError(code: .syscall, operation: "BPF_MAP_LOOKUP_BATCH", errno: Errno(rawValue: 524)).description,
                       "BPF_MAP_LOOKUP_BATCH failed: ENOTSUPP (Operation not supported (kernel ENOTSUPP))")
        XCTAssertEqual(BPFError(code: .syscall, operation: "BPF_PROG_LOAD", errno: .permissionDenied, detail: "p: 0: (95) exit\nR0 !read_ok\n").description,
                       "BPF_PROG_LOAD failed: EACCES (Permission denied) [p: 0: (95) exit | R0 !read_ok]")
        XCTAssertEqual(BPFError.Code.syscall.rawValue, "syscall")
    }

    func testEnableStatsReturnsFD() throws {
        let rt = KernelRuntime()
        let statsFD = try rt.enableStats(runTime: true)
        defer { close(statsFD) }
        XCTAssertGreaterThanOrEqual(statsFD, 0)
        XCTAssertEqual(bpfError { _ = try rt.enableStats(runTime: false) }?.code, .unsupported)
    }
}
