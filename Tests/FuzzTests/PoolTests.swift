// The object pool: the text of open, drop and obj:N, every kind opened and dropped live with nothing left behind, and obj:N's bytes in executor, model and C.
import Basics
import BPFKit
import CBPFStress
@testable import Fuzz
import Foundation
import Glibc
import XCTest

final class PoolTests: XCTestCase {
    func testOpenDropAndObjBuffersRoundTrip() throws {
        let text = """
        open obj=0 kind=tcp
        open obj=7 kind=prog_xdp_cpumap
        drop obj=7
        update map=1 key=#1 value=obj:0 flags=NOEXIST
        lookup map=1 key=obj:3
        delete map=2 key=obj:7

        """
        let p = try ProgramText.parse(text)
        XCTAssertEqual(p.text, text)
        XCTAssertEqual(p.calls[0].op, .open)
        XCTAssertEqual(PoolKind.at(p.calls[1].flags), .progXDPCpumap)
        XCTAssertEqual(p.calls[3].value, .obj(0))
        for k in PoolKind.allCases {
            let line = "open obj=3 kind=\(k.rawValue)"
            XCTAssertEqual(try ProgramText.parseCall(line).description, line)
        }
    }

    func testBadPoolTextIsOneLineNamingTheProblem() {
        func err(_ line: String) -> String {
            do { _ = try ProgramText.parseCall(line, file: "p", line: 3); return "parsed" } catch { return "\(error)" }
        }
        XCTAssertEqual(err("open obj=8 kind=udp"), "p:3: obj=8: object must be 0...7")
        XCTAssertTrue(err("open obj=1 kind=sctp").hasPrefix("p:3: kind=sctp: unknown pool kind (expected one of: udp, udp6,"))
        XCTAssertEqual(err("open obj=1"), "p:3: open needs kind=K")
        XCTAssertEqual(err("drop kind=udp"), "p:3: drop has no argument 'kind' (expected: obj)")
        XCTAssertEqual(err("drop"), "p:3: drop needs obj=N")
        XCTAssertTrue(err("update map=0 key=obj:8").hasPrefix("p:3: key=obj:8: expected NULL"))
        XCTAssertEqual(err("lookup map=0 out=obj:1"), "p:3: out=obj:1: obj:N is a key or value of update, lookup, delete, next_key and lookup_and_delete only")
        XCTAssertEqual(err("put_inner map=0 key=obj:1"), "p:3: key=obj:1: obj:N is a key or value of update, lookup, delete, next_key and lookup_and_delete only")
    }

    /// The model: drop of an empty object is EBADF, obj:N is the fd `open` returned (a hash map
    /// keyed by it finds the value), and a dropped object's obj:N is the closed fd.
    func testModelResolvesObjToTheOpenedFD() {
        let m = ShadowModel(cpus: 2)
        var create = Call(.create, map: 0); create.keySize = 4; create.valueSize = 8
        let shape = MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, cpus: 2)
        XCTAssertEqual(m.check(0, create, CallResult(), shape: shape), [])
        var open = try! ProgramText.parseCall("open obj=2 kind=udp")
        var opened = CallResult(); opened.count = 41; opened.out = Layout.intBytes(0x1234, 8)
        XCTAssertEqual(m.check(1, open, opened, shape: nil), [])
        XCTAssertEqual(m.pool.fd(2), 41)
        XCTAssertEqual(m.pool.objects[2]?.fact, 0x1234)
        let upd = try! ProgramText.parseCall("update map=0 key=obj:2 value=@v1")
        XCTAssertEqual(m.check(2, upd, CallResult(), shape: nil), [])
        let look = try! ProgramText.parseCall("lookup map=0 key=#41")
        var found = CallResult(); found.out = Layout.pattern(1, 8)
        XCTAssertEqual(m.check(3, look, found, shape: nil), [], "obj:2 was key 41")
        XCTAssertEqual(m.check(4, try! ProgramText.parseCall("drop obj=2"), CallResult(), shape: nil), [])
        var ebadf = CallResult(); ebadf.errno = EBADF
        XCTAssertEqual(m.check(5, try! ProgramText.parseCall("drop obj=2"), CallResult(), shape: nil).map(\.signature), ["drop:errno"])
        XCTAssertEqual(m.check(6, try! ProgramText.parseCall("drop obj=2"), ebadf, shape: nil), [])
        XCTAssertEqual(m.pool.fd(2), Executor.closedFD)
        // A success without a fact is a finding (a socket always has a cookie).
        open.count = 3
        var noFact = CallResult(); noFact.count = 9; noFact.out = Layout.intBytes(0, 8)
        XCTAssertEqual(m.check(7, open, noFact, shape: nil).map(\.signature), ["open:pool"])
    }

    static func openFDs() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }

    static func children() -> Set<String> {
        var out = Set<String>()
        for t in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? [] {
            let s = (try? String(contentsOfFile: "/proc/self/task/\(t)/children", encoding: .utf8)) ?? ""
            out.formUnion(s.split(separator: " ").map(String.init))
        }
        return out
    }

    static func poolCgroups() -> [String] {
        guard let root = Probes.cgroup2Mount() else { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix("bpfstress-fuzz-\(getpid())-") }
    }

    /// Every kind opened into every object and dropped; then all eight open and reset: no fd,
    /// child or cgroup is left, and each kind's fact is what the kernel says about the object.
    func testEveryKindOpensAndDropsLeavingNothing() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: loads programs, makes cgroups and perf events")
        let ex = Executor(runtime: KernelRuntime())
        let fds0 = Self.openFDs(), kids0 = Self.children(), cg0 = Self.poolCgroups()
        var made: [PoolKind] = [], skipped: [String] = []
        for (i, k) in PoolKind.allCases.enumerated() {
            var c = try ProgramText.parseCall("open obj=\(i % 8) kind=\(k.rawValue)")
            let r = ex.run(c)
            if r.errno != 0 { skipped.append("\(k.rawValue): \(ErrnoName.name(r.errno))"); continue }
            made.append(k)
            let fd = Int32(bitPattern: r.count)
            XCTAssertEqual(ex.pool.fd(i % 8), fd)
            let fact = r.out.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            switch k {
            case .pidfdSelf: XCTAssertEqual(fact, UInt64(getpid()))
            case .pidfdChild: XCTAssertTrue(Self.children().contains(String(fact)), "the sleep child is ours")
            case .cgroup: XCTAssertEqual(Self.poolCgroups().count, cg0.count + 1)
            case .perf, .file: XCTAssertEqual(fact, 0)
            default:
                XCTAssertNotEqual(fact, 0, k.rawValue)
                if k.isProgram {
                    var info = bpfs_prog_info()
                    XCTAssertEqual(bpfs_prog_info(ex.rtp, fd, &info), 0)
                    XCTAssertEqual(UInt64(info.id), fact)
                }
            }
            c.op = .drop
            XCTAssertEqual(ex.run(c).errno, 0, k.rawValue)
            XCTAssertEqual(ex.run(c).errno, EBADF, "a second drop of \(k.rawValue)")
            XCTAssertEqual(Self.openFDs(), fds0, "fds left by \(k.rawValue)")
        }
        // Only kinds a kernel may lack may fail to open (udp6 without IPv6, xsk without AF_XDP).
        XCTAssertTrue(skipped.allSatisfy { $0.hasPrefix("udp6:") || $0.hasPrefix("xsk:") }, "\(skipped)")
        for k in made.prefix(8).enumerated() { _ = ex.run(try ProgramText.parseCall("open obj=\(k.offset) kind=\(k.element.rawValue)")) }
        _ = ex.run(try ProgramText.parseCall("open obj=7 kind=pidfd_child"))
        _ = ex.run(try ProgramText.parseCall("open obj=6 kind=cgroup"))
        XCTAssertGreaterThan(Self.openFDs(), fds0)
        ex.reset()
        XCTAssertEqual(Self.openFDs(), fds0)
        XCTAssertEqual(Self.children(), kids0)
        XCTAssertEqual(Self.poolCgroups(), cg0)
        if !skipped.isEmpty { print("pool kinds this kernel cannot make: \(skipped)") }
    }

    /// obj:N in a live hash map: the key bytes are the object's fd, read back by next_key.
    func testObjKeyIsTheFDLive() throws {
        try XCTSkipUnless(Probes.isRoot(), "needs root: this test creates BPF maps with bpf(2)")
        let f = Fuzzer(runtime: KernelRuntime(), seed: 1)
        let p = try ProgramText.parse("""
        create map=0 type=hash key=4 value=8 max=4
        open obj=5 kind=unix_stream
        update map=0 key=obj:5 value=@v2
        next_key map=0
        drop obj=5
        update map=0 key=obj:5 value=@v3
        lookup map=0 key=#\(Executor.closedFD)
        """)
        let rep = f.execute(p, all: true)
        XCTAssertEqual(rep.findings, [])
        XCTAssertEqual(rep.results[3].out, Layout.intBytes(UInt64(rep.results[1].count), 4))
        XCTAssertEqual(rep.results[6].out, Layout.pattern(3, 8), "a dropped object's obj:N is the closed fd")
    }
}
