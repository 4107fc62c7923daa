// `bpfstress bench vm`: boot-to-first-op time and in-guest ops/s per scenario against the host, one run.
import ArgumentParser
import BPFKit
import Foundation
import Glibc
import Reports
import StressCore

struct BenchVM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "The same campaign on the host and then in a guest booting KERNEL: boot-to-first-op and guest/host ops/s per scenario.")
    @Option(help: "Kernel image to boot.") var kernel: String
    @Option(help: "Campaign file.") var campaign: String = "corpora/campaigns/smoke.yaml"
    @Option(help: "Campaign run time on each side.") var duration: String = "20s"
    @Option(help: "Seed (the same on both sides).") var seed: UInt64 = 1
    @Option(name: .customLong("vm-cpus")) var cpus: Int = 2

    func run() throws {
        guard Probes.isRoot() else { die("needs root (the host side loads BPF programs)", ExitCodes.environment) }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let tmp = NSTemporaryDirectory() + "bpfstress-benchvm-\(getpid())"
        // BPFSTRESS_BENCH_KEEP=1 keeps both run directories (printed) for a look at the guest's report.
        let keep = ProcessInfo.processInfo.environment["BPFSTRESS_BENCH_KEEP"] == "1"
        defer { if keep { print("runs kept in \(tmp)") } else { try? FileManager.default.removeItem(atPath: tmp) } }
        let common = [campaign, "--duration", duration, "--seed", String(seed), "--quiet"]
        let host = try side(exe, ["run"] + common + ["--report-dir", tmp + "/host"], dir: tmp + "/host")
        let guest = try side(exe, ["run", "--kernel", kernel, "--vm-cpus", String(cpus)] + common + ["--report-dir", tmp + "/guest"], dir: tmp + "/guest")
        print("kernel \(guest.kernelRelease) (\(guest.parameters["vm.accel"] ?? "?"), \(cpus) vCPUs) vs host \(host.kernelRelease); campaign \(campaign), \(duration), seed \(seed)")
        print("boot to agent:    \(guest.parameters["vm.boot_seconds"] ?? "?") s")
        print("boot to first op: \(guest.parameters["vm.first_op_seconds"] ?? "?") s  (goal <= 10 s under TCG)")
        print("scenario               host ops/s   guest ops/s   guest/host")
        for h in host.scenarios where !h.isSkipped {
            guard let g = guest.scenarios.first(where: { $0.name == h.name }) else { continue }
            let ratio = h.opsPerSecond > 0 ? g.opsPerSecond / h.opsPerSecond : 0
            print(h.name.padding(toLength: 22, withPad: " ", startingAt: 0)
                  + String(format: " %11.0f   %11.0f   %10.3f", h.opsPerSecond, g.opsPerSecond, ratio))
        }
    }

    /// Runs one side to the end and reads its summary.json.
    func side(_ exe: String, _ args: [String], dir: String) throws -> RunSummary {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard let run = (try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/latest")),
              let d = FileManager.default.contents(atPath: dir + "/" + run + "/summary.json"),
              let s = try? ReportJSON.decoder().decode(RunSummary.self, from: d) else {
            die("bench vm: \(args.joined(separator: " ")) left no summary.json (exit \(p.terminationStatus))", 4)
        }
        return s
    }
}
