import Glibc
import SystemPackage
import XCTest
@testable import BPFKit

final class CgroupTests: XCTestCase {
    let rt = KernelRuntime()

    override func setUpWithError() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root")
        try XCTSkipIf(Probes.cgroup2Mount() == nil, "needs cgroup2")
    }

    func testCreateRejectsUnsafeNames() {
        for bad in ["", "foo", "bpfstress/../x", "../bpfstress", "a/bpfstress"] {
            let e = bpfError { _ = try CampaignCgroup.create(name: bad) }
            XCTAssertEqual(e?.code, .cgroup, bad)
            XCTAssertEqual(e?.errno, .invalidArgument, bad)
        }
    }

    func testCreateAddTeardown() throws {
        let cg = try CampaignCgroup.create(name: uniqueCgroupName("life"))
        defer { try? cg.teardown() }
        XCTAssertEqual(cg.path, Probes.cgroup2Mount()! + "/" + cg.path.split(separator: "/").last!)
        XCTAssertTrue(FileUtil.isDirectory(cg.path))
        XCTAssertGreaterThanOrEqual(cg.fd, 0)
        XCTAssertEqual(cg.procs(), [])
        // Same name again: EEXIST.
        let name = String(cg.path.split(separator: "/").last!)
        XCTAssertEqual(bpfError { _ = try CampaignCgroup.create(name: name) }?.errno, .fileExists)
        // A sleeping child placed in the cgroup is moved out by teardown.
        var pid: pid_t = 0
        var args: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("5"), nil]
        defer { args.forEach { free($0) } }
        XCTAssertEqual(posix_spawn(&pid, "/bin/sleep", nil, nil, &args, environ), 0)
        defer { kill(pid, SIGKILL); var st: Int32 = 0; waitpid(pid, &st, 0) }
        // Left-behind children (a worker that died mid-churn), one holding the process, are
        // removed depth-first by teardown.
        XCTAssertEqual(mkdir(cg.path + "/bpfstress-churn.1", 0o755), 0)
        XCTAssertEqual(mkdir(cg.path + "/bpfstress-churn.1/inner", 0o755), 0)
        XCTAssertNotNil(try? FileUtil.write(cg.path + "/bpfstress-churn.1/inner/cgroup.procs", "\(pid)\n").get())
        XCTAssertEqual(cg.procs(), [])
        try cg.teardown()
        XCTAssertFalse(FileUtil.exists(cg.path + "/bpfstress-churn.1"))
        try? cg.teardown()
        let cg2 = try CampaignCgroup.create(name: "bpfstress-test-\(getpid())-b")
        try cg2.add(pid: pid)
        XCTAssertEqual(cg2.procs(), [pid])
        XCTAssertEqual(bpfError { try cg2.add(pid: 999_999_999) }?.code, .cgroup)
        try cg2.teardown()
        XCTAssertFalse(FileUtil.exists(cg2.path))
        XCTAssertEqual(cg2.fd, -1)
        XCTAssertFalse(FileUtil.exists(cg.path))
        XCTAssertEqual(cg.fd, -1)
        try cg.teardown()  // idempotent
        let cgLine = FileUtil.read("/proc/\(pid)/cgroup") ?? ""
        XCTAssertTrue(cgLine.contains("0::/\n"), "moved to the mount root: \(cgLine)")
    }

    func testProgAttachQueryDetach() throws {
        let loaded = try BPFObject.open(path: try ProgramCatalog.objectPath("connect4")).load(into: rt)
        defer { loaded.close() }
        let prog = try loaded.program("count_connect4")
        let id = try rt.programInfo(prog).id
        let cg = try CampaignCgroup.create(name: uniqueCgroupName("attach"))
        defer { try? cg.teardown() }

        XCTAssertEqual(try rt.progQuery(target: cg.fd, type: .cgroupInet4Connect).programIDs, [])
        try rt.progAttach(prog, target: cg.fd, type: .cgroupInet4Connect, flags: BPFAttachFlags.allowMulti)
        let q = try rt.progQuery(target: cg.fd, type: .cgroupInet4Connect)
        XCTAssertEqual(q.programIDs, [id])
        XCTAssertEqual(q.attachFlags, BPFAttachFlags.allowMulti)
        // Attaching the same program twice with ALLOW_MULTI is EINVAL (find_attach_entry).
        XCTAssertEqual(bpfErrno { try rt.progAttach(prog, target: cg.fd, type: .cgroupInet4Connect, flags: BPFAttachFlags.allowMulti) }, .invalidArgument)
        // A non-multi attach on top of a multi one is EPERM (flags must match).
        XCTAssertEqual(bpfErrno { try rt.progAttach(prog, target: cg.fd, type: .cgroupInet4Connect, flags: 0) }, .notPermitted)
        // Wrong attach type for this program: EINVAL.
        XCTAssertEqual(bpfErrno { try rt.progAttach(prog, target: cg.fd, type: .cgroupInet6Connect, flags: BPFAttachFlags.allowMulti) }, .invalidArgument)
        try rt.progDetach(prog, target: cg.fd, type: .cgroupInet4Connect)
        XCTAssertEqual(try rt.progQuery(target: cg.fd, type: .cgroupInet4Connect).programIDs, [])
        XCTAssertEqual(bpfErrno { try rt.progDetach(prog, target: cg.fd, type: .cgroupInet4Connect) }, .noSuchFileOrDirectory)
    }

    func testProgQueryRegrowsPastInitialCapacity() throws {
        // 20 programs > the 16 slots of the first query: ENOSPC, regrow, all ids.
        let cg = try CampaignCgroup.create(name: uniqueCgroupName("many"))
        defer { try? cg.teardown() }
        let obj = try BPFObject.open(path: try ProgramCatalog.objectPath("connect4"))
        var loadeds: [LoadedObject] = []
        defer { loadeds.forEach { $0.close() } }
        var ids: [UInt32] = []
        for _ in 0..<20 {
            let l = try obj.load(into: rt)
            loadeds.append(l)
            let p = try l.program("count_connect4")
            try rt.progAttach(p, target: cg.fd, type: .cgroupInet4Connect, flags: BPFAttachFlags.allowMulti)
            ids.append(try rt.programInfo(p).id)
        }
        XCTAssertEqual(try rt.progQuery(target: cg.fd, type: .cgroupInet4Connect).programIDs, ids)
        // teardown detaches attached programs itself.
        try cg.teardown()
        XCTAssertFalse(FileUtil.exists(cg.path))
    }

    func testLinkCreateInfoAndClose() throws {
        let loaded = try BPFObject.open(path: try ProgramCatalog.objectPath("connect6")).load(into: rt)
        defer { loaded.close() }
        let prog = try loaded.program("count_connect6")
        let progID = try rt.programInfo(prog).id
        let cg = try CampaignCgroup.create(name: uniqueCgroupName("link"))
        defer { try? cg.teardown() }
        let link = try rt.linkCreate(prog, target: cg.fd, type: .cgroupInet6Connect)
        let info = try rt.linkInfo(link)
        XCTAssertEqual(info.type, .cgroup)
        XCTAssertEqual(info.programID, progID)
        XCTAssertEqual(info.cgroupID, cg.id)
        XCTAssertEqual(info.attachType, .cgroupInet6Connect)
        XCTAssertEqual(try rt.progQuery(target: cg.fd, type: .cgroupInet6Connect).programIDs, [progID])
        XCTAssertEqual(try rt.link(byID: info.id).fd >= 0, true)
        // Link-attached programs are not detachable with PROG_DETACH.
        XCTAssertNotNil(bpfErrno { try rt.progDetach(prog, target: cg.fd, type: .cgroupInet6Connect) })
        link.close()
        // The link by id above is closed at deinit; once every link fd is gone, the program is detached.
        var remaining: [UInt32] = [progID]
        for _ in 0..<200 where !remaining.isEmpty {
            remaining = try rt.progQuery(target: cg.fd, type: .cgroupInet6Connect).programIDs
            if !remaining.isEmpty { usleep(5_000) }
        }
        XCTAssertEqual(remaining, [])
    }

    /// Runs `connects` TCP connects to host:port from a bash child placed in `cg`.
    func connectFromCgroup(_ cg: CampaignCgroup, host: String, port: UInt16, connects: Int) throws {
        let script = "echo $$ > '\(cg.path)/cgroup.procs' || exit 9; for i in $(seq \(connects)); do exec 3<>/dev/tcp/\(host)/\(port) || exit 8; exec 3>&-; done"
        XCTAssertEqual(try runProcess(["/bin/bash", "-c", script], timeout: 20), 0)
    }

    func runConnectCount(name: String, attach: BPFAttachType, ipv6: Bool, viaLink: Bool, withStats: Bool = false) throws {
        let statsFD: Int32? = withStats ? try rt.enableStats(runTime: true) : nil
        let loaded = try BPFObject.open(path: try ProgramCatalog.objectPath(name)).load(into: rt)
        defer { loaded.close() }
        let prog = try loaded.program("count_\(name)")
        let map = try loaded.map("connects")
        let cg = try CampaignCgroup.create(name: uniqueCgroupName(name))
        defer { try? cg.teardown() }
        var link: LinkFD?
        if viaLink {
            link = try rt.linkCreate(prog, target: cg.fd, type: attach)
        } else {
            try rt.progAttach(prog, target: cg.fd, type: attach, flags: BPFAttachFlags.allowMulti)
        }
        defer { link?.close() }
        let listener = try LoopbackListener(ipv6: ipv6)
        let other = try LoopbackListener(ipv6: ipv6)
        try connectFromCgroup(cg, host: ipv6 ? "::1" : "127.0.0.1", port: listener.port, connects: 5)
        try connectFromCgroup(cg, host: ipv6 ? "::1" : "127.0.0.1", port: other.port, connects: 2)
        XCTAssertEqual(try map.lookup(UInt32(listener.port), as: UInt64.self), 5)
        XCTAssertEqual(try map.lookup(UInt32(other.port), as: UInt64.self), 2)
        XCTAssertEqual(Set(try map.keys(as: UInt32.self)), [UInt32(listener.port), UInt32(other.port)])
        // A connect from outside the cgroup is neither counted nor run.
        XCTAssertEqual(try runProcess(["/bin/bash", "-c", "exec 3<>/dev/tcp/\(ipv6 ? "::1" : "127.0.0.1")/\(listener.port)"]), 0)
        XCTAssertEqual(try map.lookup(UInt32(listener.port), as: UInt64.self), 5)
        if let statsFD {
            XCTAssertEqual(try rt.programInfo(prog).runCount, 7, "run_cnt while BPF_ENABLE_STATS is on")
            XCTAssertGreaterThan(try rt.programInfo(prog).runTimeNs, 0)
            close(statsFD)
        }
        // Detached: connects are no longer counted.
        if let link { link.close() } else { try rt.progDetach(prog, target: cg.fd, type: attach) }
        try connectFromCgroup(cg, host: ipv6 ? "::1" : "127.0.0.1", port: listener.port, connects: 3)
        XCTAssertEqual(try map.lookup(UInt32(listener.port), as: UInt64.self), 5)
    }

    func testConnect4CountsViaProgAttach() throws {
        try runConnectCount(name: "connect4", attach: .cgroupInet4Connect, ipv6: false, viaLink: false, withStats: true)
    }

    func testConnect4CountsViaLink() throws {
        try runConnectCount(name: "connect4", attach: .cgroupInet4Connect, ipv6: false, viaLink: true)
    }

    func testConnect6CountsViaLink() throws {
        try XCTSkipUnless(Probes.hasIPv6Loopback(), "no ::1")
        try runConnectCount(name: "connect6", attach: .cgroupInet6Connect, ipv6: true, viaLink: true)
    }
}
