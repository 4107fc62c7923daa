// One bpfstress command in one guest, for `bpfstress vm-exec` and the VM tests.
import CBPFStress
import Foundation

public enum VMExecRun {
    public struct Result: Sendable {
        public var exitCode: Int32
        public var output: String
        /// Why the guest did not deliver a result (hang, panic, boot failure); nil when it did.
        public var failure: String?
        public var outcome: GuestOutcome
    }

    /// The executable the guest runs: this binary, by its absolute host path (the guest sees the
    /// host's root at the same paths).
    public static func selfExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    public static func run(kernelImage: String, modules: String?, cpus: Int, memory: String, accel: String,
                           timeout: Double, keepDir: String?, arguments: [String],
                           executable: String = selfExecutable(), hangDeadline: Double = 30,
                           log: @escaping (String) -> Void = { FileHandle.standardError.write("bpfstress: \($0)\n".data(using: .utf8)!) }) throws -> Result {
        let kernel = try KernelImage.resolve(image: kernelImage, modules: modules)
        let initrd = try Initramfs.path(for: kernel)
        var shape = VMShape()
        shape.cpus = cpus; shape.memory = memory; shape.accel = accel
        let acc = try QEMULaunch.accelerator(accel)
        let dir: String
        if let k = keepDir {
            dir = k
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } else {
            dir = NSTemporaryDirectory() + "bpfstress-vm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        defer { if keepDir == nil { try? FileManager.default.removeItem(atPath: dir) } }
        var cfg = GuestSessionConfig(label: "vm1", kernel: kernel, initrd: initrd, shape: shape, accel: acc.arg, dir: dir,
                                     job: GuestJob(arguments: arguments, seconds: timeout),
                                     hangDeadline: hangDeadline, bootDeadline: 120, executable: executable)
        cfg.boot = PVHKernel.choose(kernel)
        if !cfg.boot!.why.isEmpty { log("booting the bzImage: \(cfg.boot!.why)") }
        let o = try GuestSession(cfg, log: log).run(stop: { bpfs_stop_requested() != 0 })
        let output = (try? String(contentsOfFile: dir + "/job/output.txt", encoding: .utf8)) ?? ""
        switch o.end {
        case .result(let r): return Result(exitCode: r.exitCode, output: output, failure: nil, outcome: o)
        case .panic(let t): return Result(exitCode: 1, output: output, failure: "guest panic: \(t)", outcome: o)
        case .hang(let t): return Result(exitCode: 1, output: output, failure: "guest hang: \(t)", outcome: o)
        case .noResult(let w): return Result(exitCode: 1, output: output, failure: w + "\n" + GuestSession.tail(o.console, lines: 30), outcome: o)
        case .bootFailed(let w): return Result(exitCode: 1, output: output, failure: "guest boot failed: \(w)\n" + GuestSession.tail(o.console, lines: 40), outcome: o)
        }
    }
}
