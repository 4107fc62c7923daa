// The socket-map oracle on tampered answers (which sockets go in, EBUSY across maps, cookies, lifetimes), and the seeds replayed on the kernel.
import Basics
import BPFKit
@testable import Fuzz
import Foundation
import Glibc
import XCTest

final class SockMapOracleTests: XCTestCase {
    /// A model with slot 0 a sockmap (value 8, 4 entries), slot 1 a reuseport array, and pool
    /// objects 0...3 (udp_reuseport fd 40, tcp fd 41, tcp_unconnected fd 42, xsk fd 43; cookie
    /// 1000 + fd). Returns the runner of (call text, answer) pairs.
    func sockModel(_ second: String = "reuseport_sockarray key=4 value=8") -> (String, CallResult) -> [String] {
        let m = ShadowModel(cpus: 2)
        var i = 0
        let run: (String, CallResult) -> [String] = { text, r in
            i += 1
            let c = try! ProgramText.parseCall(text)
            var shape: MapShape? = nil
            if c.op == .create { shape = MapShape(type: c.type, keySize: Int(c.keySize), valueSize: Int(c.valueSize), maxEntries: Int(c.maxEntries), flags: c.mapFlags, cpus: 2) }
            return m.check(i, c, r, shape: shape).map(\.signature)
        }
        XCTAssertEqual(run("create map=0 type=sockmap key=4 value=8 max=4", ok()), [])
        XCTAssertEqual(run("create map=1 type=\(second) max=4", ok()), [])
        for (n, k) in ["udp_reuseport", "tcp", "tcp_unconnected", "xsk"].enumerated() {
            var r = ok(); r.count = UInt32(40 + n); r.out = Layout.intBytes(UInt64(1040 + n), 8)
            XCTAssertEqual(run("open obj=\(n) kind=\(k)", r), [])
        }
        return run
    }

    func ok() -> CallResult { CallResult() }
    func err(_ e: Int32) -> CallResult { var r = CallResult(); r.errno = e; return r }
    func cookie(_ c: UInt64) -> CallResult { var r = CallResult(); r.out = Layout.intBytes(c, 8); return r }

    /// Which sockets a sockmap takes: an unconnected TCP socket and an AF_XDP socket are
    /// EOPNOTSUPP, a closed fd EBADF, an fd past S32_MAX EINVAL; flags past EXIST EINVAL after the fd.
    func testSockmapRefusesSocketsItCannotHold() {
        let run = sockModel()
        XCTAssertEqual(run("update map=0 key=#0 value=obj:2", ok()), ["update:errno"], "accepting an unconnected TCP socket must be a finding")
        XCTAssertEqual(run("update map=0 key=#0 value=obj:2", err(EOPNOTSUPP)), [])
        XCTAssertEqual(run("update map=0 key=#0 value=obj:3", err(EOPNOTSUPP)), [])
        XCTAssertEqual(run("update map=0 key=#0 value=obj:7", err(EBADF)), [])
        XCTAssertEqual(run("update map=0 key=#0 value=#4294967295", err(EINVAL)), [])
        XCTAssertEqual(run("update map=0 key=#0 value=obj:7 flags=3", err(EINVAL)), ["update:errno"], "the fd is looked up before the flags")
        XCTAssertEqual(run("update map=0 key=#9 value=obj:1", err(E2BIG)), [])
        XCTAssertEqual(run("update map=0 key=#0 value=obj:1 flags=EXIST", err(ENOENT)), [])
        XCTAssertEqual(run("update map=0 key=#0 value=obj:1 flags=NOEXIST", ok()), [])
        XCTAssertEqual(run("update map=0 key=#0 value=obj:1 flags=NOEXIST", ok()), ["update:errno"], "NOEXIST on a held index")
    }

    /// A lookup returns the cookie of the socket put in; a wrong cookie is a value finding;
    /// a delete of an empty sockmap index is EINVAL.
    func testSockmapLookupGivesTheCookie() {
        let run = sockModel()
        XCTAssertEqual(run("update map=0 key=#2 value=obj:1", ok()), [])
        XCTAssertEqual(run("lookup map=0 key=#2", cookie(1041)), [])
        XCTAssertEqual(run("lookup map=0 key=#2", cookie(1040)), ["lookup:value"])
        XCTAssertEqual(run("lookup map=0 key=#3", cookie(1041)), ["lookup:errno"], "an empty index is ENOENT")
        XCTAssertEqual(run("delete map=0 key=#3", err(ENOENT)), ["delete:errno"], "sockmap answers EINVAL for an empty index")
        XCTAssertEqual(run("delete map=0 key=#3", err(EINVAL)), [])
        XCTAssertEqual(run("delete map=0 key=#2", ok()), [])
        XCTAssertEqual(run("lookup map=0 key=#2", err(ENOENT)), [])
    }

    /// A dropped socket leaves every map at once: a lookup that still finds it is a finding.
    func testDroppedSocketLeavesTheMap() {
        let run = sockModel("sockhash key=4 value=8")
        XCTAssertEqual(run("update map=0 key=#0 value=obj:1", ok()), [])
        XCTAssertEqual(run("update map=1 key=#5 value=obj:1", ok()), [])
        XCTAssertEqual(run("drop obj=1", ok()), [])
        XCTAssertEqual(run("lookup map=0 key=#0", cookie(1041)), ["lookup:errno"], "the socket is closed: its entry must be gone")
        XCTAssertEqual(run("lookup map=1 key=#5", cookie(1041)), ["lookup:errno"])
        XCTAssertEqual(run("lookup map=1 key=#5", err(ENOENT)), [])
        XCTAssertEqual(run("delete map=1 key=#5", ok()), ["delete:errno"])
    }

    /// sockmap and reuseport_sockarray exclude each other (sk_user_data): EBUSY, also under a
    /// second key of the same array; only SO_REUSEPORT sockets that are bound go in (EINVAL).
    func testReuseportArrayAndSockmapExcludeEachOther() {
        let run = sockModel()
        XCTAssertEqual(run("update map=1 key=#0 value=obj:1", err(EINVAL)), [], "an established TCP socket is no reuseport socket")
        XCTAssertEqual(run("update map=1 key=#0 value=obj:3", err(ENOTSUPP)), [])
        XCTAssertEqual(run("update map=0 key=#0 value=obj:0", ok()), [])
        XCTAssertEqual(run("update map=1 key=#0 value=obj:0", ok()), ["update:errno"], "a socket in a sockmap must be EBUSY")
        XCTAssertEqual(run("update map=1 key=#0 value=obj:0", err(EBUSY)), [])
        XCTAssertEqual(run("delete map=0 key=#0", ok()), [])
        XCTAssertEqual(run("update map=1 key=#0 value=obj:0", ok()), [])
        XCTAssertEqual(run("update map=1 key=#1 value=obj:0", ok()), ["update:errno"], "a socket goes in one reuseport slot only")
        XCTAssertEqual(run("update map=0 key=#1 value=obj:0", err(EBUSY)), [])
        XCTAssertEqual(run("update map=1 key=#9 value=obj:7", err(EBADF)), ["update:errno"], "the reuseport array checks the index before the fd")
        // Closed: the map is freed later (a workqueue), so EBUSY and success are both right.
        XCTAssertEqual(run("close map=1", ok()), [])
        XCTAssertEqual(run("update map=0 key=#1 value=obj:0", err(EBUSY)), [])
        XCTAssertEqual(run("update map=0 key=#1 value=obj:0", ok()), [])
    }

    /// xskmap: the same socket again is 0 even with NOEXIST; lookups are EOPNOTSUPP; a delete
    /// of an empty index is 0.
    func testXskmapRules() {
        let run = sockModel("xskmap key=4 value=4")
        XCTAssertEqual(run("update map=1 key=#0 value=obj:3", ok()), [])
        XCTAssertEqual(run("update map=1 key=#0 value=obj:3 flags=NOEXIST", err(EEXIST)), ["update:errno"], "the same AF_XDP socket again is no conflict")
        XCTAssertEqual(run("update map=1 key=#0 value=obj:1", err(EOPNOTSUPP)), [])
        XCTAssertEqual(run("lookup map=1 key=#0", ok()), ["lookup:errno"])
        XCTAssertEqual(run("lookup map=1 key=#0", err(EOPNOTSUPP)), [])
        XCTAssertEqual(run("delete map=1 key=#3", err(ENOENT)), ["delete:errno"])
        XCTAssertEqual(run("delete map=1 key=#3", ok()), [])
    }

    /// The probed fact sockmap_udp_unbound: 6.1 puts an unbound UDP socket in a sockmap, 6.18 refuses it.
    func testUnboundUDPFollowsTheFact() {
        for (fact, other) in [(Int32(0), EOPNOTSUPP), (EOPNOTSUPP, Int32(0))] {
            var facts = KernelFacts.linux6_18
            facts.sockmapUnboundUDPErrno = fact
            let m = ShadowModel(cpus: 2, facts: facts)
            var create = Call(.create); create.type = .sockmap; create.valueSize = 8; create.maxEntries = 2
            XCTAssertEqual(m.check(0, create, CallResult(), shape: MapShape(type: .sockmap, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0, cpus: 2)), [])
            var opened = CallResult(); opened.count = 30; opened.out = Layout.intBytes(77, 8)
            XCTAssertEqual(m.check(1, try! ProgramText.parseCall("open obj=0 kind=udp_unbound"), opened, shape: nil), [])
            let upd = try! ProgramText.parseCall("update map=0 key=#0 value=obj:0")
            XCTAssertEqual(m.check(2, upd, err(other), shape: nil).map(\.signature), ["update:errno"], "fact \(fact)")
            XCTAssertEqual(m.check(3, upd, err(fact), shape: nil), [], "fact \(fact)")
        }
    }

    func testCreateRules() {
        let run = sockModel()
        XCTAssertEqual(run("create map=2 type=sockmap key=4 value=12 max=4", ok()), ["create:errno"])
        XCTAssertEqual(run("create map=2 type=sockmap key=4 value=12 max=4", err(EINVAL)), [])
        XCTAssertEqual(run("create map=2 type=sockhash key=513 value=8 max=4", err(E2BIG)), [])
        XCTAssertEqual(run("create map=2 type=sockhash key=8 value=8 max=134217729", err(EINVAL)), [])
        XCTAssertEqual(run("create map=2 type=xskmap key=4 value=8 max=4", err(EINVAL)), [])
        XCTAssertEqual(run("create map=2 type=reuseport_sockarray key=4 value=4 max=4 flags=RDONLY_PROG", ok()), [])
        XCTAssertEqual(run("create map=2 type=sockmap key=4 value=4 max=4 flags=RDONLY_PROG", ok()), ["create:errno"])
    }

    /// The seeds in corpora/maps on the kernel: zero findings, and the answers the README documents.
    func testSeedsReplayOnTheKernel() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps and sockets")
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../corpora/maps").standardized.path
        let p1 = try ProgramText.load(path: dir + "/sockmap-reuseport.prog")
        let r1 = f.execute(p1, all: true)
        XCTAssertEqual(r1.findings, [])
        XCTAssertEqual(r1.results.map(\.errno)[6...13], [0, 0, EEXIST, f.model.facts.sockmapUnboundUDPErrno, EBUSY, 0, EBUSY, EBUSY])
        XCTAssertEqual(r1.results[14].out, r1.results[2].out, "the sockmap lookup gives the socket's cookie")
        XCTAssertEqual(r1.results[18].errno, ENOENT, "the dropped socket left the sockmap")
        let p2 = try ProgramText.load(path: dir + "/sockhash-xskmap.prog")
        let r2 = f.execute(p2, all: true)
        XCTAssertEqual(r2.findings, [])
        XCTAssertEqual(r2.results.map(\.errno)[7...12], [0, 0, E2BIG, 0, ENOTSOCK, EOPNOTSUPP])
        XCTAssertEqual(r2.results[23].errno, 0, "the dropped AF_XDP socket left the xskmap: NOEXIST takes the index again")
    }
}
