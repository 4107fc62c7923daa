import BPFKit
import Foundation
import HostSupport
import StressCore
import TestScenarios
import XCTest
@testable import Scenarios

/// The oracles and kernel helpers of extension-restart.
final class ExtensionRestartTests: XCTestCase {
    // MARK: pure oracles

    func testLeakOracleReportsExactlyTheCreatedObjectsStillLive() {
        let created: Set<ObjectRef> = [ObjectRef(.program, 10), ObjectRef(.map, 10), ObjectRef(.link, 3)]
        XCTAssertEqual(LeakOracle.leaked(created: created, live: [ObjectRef(.program, 11), ObjectRef(.map, 9)]), [])
        // Tampered: map 10 and link 3 are still there; program 10 as a *map* id does not count.
        XCTAssertEqual(LeakOracle.leaked(created: created, live: [ObjectRef(.map, 10), ObjectRef(.link, 3), ObjectRef(.map, 11)]),
                       [ObjectRef(.link, 3), ObjectRef(.map, 10)])
    }

    func testRestartWindowOverlap() {
        typealias S = RestartWindows.Snapshot
        XCTAssertFalse(RestartWindows.overlapped(before: S(active: 0, epoch: 4), after: S(active: 0, epoch: 4)))
        XCTAssertTrue(RestartWindows.overlapped(before: S(active: 1, epoch: 5), after: S(active: 1, epoch: 5)))
        XCTAssertTrue(RestartWindows.overlapped(before: S(active: 0, epoch: 4), after: S(active: 1, epoch: 5)))
        XCTAssertTrue(RestartWindows.overlapped(before: S(active: 0, epoch: 4), after: S(active: 0, epoch: 6)),
                      "a whole window opened and closed during the op")
        let w = RestartWindows()
        let a = w.snapshot()
        w.enter()
        XCTAssertEqual(w.snapshot(), S(active: 1, epoch: 1))
        w.exit()
        XCTAssertEqual(w.snapshot(), S(active: 0, epoch: 2))
        XCTAssertTrue(RestartWindows.overlapped(before: a, after: w.snapshot()))
    }

    /// Every descriptor fits the telemetry (16 check counters) and comm names (6 characters).
    func testEveryDescriptorFitsTheTelemetryLayout() {
        for d in (Scenarios.all + TestScenarios.all).map({ $0.descriptor }) {
            XCTAssertLessThanOrEqual(d.checks.count, 16, d.name)
            XCTAssertLessThanOrEqual(d.shortName.count, 6, d.name)
            XCTAssertEqual(Set(d.checks.map(\.name)).count, d.checks.count, "\(d.name) declares a check twice")
        }
    }

    /// Only a restart of the very provider makes a creator's errno tolerable, and only the
    /// documented ones: the shared-transaction EINVAL of seed bug 2 never is.
    func testProviderRestartErrnosAreTheDocumentedSet() {
        XCTAssertEqual(ExtensionRestart.providerRestartErrnos, [ENODEV, EAGAIN, EBUSY])
        XCTAssertFalse(ExtensionRestart.providerRestartErrnos.contains(EINVAL))
    }

    // MARK: live kernel helpers

    /// The oracle's id walk sees a live map, and reports it as a leak until its fd closes.
    func testWaitGoneFailsOnAHeldMapAndPassesOnceClosed() throws {
        try XCTSkipUnless(geteuid() == 0, "needs root")
        let rt = KernelRuntime()
        let m = try rt.mapCreate(MapSpec(type: .array, keySize: 4, valueSize: 8, maxEntries: 1, name: "bpfs_leaktest"))
        let ref = ObjectRef(.map, try rt.mapInfo(m).id)
        XCTAssertTrue(LeakOracle.liveIDs(rt, kinds: [.map]).contains(ref))
        XCTAssertEqual(LeakOracle.waitGone([ref], runtime: rt, seconds: 0.1), [ref], "a held map is a leak")
        m.close()
        XCTAssertEqual(LeakOracle.waitGone([ref], runtime: rt, seconds: 3), [])
    }

    /// Register under a unique name, connect through it (init counted once per connection),
    /// unregister (the name disappears), and every program and map id goes away after close.
    func testStructOpsRegisterConnectUnregister() throws {
        try XCTSkipUnless(geteuid() == 0, "needs root")
        let name = "bpfst\(String(getpid(), radix: 16))"
        let ops = try StructOpsObject.register(path: ProgramCatalog.objectPath("tcp_cc"), map: "bpfs_cc", name: name)
        let progIDs = ops.programIDs()
        XCTAssertEqual(progIDs.count, 5)
        let mapIDs = ["bpfs_cc", "cc_calls"].compactMap { ops.mapID($0) }
        XCTAssertEqual(mapIDs.count, 2)
        // A second registration under the same name is refused by the kernel.
        XCTAssertThrowsError(try StructOpsObject.register(path: ProgramCatalog.objectPath("tcp_cc"), map: "bpfs_cc", name: name)) {
            XCTAssertEqual(($0 as? BPFError)?.errno, .fileExists, "\($0)")
        }
        let listener = try LoopbackListener(family: .v4)
        for _ in 0..<3 {
            let c = try CongestionClient.connect(family: AF_INET, port: listener.port, congestion: name)
            XCTAssertEqual(c.inUse, name)
            close(c.fd)
        }
        let calls = try ops.map("cc_calls")
        XCTAssertEqual(try calls.lookup(UInt32(0), as: UInt64.self), 3, "init once per connection")
        try ops.unregister()
        XCTAssertThrowsError(try CongestionClient.connect(family: AF_INET, port: listener.port, congestion: name)) {
            XCTAssertEqual(($0 as? BPFError)?.errno, .noSuchFileOrDirectory, "\($0)")
        }
        XCTAssertThrowsError(try StructOpsObject.register(path: "/nonexistent/tcp_cc.o", map: "bpfs_cc", name: name))
        calls.close()
        ops.close()
        let refs = Set(progIDs.map { ObjectRef(.program, $0) } + mapIDs.map { ObjectRef(.map, $0) })
        XCTAssertEqual(LeakOracle.waitGone(refs, runtime: KernelRuntime(), seconds: 5), [])
    }

    func testStructOpsNameTooLongIsRefused() throws {
        try XCTSkipUnless(geteuid() == 0, "needs root")
        XCTAssertThrowsError(try StructOpsObject.register(path: ProgramCatalog.objectPath("tcp_cc"), map: "bpfs_cc",
                                                          name: "bpfs_name_of_16c")) {
            XCTAssertEqual(($0 as? BPFError)?.errno, .fileNameTooLong, "\($0)")
        }
        XCTAssertThrowsError(try StructOpsObject.register(path: ProgramCatalog.objectPath("tcp_cc"), map: "nope", name: "x")) {
            XCTAssertEqual(($0 as? BPFError)?.errno, .noSuchFileOrDirectory, "\($0)")
        }
    }

    /// sk_lookup and flow_dissector links on a fresh netns: attached to its inode, the
    /// program counts one lookup per connection, and closing the namespace detaches them.
    func testNetnsLinksDetachWhenTheNamespaceDies() throws {
        try XCTSkipUnless(geteuid() == 0, "needs root")
        let rt = KernelRuntime()
        let before = readlink("/proc/thread-self/ns/net")
        let ns = try NetworkNamespace()
        XCTAssertEqual(readlink("/proc/thread-self/ns/net"), before, "the calling thread stays in its namespace")
        XCTAssertNotEqual("net:[\(ns.inode)]", before)
        let obj = try BPFObject.open(path: ProgramCatalog.objectPath("netns_prog")).load(into: rt)
        let lookup = try rt.linkCreate(try obj.program("count_sk_lookup"), target: ns.fd, type: .skLookup)
        let dissector = try rt.linkCreate(try obj.program("pass_flow_dissector"), target: ns.fd, type: .flowDissector)
        XCTAssertEqual(try rt.netnsLinkInfo(lookup), NetnsLinkInfo(netnsInode: UInt32(truncatingIfNeeded: ns.inode), attachType: .skLookup))
        XCTAssertEqual(try rt.netnsLinkInfo(dissector).attachType, .flowDissector)
        XCTAssertEqual(try ns.loopbackTraffic(connects: 5), 5)
        XCTAssertEqual(try obj.map("netns_calls").lookup(UInt32(0), as: UInt64.self), 5)
        ns.close()
        let end = Date().addingTimeInterval(10)
        var ino = try rt.netnsLinkInfo(lookup).netnsInode
        while ino != 0 && Date() < end { usleep(10_000); ino = try rt.netnsLinkInfo(lookup).netnsInode }
        XCTAssertEqual(ino, 0, "link to a destroyed netns reports detached")
        XCTAssertEqual(try rt.netnsLinkInfo(dissector).netnsInode, 0)
        lookup.close(); dissector.close(); obj.close()
    }

    /// A member process lands in the cgroup, its connect is counted by the cgroup's
    /// program, and after moving it out the cgroup can be removed with the program attached;
    /// the link then reports detached.
    func testCgroupMemberAndRmdirWhileAttached() throws {
        try XCTSkipUnless(geteuid() == 0, "needs root")
        let rt = KernelRuntime()
        let cg = try CampaignCgroup.create(name: "bpfstress-xrst-test-\(getpid())")
        defer { try? cg.teardown() }
        let child = cg.path + "/bpfstress-churn.test"
        XCTAssertEqual(mkdir(child, 0o755), 0)
        defer { rmdir(child) }
        let fd = open(child, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let obj = try BPFObject.open(path: ProgramCatalog.objectPath("connect4")).load(into: rt)
        let link = try rt.linkCreate(try obj.program("count_connect4"), target: fd, type: .cgroupInet4Connect)
        let listener = try LoopbackListener(family: .v4)
        let member = try CgroupMember(cgroupFD: fd, family: AF_INET, connectPort: listener.port)
        XCTAssertEqual(try String(contentsOfFile: child + "/cgroup.procs", encoding: .utf8), "\(member.pid)\n")
        let map = try obj.map("connects")
        let end = Date().addingTimeInterval(3)
        var seen: UInt64? = nil
        while seen != 1 && Date() < end { usleep(10_000); seen = try map.lookup(UInt32(listener.port), as: UInt64.self) }
        XCTAssertEqual(seen, 1)
        XCTAssertEqual(rmdir(child), -1, "a cgroup with a member cannot be removed")
        XCTAssertEqual(errno, EBUSY)
        try "\(member.pid)\n".write(toFile: cg.path + "/cgroup.procs", atomically: false, encoding: .utf8)
        XCTAssertEqual(rmdir(child), 0, "removable once the member moved out, program still attached")
        try member.killAndReap()
        let linkEnd = Date().addingTimeInterval(5)
        var cgid = try rt.linkInfo(link).cgroupID
        while cgid != 0 && Date() < linkEnd { usleep(10_000); cgid = try rt.linkInfo(link).cgroupID }
        XCTAssertEqual(cgid, 0)
        link.close(); obj.close()
    }

    func readlink(_ path: String) -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? ""
    }
}
