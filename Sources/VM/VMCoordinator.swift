// The outer coordinator: N guests, each rebooted within a restart budget until the campaign's time is used.
import CBPFStress
import Capture
import Foundation
import Reports
#if canImport(Glibc)
import Glibc
#endif

/// Everything the host needs to run a campaign in guests.
public struct VMRunConfig: Sendable {
    public var kernel: KernelImage
    public var shape: VMShape
    public var guests: Int = 1
    /// Guest reboots allowed per guest.
    public var restarts: Int = 3
    public var hangDeadline: Double = 30
    public var bootDeadline: Double = 180
    /// Campaign seconds each guest should run in total.
    public var duration: Double
    public var seed: UInt64
    public var campaignName: String
    /// The `bpfstress run` arguments without duration, seed and report dir (the coordinator adds them).
    public var guestArguments: [String]
    public var reportRoot: String
    public var executable: String
    public var quiet = false
    public init(kernel: KernelImage, shape: VMShape, duration: Double, seed: UInt64, campaignName: String,
                guestArguments: [String], reportRoot: String, executable: String) {
        self.kernel = kernel; self.shape = shape; self.duration = duration; self.seed = seed
        self.campaignName = campaignName; self.guestArguments = guestArguments; self.reportRoot = reportRoot
        self.executable = executable
    }
}

/// One finished boot, as the report needs it.
struct BootRecord {
    var guest: Int
    var boot: Int
    var seed: UInt64
    var outcome: GuestOutcome
    var report: GuestReport
    /// Seconds of campaign the guest ran (agent start to end).
    var campaignSeconds: Double
}

public final class VMCoordinator: @unchecked Sendable {
    let cfg: VMRunConfig
    let lock = NSLock()
    var records: [BootRecord] = []
    var logLines: [String] = []
    let started = Date()
    var dir: RunDirectory!
    var errors: [String] = []

    public init(_ cfg: VMRunConfig) { self.cfg = cfg }

    func log(_ s: String) {
        let stamp = String(format: "%7.3f", Date().timeIntervalSince(started))
        lock.lock(); logLines.append("[\(stamp)] \(s)"); lock.unlock()
        if !cfg.quiet { FileHandle.standardError.write("bpfstress: \(s)\n".data(using: .utf8)!) }
    }

    /// The seed of guest `g`'s boot `b`: the campaign seed itself for the first guest's first boot
    /// (so one guest replays the campaign as on the host), else splitmix64 steps from it.
    public static func seed(campaign: UInt64, guest: Int, boot: Int) -> UInt64 {
        if guest == 0 && boot == 0 { return campaign }
        var z = campaign &+ 0x9E3779B97F4A7C15 &* UInt64(guest * 1000 + boot)
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }

    /// Runs every guest to the end of the campaign (or SIGINT/SIGTERM), then writes the host report.
    /// Returns the report directory and the exit code.
    public func run() throws -> (path: String, exitCode: Int32, summary: RunSummary) {
        dir = try RunDirectory.create(root: cfg.reportRoot, startedAt: started, seed: cfg.seed)
        let initrd = try Initramfs.path(for: cfg.kernel)
        let acc = try QEMULaunch.accelerator(cfg.shape.accel)
        let boot = PVHKernel.choose(cfg.kernel)
        log("campaign \(cfg.campaignName), seed \(cfg.seed): \(cfg.guests) guest(s) booting \(cfg.kernel.release) under \(acc.name)")
        if !boot.why.isEmpty { log("booting the bzImage: \(boot.why)") }
        let group = DispatchGroup()
        for g in 0..<cfg.guests {
            group.enter()
            let t = Thread { [self] in
                defer { group.leave() }
                do { try self.runGuest(g, initrd: initrd, accel: acc.arg, boot: boot) } catch {
                    self.lock.lock(); self.errors.append("\(error)"); self.lock.unlock()
                    self.log("vm\(g + 1): \(error)")
                }
            }
            t.stackSize = 1 << 22
            t.start()
        }
        group.wait()
        QEMUProcess.killAll()
        if bpfs_stop_requested() != 0 { log("stopped early on signal \(bpfs_stop_signal())") }
        let sig = bpfs_stop_signal()
        let summary = VMReport.summary(cfg: cfg, records: records, started: started, ended: Date(),
                                       interrupted: sig != 0 ? FindingTitles.signalName(sig) : nil)
        try VMReport.write(summary: summary, log: logLines, to: dir)
        if records.isEmpty, let e = errors.first { throw VMError.environment(e) }
        return (dir.path, summary.exitCode, summary)
    }

    func runGuest(_ g: Int, initrd: String, accel: String, boot pvh: PVHKernel.Choice) throws {
        var left = cfg.duration
        var boot = 0
        while left >= 1 && bpfs_stop_requested() == 0 {
            let label = "vm\(g + 1)" + (boot > 0 ? " boot \(boot + 1)" : "")
            let seed = Self.seed(campaign: cfg.seed, guest: g, boot: boot)
            let bootDir = dir.path + "/guests/vm\(g + 1)-boot\(boot + 1)"
            let secs = Int(left.rounded(.up))
            let args = cfg.guestArguments + ["--duration", "\(secs)s", "--seed", String(seed),
                                             "--report-dir", GuestInit.jobMount + "/reports", "--quiet"]
            // The guest's own run needs its duration plus teardown; the agent's hard bound allows for it.
            let job = GuestJob(arguments: args, seconds: Double(secs) + 90, boot: boot + 1)
            var sc = GuestSessionConfig(label: label, kernel: cfg.kernel, initrd: initrd, shape: cfg.shape, accel: accel,
                                        dir: bootDir, job: job, hangDeadline: cfg.hangDeadline,
                                        bootDeadline: cfg.bootDeadline, executable: cfg.executable)
            sc.boot = pvh
            log("\(label): seed \(seed), \(secs) s of campaign")
            let o = try GuestSession(sc, log: { [self] in self.log($0) }).run(stop: { bpfs_stop_requested() != 0 })
            let rep = GuestMerge.read(reportsDir: bootDir + "/job/reports")
            let ran = max(0, o.seconds - (o.bootSeconds ?? o.seconds))
            lock.lock()
            records.append(BootRecord(guest: g, boot: boot, seed: seed, outcome: o, report: rep, campaignSeconds: ran))
            lock.unlock()
            switch o.end {
            case .result(let r):
                log("\(label): guest finished, bpfstress exit \(r.exitCode)\(rep.summary == nil ? " (no summary.json)" : "")")
                if r.exitCode >= 2, let out = try? String(contentsOfFile: bootDir + "/job/output.txt", encoding: .utf8) {
                    log("\(label): guest output: " + out.split(separator: "\n").suffix(5).joined(separator: " | "))
                }
                return
            case .panic(let t): log("\(label): guest panic: \(t)")
            case .hang(let t): log("\(label): guest hang: \(t)")
            case .noResult(let w): log("\(label): \(w)")
            case .bootFailed(let w):
                log("\(label): boot failed: \(w)")
                return  // a kernel that does not boot will not boot the next time either
            }
            left -= max(ran, 1)
            if boot >= cfg.restarts { log("vm\(g + 1): restart budget (\(cfg.restarts)) used up"); return }
            if left < 5 { return }
            boot += 1
            log("vm\(g + 1): rebooting a fresh guest for the remaining \(Int(left)) s (restart \(boot) of \(cfg.restarts))")
        }
    }
}
