// Test-only: plants one leak of a given kind, for the ownership-ledger leak check's tests.
import Basics
import BPFKit
import Foundation
import HostSupport
import Glibc
import StressCore

/// Thread 0 leaves behind what the `leak` parameter names, the ways real bugs leak:
/// - `map-holder`: a map whose fd a stray child process (`sleep`, its stdin) keeps alive;
///   its pid goes to the file `holder_pidfile`, so that the test ends it by pid;
/// - `pin`: a map and a program pinned at `<dir>/leaked_map` and `<dir>/leaked_prog` in a bpffs
///   the scenario mounts at `dir`;
/// - `netns-bind`: a network namespace bind-mounted onto the file `<dir>/netns`;
/// - `none`: creates and frees each of them (the clean control).
/// The test removes what was planted after the run.
public final class TestLeak: Scenario {
    public static let descriptor = ScenarioDescriptor(
        name: "test-leak", shortName: "tleak", summary: "test fixture: plants a leaked map, pin or network namespace",
        requirements: [.bpfLoad],
        parameters: [
            ParameterSpec("leak", .string, default: .string("none"), help: "map-holder, pin, netns-bind or none"),
            ParameterSpec("dir", .string, default: .string(""), help: "where pins and bind mounts go"),
            ParameterSpec("holder_pidfile", .string, default: .string(""), help: "where the holder's pid is written"),
        ],
        checks: [planted], testOnly: true)
    static let planted = CheckSpec("planted", "the leak was planted as asked")

    let worker: WorkerContext
    public init(worker: WorkerContext) throws { self.worker = worker }
    public func teardown() {}

    public func run(thread: ThreadContext) throws {
        if thread.index == 0 {
            try plant(thread.params.string("leak"), thread)
            thread.pass(Self.planted)
        }
        while thread.keepRunning { thread.heartbeat(); usleep(20_000) }
    }

    func plant(_ kind: String, _ thread: ThreadContext) throws {
        let rt = worker.runtime
        let dir = thread.params.string("dir")
        let map = try rt.mapCreate(MapSpec(type: .array, keySize: 4, valueSize: 8, maxEntries: 1, name: "bpfs_tleak"))
        defer { map.close() }
        switch kind {
        case "map-holder":
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sleep")
            p.arguments = ["60"]
            p.standardInput = FileHandle(fileDescriptor: map.fd, closeOnDealloc: false)
            try p.run()
            try "\(p.processIdentifier)\n".write(toFile: thread.params.string("holder_pidfile"), atomically: true, encoding: .utf8)
        case "pin":
            guard mount("bpffs", dir, "bpf", 0, nil) == 0 else { throw StressError.system("mount bpffs \(dir)", errno) }
            OwnershipLedger.noteBPFFSMount(dir)
            try rt.objPin(map.fd, path: dir + "/leaked_map")
            let prog = try rt.progLoad(type: .socketFilter, instructions: [.mov64(dst: 0, imm: 0), .exit], license: "GPL",
                                       expectedAttachType: nil, name: "bpfs_tleak_prog")
            defer { prog.close() }
            try rt.objPin(prog.fd, path: dir + "/leaked_prog")
        case "netns-bind":
            let ns = try NetworkNamespace()
            defer { ns.close() }
            let file = dir + "/netns"
            guard mount("/proc/self/fd/\(ns.fd)", file, nil, UInt(MS_BIND), nil) == 0 else {
                throw StressError.system("bind mount netns onto \(file)", errno)
            }
        default:
            let ns = try NetworkNamespace()
            ns.close()
        }
    }
}
