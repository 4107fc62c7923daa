// One guest boot, watched from outside: launch, heartbeat, panic/hang/exit handling, kill by pid.
import Foundation
import Reports
#if canImport(Glibc)
import Glibc
#endif

/// How a guest boot ended.
public enum GuestEnd: Equatable, Sendable {
    /// The agent wrote its result: the command inside ran to the end (or was stopped by us).
    case result(GuestResult)
    case panic(title: String)
    case hang(title: String)
    /// qemu exited (or the init returned) without the agent's result.
    case noResult(String)
    /// Never reached the agent within the boot deadline.
    case bootFailed(String)
}

public struct GuestOutcome: Sendable {
    public var end: GuestEnd
    public var console: String
    /// Every kernel report the console holds (parsed by KernelConsoleParser).
    public var reports: [TriageReport]
    /// Seconds from qemu's launch to the agent's start marker; nil if it never started.
    public var bootSeconds: Double?
    public var seconds: Double
    /// The guest-level finding's dump (hang: NMI backtraces and registers), "" when none.
    public var dump: String
    public var qemuPid: Int32
    /// When qemu was started (boot-to-first-op is measured from here).
    public var launchedAt: Date = Date()
    /// `pvh` or `bzimage` (PVHKernel).
    public var bootMethod = "bzimage"
    /// Seconds from qemu's launch to the campaign-started marker (the guest run's directory
    /// appeared: its first worker starts right after); nil when the command made none.
    public var campaignSeconds: Double?
}

/// Deadlines and paths of one boot.
public struct GuestSessionConfig: Sendable {
    public var label: String
    public var kernel: KernelImage
    public var initrd: String
    public var shape: VMShape
    public var accel: String
    /// This boot's directory on the host: console.log, qemu.log, job/ (the read-write share).
    public var dir: String
    public var job: GuestJob
    /// No heartbeat for this long (after the first) is a guest hang.
    public var hangDeadline: Double
    /// The agent must start within this many seconds of launch.
    public var bootDeadline: Double
    /// Guest binary (absolute host path, the same inside the guest over the shared root).
    public var executable: String
    /// What `-kernel` loads (PVHKernel.choose); nil boots the bzImage.
    public var boot: PVHKernel.Choice?
    public init(label: String, kernel: KernelImage, initrd: String, shape: VMShape, accel: String, dir: String,
                job: GuestJob, hangDeadline: Double, bootDeadline: Double, executable: String) {
        self.label = label; self.kernel = kernel; self.initrd = initrd; self.shape = shape; self.accel = accel
        self.dir = dir; self.job = job; self.hangDeadline = hangDeadline; self.bootDeadline = bootDeadline
        self.executable = executable
    }
}

public final class GuestSession {
    let c: GuestSessionConfig
    let log: (String) -> Void
    public var jobDir: String { c.dir + "/job" }
    public var consolePath: String { c.dir + "/console.log" }

    public init(_ config: GuestSessionConfig, log: @escaping (String) -> Void) { c = config; self.log = log }

    /// Boots and watches the guest until it ends; `stop()` true asks it to wind down (the agent
    /// TERMs the command, which writes its report). qemu is gone when this returns.
    public func run(stop: () -> Bool) throws -> GuestOutcome {
        let fm = FileManager.default
        try GuestInit.requireVisible(c.executable, what: "the bpfstress binary")
        try fm.createDirectory(atPath: jobDir, withIntermediateDirectories: true)
        let jobData = try JSONEncoder().encode(c.job)
        guard fm.createFile(atPath: jobDir + "/job.json", contents: jobData) else { throw VMError.io("cannot write \(jobDir)/job.json") }
        let script = "export HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin\ncd /\nexec '\(c.executable)' guest --job \(GuestInit.jobMount)\n"
        try script.write(toFile: jobDir + "/guest.sh", atomically: true, encoding: .utf8)
        let qmpPath = "/tmp/bpfstress-qmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(qmpPath) }
        let argv = QEMULaunch.arguments(kernel: c.kernel, initrd: c.initrd, shape: c.shape, accel: c.accel,
                                        jobDir: jobDir, console: consolePath, qmpSocket: qmpPath,
                                        bootImage: c.boot?.image)
        try (argv.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ") + "\n")
            .write(toFile: c.dir + "/qemu.cmdline", atomically: true, encoding: .utf8)
        let launched = Date()
        let qemu = try QEMUProcess(arguments: argv, logPath: c.dir + "/qemu.log")
        defer { qemu.kill() }
        log("\(c.label): qemu pid \(qemu.pid) booting \(c.kernel.release) (\(c.boot?.method ?? "bzimage"), \(c.accel), \(c.shape.cpus) vCPUs, \(c.shape.memory))")
        let console = ConsoleStream(path: consolePath)
        var agentAt: Date?, lastBeat: Date?, panicAt: Date?, panicReason = "", campaignAt: Date?
        var resultCode: Int32?, stopAsked: Date?
        var hang: (title: String, dump: String)?
        let hardEnd = launched.addingTimeInterval(c.bootDeadline + c.job.seconds + 60)
        watch: while true {
            for l in console.poll() {
                switch ConsoleLineKind.classify(l) {
                case .heartbeat: lastBeat = Date()
                case .campaignStarted: if campaignAt == nil { campaignAt = Date() }
                case .agentStarted:
                    agentAt = Date(); lastBeat = agentAt
                    log(String(format: "%@: agent started %.1f s after launch", c.label, agentAt!.timeIntervalSince(launched)))
                case .result(let code): resultCode = code
                case .panic(let why):
                    if panicAt == nil { panicAt = Date(); panicReason = why; log("\(c.label): kernel panic: \(why)") }
                case .reportHeader(let h): log("\(c.label): kernel report on the console: \(h.prefix(160))")
                case .initExit, .other: break
                }
            }
            if qemu.poll() != nil { break }
            let now = Date()
            if let p = panicAt, now.timeIntervalSince(p) > 15 { log("\(c.label): qemu still up 15 s after the panic: killing pid \(qemu.pid)"); break }
            if panicAt == nil && resultCode == nil {
                if stop() && stopAsked == nil {
                    stopAsked = now
                    fm.createFile(atPath: jobDir + "/stop", contents: Data())
                    log("\(c.label): stop requested; asking the guest to wind down")
                }
                if let s = stopAsked, now.timeIntervalSince(s) > 20 { log("\(c.label): guest did not stop in 20 s: killing"); break }
                let silentFor = now.timeIntervalSince(lastBeat ?? launched)
                let limit = lastBeat == nil ? c.bootDeadline : c.hangDeadline
                if stopAsked == nil && (silentFor > limit || now > hardEnd) {
                    hang = captureHang(qemu: qemu, qmpPath: qmpPath, console: console, silentFor: silentFor,
                                       booted: agentAt != nil)
                    break watch
                }
            }
            if resultCode != nil, let s = qemu.wait(seconds: 0.1) { _ = s; break }
            usleep(100_000)
        }
        // The init powers off after the result; give it a moment, then kill by pid.
        if qemu.poll() == nil && hang == nil { _ = qemu.wait(seconds: panicAt != nil ? 5 : 10) }
        qemu.kill()
        let text = console.finish()
        let reports = KernelConsoleParser.parse(text, file: consolePath)
        let seconds = Date().timeIntervalSince(launched)
        let boot = agentAt.map { $0.timeIntervalSince(launched) }
        var outcome = GuestOutcome(end: .noResult(""), console: text, reports: reports, bootSeconds: boot,
                                   seconds: seconds, dump: "", qemuPid: qemu.pid, launchedAt: launched)
        outcome.bootMethod = c.boot?.method ?? "bzimage"
        outcome.campaignSeconds = campaignAt.map { $0.timeIntervalSince(launched) }
        let result = (fm.contents(atPath: jobDir + "/result.json")).flatMap { try? JSONDecoder().decode(GuestResult.self, from: $0) }
        if let h = hang {
            outcome.end = agentAt == nil ? .bootFailed(h.title) : .hang(title: h.title)
            outcome.dump = h.dump
        } else if panicAt != nil {
            let window = Self.reportsNear(panic: panicReason, in: text)
            let title = GuestTitles.panic(reason: panicReason, reports: window)
            outcome.end = .panic(title: title)
            outcome.dump = header("guest panic", title) + Self.tail(text, lines: 300)
        } else if let r = result {
            outcome.end = .result(r)
        } else if agentAt == nil {
            let why = "guest exited before the agent started"
            outcome.end = .bootFailed(why)
            outcome.dump = header("guest boot failed", why) + Self.tail(text, lines: 200)
                + "\n--- qemu.log ---\n" + ((try? String(contentsOfFile: c.dir + "/qemu.log", encoding: .utf8)) ?? "")
        } else {
            let why = resultCode.map { "result marker \($0) but no result.json" } ?? "guest exited without writing its result"
            outcome.end = .noResult(why)
            outcome.dump = header("guest exited without result", why) + Self.tail(text, lines: 200)
        }
        return outcome
    }

    /// Registers of every vCPU (HMP over QMP, while the guest is still wedged: the NMI panics it),
    /// then QMP inject-nmi so that each CPU prints its backtrace; up to 10 s for the panic to
    /// finish printing, then qemu is killed by pid. All of it goes into the dump.
    func captureHang(qemu: QEMUProcess, qmpPath: String, console: ConsoleStream, silentFor: Double, booted: Bool)
        -> (title: String, dump: String) {
        let before = console.text
        let t0 = Date()
        log(String(format: "%@: no heartbeat for %.0f s: capturing registers, injecting an NMI", c.label, silentFor))
        var regs = "", qmpNote = ""
        do {
            let q = try QMPClient(path: qmpPath, timeout: 5)
            regs = (try? q.hmp("info registers -a", timeout: 10)) ?? "(info registers failed)"
            try q.execute("inject-nmi", timeout: 5)
        } catch { qmpNote = "QMP: \(error)\n" }
        let end = Date().addingTimeInterval(10)
        while Date() < end {
            _ = console.poll()
            if qemu.poll() != nil { break }
            if console.text.contains("---[ end Kernel panic") { _ = qemu.wait(seconds: 1); break }
            usleep(100_000)
        }
        qemu.kill()
        _ = console.poll()
        let after = String(console.text.dropFirst(before.count))
        let reportsBefore = KernelConsoleParser.parse(before)
        let title = booted ? GuestTitles.hang(reportsBeforeNMI: reportsBefore, nmiConsole: after, seconds: Int(silentFor))
                           : "guest boot hang: no agent within \(Int(c.bootDeadline)) s"
        let nmiCount = GuestTitles.nmiBacktraces(after).count
        log(String(format: "%@: %d NMI backtrace(s) %.1f s after the capture began; qemu pid %d killed", c.label,
                   nmiCount, Date().timeIntervalSince(t0), qemu.pid))
        var dump = header("guest hang", title)
        dump += String(format: "no heartbeat for %.1f s (deadline %.0f s); %d vCPU NMI backtrace(s) captured\n",
                       silentFor, c.hangDeadline, nmiCount)
        dump += qmpNote
        dump += "\n--- console before the NMI (last 150 lines) ---\n" + Self.tail(before, lines: 150)
        dump += "\n--- console after QMP inject-nmi ---\n" + after
        dump += "\n--- info registers -a ---\n" + regs + "\n"
        return (title, dump)
    }

    func header(_ what: String, _ title: String) -> String {
        "\(what): \(title)\nguest: \(c.label)\nkernel: \(c.kernel.release) (\(c.kernel.image))\n"
            + "accel: \(c.accel), \(c.shape.cpus) vCPUs, \(c.shape.memory)\nconsole: \(consolePath)\n"
    }

    static func tail(_ text: String, lines n: Int) -> String {
        let ls = text.split(separator: "\n", omittingEmptySubsequences: false)
        return ls.suffix(n).joined(separator: "\n")
    }

    /// Reports that the panic ended: those starting in the 150 console lines before the panic line,
    /// of a kind that panics (not plain warnings).
    static func reportsNear(panic reason: String, in text: String) -> [TriageReport] {
        let ls = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let i = ls.lastIndex(where: { $0.contains(ConsoleLineKind.panicPrefix) }) else { return [] }
        let window = ls[max(0, i - 150)..<i].joined(separator: "\n")
        return KernelConsoleParser.parse(window).filter { $0.type != "warning" }
    }
}
