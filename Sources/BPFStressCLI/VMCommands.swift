// `bpfstress guest` (inside a VM) and `bpfstress vm-exec` (run one bpfstress command in a guest).
import ArgumentParser
import Foundation
import Glibc
import StressCore
import VM

/// Internal: the guest side, started by the guest's init over the shared root.
struct GuestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "guest", abstract: "Internal: the in-guest agent.", shouldDisplay: false)
    @Option var job: String
    func run() throws { Glibc.exit(GuestAgent.run(jobDir: job)) }
}

/// Boots a kernel, runs `bpfstress ARGS...` inside, prints its output and exits with its exit code.
struct VMExec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm-exec",
        abstract: "Run one bpfstress command inside a guest booting KERNEL; prints its output, exits with its code.",
        discussion: "Exit: the command's code; 2 usage; 3 environment (no qemu, busybox); 1 also when the guest hung, panicked or died (the reason is printed).")
    @Option(help: "Kernel image (bzImage) to boot.") var kernel: String
    @Option(help: "Module tree (default: ../lib/modules/RELEASE beside the image).") var modules: String?
    @Option(name: .customLong("vm-cpus")) var cpus: Int = 2
    @Option(name: .customLong("vm-memory")) var memory: String = "2G"
    @Option(help: "auto, kvm, tcg or tcg-multi.") var accel: String = "auto"
    @Option(help: "Seconds the command may run.") var timeout: Double = 120
    @Option(name: .customLong("keep-dir"), help: "Keep the boot directory (console.log, job/) here instead of a temp dir.")
    var keepDir: String?
    @Argument(parsing: .postTerminator) var arguments: [String] = []

    func run() throws {
        guard !arguments.isEmpty else { die("vm-exec needs a bpfstress command after --", ExitCodes.usage) }
        guard cpus > 0, cpus <= 64 else { die("--vm-cpus must be 1...64", ExitCodes.usage) }
        _ = installStopHandlers()
        do {
            let r = try VMExecRun.run(kernelImage: kernel, modules: modules, cpus: cpus, memory: memory, accel: accel,
                                      timeout: timeout, keepDir: keepDir, arguments: arguments)
            FileHandle.standardOutput.write(r.output.data(using: .utf8)!)
            if let why = r.failure { FileHandle.standardError.write("bpfstress: \(why)\n".data(using: .utf8)!) }
            throw ExitCode(r.exitCode)
        } catch let e as VMError { die(e.description, e.exitCode) }
    }
}
