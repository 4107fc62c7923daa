// `bpfstress run --kernel ...`: hands the campaign to the outer coordinator, which runs it in guests.
import ArgumentParser
import CampaignFile
import Foundation
import Glibc
import StressCore
import VM

/// The `run` flags that move the campaign into QEMU guests booting a given kernel.
struct VMOptions: ParsableArguments {
    @Option(help: "Boot this kernel image (bzImage) in QEMU and run the campaign inside (see README, Kernels in VMs).")
    var kernel: String?
    @Option(help: "The kernel's module tree (default: ../lib/modules/RELEASE beside the image).") var modules: String?
    @Option(name: .customLong("vm-cpus"), help: "vCPUs per guest (default 2).") var vmCPUs: Int?
    @Option(name: .customLong("vm-memory"), help: "Memory per guest, e.g. 2G (default 2G).") var vmMemory: String?
    @Option(help: "Guests at once, with disjoint seeds (default 1).") var vms: Int?
}

extension Run {
    /// When the run asks for a kernel (flag or campaign key), runs it in guests and returns the exit
    /// code; nil to run on the local kernel. Inside a guest (BPFSTRESS_IN_GUEST=1) the campaign's
    /// `kernel:` is ignored, since the guest is that kernel.
    func vmHandOff(_ c: Campaign, seed: UInt64) -> Int32? {
        let inGuest = ProcessInfo.processInfo.environment["BPFSTRESS_IN_GUEST"] == "1"
        var kernelPath = vm.kernel
        if kernelPath == nil, !inGuest, let k = c.kernel {
            let base = campaign.map { URL(fileURLWithPath: $0).deletingLastPathComponent() } ?? URL(fileURLWithPath: ".")
            kernelPath = k.hasPrefix("/") ? k : base.appendingPathComponent(k).standardizedFileURL.path
        }
        guard let kernelPath else {
            if vm.modules != nil || vm.vmCPUs != nil || vm.vmMemory != nil || vm.vms != nil, !inGuest {
                die("--modules, --vm-cpus, --vm-memory and --vms need --kernel (or kernel: in the campaign)", ExitCodes.usage)
            }
            return nil
        }
        guard runtime == "kernel" else { die("--kernel runs the kernel runtime in guests; --runtime \(runtime) cannot be combined", ExitCodes.usage) }
        var shape = VMShape()
        shape.cpus = vm.vmCPUs ?? c.vm.cpus ?? 2
        shape.memory = vm.vmMemory ?? c.vm.memory ?? "2G"
        shape.accel = c.vm.accel ?? "auto"
        shape.softlockupPanic = c.vm.softlockupPanic ?? false
        guard shape.cpus > 0, shape.cpus <= 64 else { die("--vm-cpus must be 1...64", ExitCodes.usage) }
        guard VMSettings.validMemory(shape.memory) else { die("bad --vm-memory '\(shape.memory)' (e.g. 2G, 1536M)", ExitCodes.usage) }
        let count = vm.vms ?? c.vm.count ?? 1
        guard count > 0, count <= 16 else { die("--vms must be 1...16", ExitCodes.usage) }
        do {
            let k = try KernelImage.resolve(image: kernelPath, modules: vm.modules)
            // The guest runs this same command on the same campaign, minus the VM and report flags.
            var args = ["run"]
            if let p = campaign {
                let full = URL(fileURLWithPath: p).standardizedFileURL.path
                try GuestInit.requireVisible(full, what: "campaign file")
                args.append(full)
            }
            for s in scenarios { args += ["--scenario", s] }
            if let w = workers { args += ["--workers", String(w)] }
            if let t = threads { args += ["--threads", String(t)] }
            args += ["--on-hang", "kill"]
            var cfg = VMRunConfig(kernel: k, shape: shape, duration: c.duration, seed: seed, campaignName: c.name,
                                  guestArguments: args, reportRoot: reportDir, executable: VMExecRun.selfExecutable())
            cfg.guests = count
            cfg.restarts = c.vm.restarts ?? 3
            cfg.hangDeadline = c.vm.hangDeadline ?? 30
            cfg.quiet = quiet
            _ = installStopHandlers()
            let r = try VMCoordinator(cfg).run()
            for sc in r.summary.scenarios {
                if sc.isSkipped { print("SKIP \(sc.name): \(sc.skipReason ?? "")") }
                else { print(String(format: "RAN  %@: %llu ops (%.0f ops/s)", sc.name, sc.ops, sc.opsPerSecond)) }
            }
            for b in r.summary.buckets { print("FINDING [\(b.type.rawValue)] \(b.title) x\(b.count)") }
            print("guest restarts: \(r.summary.parameters["vm.restarts"] ?? "0")")
            print("report: \(r.path)")
            return r.exitCode
        } catch let e as VMError {
            die(e.description, e.exitCode)
        } catch {
            die("\(error)", 4)
        }
    }
}

/// Inside a TCG guest a worker's exit (freeing maps, programs, cgroups) runs 10-50x slower than on
/// the host; the TERM grace grows accordingly so that a slow exit is not reported as a hang.
func guestStopGrace(_ host: Double) -> Double {
    ProcessInfo.processInfo.environment["BPFSTRESS_IN_GUEST"] == "1" ? max(host, 15) : host
}
