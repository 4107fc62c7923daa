import Basics
import BPFKit
import CBPFStress
import Foundation
import Capture
import Reports

/// Options of one run that are not part of the campaign.
public struct RunOptions: Sendable {
    public var executable: String = "/proc/self/exe"
    public var runtimeName: String = "kernel"
    /// TERM, then this grace period, then KILL.
    public var stopGrace: Double = 3
    public var maxRestarts: Int? = nil
    public var statusToTTY: Bool = isatty(STDERR_FILENO) != 0
    public var statusInterval: Double = 5
    public var quiet: Bool = false
    /// What to do with a hung worker after capturing it.
    public var onHang: HangAction = .kill
    /// Read /dev/kmsg for kernel splats during the run.
    public var watchKernelLog: Bool = true
    /// Also treat messages written to /dev/kmsg from user space as kernel reports (tests only:
    /// BPFSTRESS_KMSG_INCLUDE_USER=1), so the path can be proven without breaking the kernel.
    public var kernelLogIncludesUser: Bool = ProcessInfo.processInfo.environment["BPFSTRESS_KMSG_INCLUDE_USER"] == "1"
    /// Inventory BPF objects, cgroups, netns and bpffs mounts before and after the campaign.
    public var leakCheck: Bool = true
    /// Seconds between report snapshots (CampaignRunner writes them: a coordinator killed by
    /// SIGKILL still leaves a valid report that says it was cut off).
    public var snapshotInterval: Double = 5
    /// Remove what dead coordinators left (StaleCleanup) before starting.
    public var cleanStale: Bool = true
    public init() {}
}

public enum HangAction: String, Sendable { case kill, keep }

/// A worker process the coordinator started.
final class WorkerProcess {
    let slot: Int
    let generation: Int
    let scenarioIndex: Int
    let pid: pid_t
    let startedAt: Date
    /// Our end of the crash socketpair: the worker's handler reports a fatal signal here and
    /// waits for one byte back, so we can capture it before it dies.
    let crashFD: Int32
    /// Bytes of the slot's spill file already taken in (FindingSpill).
    var spillOffset = 0
    /// Findings the worker could neither put in its mailbox nor spill, already logged.
    var lostReported = 0
    var exited = false
    /// Set when the watchdog or the crash path already made the finding for this death.
    var deathExplained: String?
    /// Left SIGSTOPped for a debugger (--on-hang keep): never killed by us.
    var kept = false
    /// A hung worker gets TERM first, then KILL at this time (bpfs_now_ns): the pause lets
    /// its main thread leave in-flight state for the findings (Scenario.stopping).
    var killAt: UInt64?
    /// Exited by itself with status 0 after teardown: evidence for `worker-survives`.
    var endedClean = false
    /// Made a hang finding (watchdog, or ignored TERM): evidence against `no-hang`.
    var hung = false

    init(slot: Int, generation: Int, scenarioIndex: Int, pid: pid_t, crashFD: Int32) {
        self.slot = slot; self.generation = generation; self.scenarioIndex = scenarioIndex; self.pid = pid
        self.crashFD = crashFD
        startedAt = Date()
    }
}

/// The result of a run, before it is written out.
public struct RunOutcome {
    public var summary: RunSummary
    public var findings: [Finding]
    public var log: [String]
    /// Files scenarios left for the run directory (WorkerContext.reportFilesDirectory), by name.
    public var files: [String: Data] = [:]
}

/// The manager: spawns the worker fleet, watches it through shared memory and waitpid,
/// restarts the dead, stops everyone at the end, and turns failed checks into findings.
/// It never dies because a worker did.
public final class Coordinator {
    let plan: RunPlan
    let options: RunOptions
    let environment: EnvironmentProbe
    let runtime: any Runtime
    var telemetry: TelemetryBlock!
    var cgroup: CampaignCgroup?
    /// Scratch directory for state workers leave on stop (see attachWorkerState).
    var stateDir: String?
    var workers: [WorkerProcess] = []
    var usedSlots: [(slot: Int, scenarioIndex: Int)] = []
    var nextSlot = 0
    var restarts = 0
    var deaths: [WorkerDeath] = []
    var findings: [Finding] = []
    var logLines: [String] = []
    let started = Date()
    var startNs: UInt64 = 0
    var endNs: UInt64 = 0
    /// Extra per-tick hook (tests, plugins).
    public var watchdog: ((Coordinator) -> Void)?
    /// Receives a snapshot of the run as it stands, at start and every snapshotInterval.
    public var snapshot: ((RunOutcome) -> Void)?
    var kernelLog: KernelLogWatcher?
    var timeline: [TimelineSample] = []
    /// "scenario/check" -> why that check could not run here.
    var skippedChecks: [String: String] = [:]
    /// Properties scenarios reported (WorkerContext.reportProperty), by scenario name.
    var scenarioProperties: [String: [String: String]] = [:]
    /// The ownership ledger's memfd (fd 5 in workers), -1 when there is none.
    var ledgerFD: Int32 = -1
    /// Why the campaign's leak check did not run, or nil when it ran.
    var leakCheckSkipped: String?
    var leakCheckRan = false
    /// Why the kernel log was not watched, or nil.
    var kernelLogSkipped: String?
    /// Leftovers of dead coordinators removed at start (stale campaign cgroups, state dirs).
    var staleCleaned: [String] = []

    public init(plan: RunPlan, options: RunOptions, environment: EnvironmentProbe, runtime: any Runtime) {
        self.plan = plan; self.options = options; self.environment = environment; self.runtime = runtime
    }

    func log(_ s: String) {
        let stamp = String(format: "%7.3f", Date().timeIntervalSince(started))
        logLines.append("[\(stamp)] \(s)")
        if !options.quiet && !options.statusToTTY { Stderr.write("bpfstress: \(s)\n") }
    }

    public func run() throws -> RunOutcome {
        let totalWorkers = plan.scenarios.map(\.workers).reduce(0, +)
        let restartBudget = options.maxRestarts ?? max(4, totalWorkers * 4)
        telemetry = try TelemetryBlock(slots: max(1, totalWorkers + restartBudget))
        defer { close(telemetry.fd) }
        if options.cleanStale {
            staleCleaned = StaleCleanup.run()
            staleCleaned.forEach { log($0) }
        }
        stateDir = Self.makeStateDirectory()
        defer { if let d = stateDir { try? FileManager.default.removeItem(atPath: d) } }
        startNs = bpfs_now_ns()
        // Saturating: callers bound durations (30 days), but a Double past UInt64 would trap here.
        endNs = startNs &+ UInt64(min(max(plan.campaign.duration, 0), 3e9) * 1e9)
        log("campaign \(plan.campaign.name) seed \(plan.seed) runtime \(runtime.name) kernel \(environment.kernelRelease)")
        for s in plan.skipped { log("skip \(s.name): \(s.reason)") }

        let inventoryBefore = options.leakCheck ? Inventory.take(runtime: runtime) : nil
        if options.leakCheck {
            do { ledgerFD = try OwnershipLedger.create() } catch {
                leakCheckSkipped = "no ownership ledger (memfd: \(error)): nothing can be attributed to this campaign"
                log("leak check not run: \(leakCheckSkipped!)")
            }
        } else {
            leakCheckSkipped = "leak check disabled for this run"
        }
        defer {
            OwnershipLedger.detach()
            if ledgerFD >= 0 { close(ledgerFD); ledgerFD = -1 }
        }
        if plan.scenarios.contains(where: { $0.descriptor.requirements.contains(.cgroupHooks) }) {
            let name = "bpfstress.\(getpid()).\(String(plan.seed, radix: 16))"
            cgroup = try CampaignCgroup.create(name: name)
            log("campaign cgroup \(cgroup!.path)")
        }
        defer { tearDownCgroup() }

        if !options.watchKernelLog { kernelLogSkipped = "kernel log watching disabled for this run" }
        if options.watchKernelLog {
            do {
                kernelLog = try KernelLogWatcher()
                kernelLog?.includeUserMessages = options.kernelLogIncludesUser
            } catch { kernelLogSkipped = "kernel log not readable: \(error)"; log("kernel log not watched: \(error)") }
        }
        // Spawning a large fleet takes seconds: say so before the first tick's status line.
        let fleet = plan.scenarios.map(\.workers).reduce(0, +)
        spawnStatus(0, of: fleet)
        for (i, s) in plan.scenarios.enumerated() {
            for _ in 0..<s.workers {
                try spawn(scenarioIndex: i, generation: 0)
                spawnStatus(workers.count, of: fleet)
            }
        }

        snapshot?(makeOutcome(final: false))
        var lastSnapshot = Date()
        var lastStatus = Date.distantPast
        var lastSample = Date()
        var lastSampleOps = plan.scenarios.indices.map { _ in UInt64(0) }
        while bpfs_now_ns() < endNs && bpfs_stop_requested() == 0 {
            usleep(100_000)
            checkCrashes()
            reap(restartBudget: restartBudget)
            collectFindings()
            checkHangs()
            enforceKills()
            pollKernelLog()
            watchdog?(self)
            let now = Date()
            if now.timeIntervalSince(lastSample) >= 1 {
                let dt = now.timeIntervalSince(lastSample)
                var rates: [String: Double] = [:]
                for i in plan.scenarios.indices {
                    let ops = totals(scenarioIndex: i).ops
                    rates[plan.scenarios[i].descriptor.name] = Double(ops &- lastSampleOps[i]) / dt
                    lastSampleOps[i] = ops
                }
                timeline.append(TimelineSample(t: now.timeIntervalSince(started), opsPerSecond: rates))
                lastSample = now
            }
            if let snap = snapshot, now.timeIntervalSince(lastSnapshot) >= options.snapshotInterval {
                snap(makeOutcome(final: false))
                lastSnapshot = now
            }
            if options.statusToTTY && !options.quiet {
                if now.timeIntervalSince(lastStatus) >= 0.25 { printStatus(final: false); lastStatus = now }
            } else if now.timeIntervalSince(lastStatus) >= options.statusInterval {
                printStatus(final: false); lastStatus = now
            }
        }
        if bpfs_stop_requested() != 0 { log("stopping early on signal \(bpfs_stop_signal())") }
        stopAll()
        collectFindings()
        pollKernelLog(final: true)
        RuntimeFactory.campaignFini(runtime)
        tearDownCgroup()
        if let before = inventoryBefore { checkLeaks(before: before) }
        if options.statusToTTY && !options.quiet { printStatus(final: true) }
        var outcome = makeOutcome()
        outcome.files = reportFiles()
        return outcome
    }

    /// Ops and time at the last status line (for its rate).
    var lastOps: UInt64 = 0
    var lastOpsAt = Date()
}

public enum BPFStressVersion { public static let string = "0.1.0" }

/// The exit codes of a campaign (README: "Exit codes").
public enum RunExit {
    public static let clean: Int32 = 0
    public static let findings: Int32 = 1
    public static let usage: Int32 = 2
    public static let environment: Int32 = 3
    public static let internalError: Int32 = 4
    /// Cut short by SIGINT, SIGTERM, SIGHUP or SIGUSR1 with no findings: the report is
    /// complete for what ran, but the campaign did not run its course.
    public static let interrupted: Int32 = 5
}

/// Runs `body` with a NULL-terminated C string array (argv/envp style).
func withCStringArray<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) throws -> R) rethrows -> R {
    var ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    ptrs.append(nil)
    defer { ptrs.forEach { free($0) } }
    return try body(ptrs)
}

/// sigaction for TERM/INT in the coordinator: a signal ends the run early, and the
/// report is still written.
@discardableResult
public func installStopHandlers() -> Int32 { bpfs_install_stop_handlers() }
