import Basics
import BPFKit
import CBPFCapture
import CBPFStress
import Foundation

/// The executor side of the manager/executor split: runs one scenario with T threads in
/// this process, reporting only through shared-memory telemetry.
public enum WorkerMain {
    /// Exit codes a worker uses; anything else (or a signal) is a death the coordinator reports.
    public static let exitOK: Int32 = 0
    public static let exitSetupFailed: Int32 = 10
    public static let exitBadSpec: Int32 = 11

    public static func run(specJSON: String, registry: ScenarioRegistry) -> Int32 {
        _ = bpfs_install_stop_handlers()
        // TERM, not KILL: a worker kept stopped for a debugger (--on-hang keep) must outlive
        // us; a running one still winds down on its own stop flag.
        _ = bpfs_set_parent_death_signal(SIGTERM)
        // A kept (stopped) worker becomes an orphaned process group when we exit, and the
        // kernel then sends SIGHUP+SIGCONT: survive it, stuck where it hung, for gdb -p.
        signal(SIGHUP, SIG_IGN)
        // Spawned with the stop signals blocked (bpfs_spawn_worker): a TERM that came before
        // the handlers were in place is delivered now, as a stop request, not a death.
        _ = bpfs_unblock_stop_signals()
        guard let data = specJSON.data(using: .utf8),
              let spec = try? JSONDecoder().decode(WorkerSpec.self, from: data) else {
            Stderr.write("bpfstress worker: bad spec\n")
            return exitBadSpec
        }
        guard let type = registry.type(named: spec.scenario) else {
            Stderr.write("bpfstress worker: unknown scenario \(spec.scenario)\n")
            return exitBadSpec
        }
        let telemetry: TelemetryBlock
        do { telemetry = try TelemetryBlock(attachingTo: spec.telemetryFD) } catch {
            Stderr.write("bpfstress worker: \(error)\n")
            return exitBadSpec
        }
        // Every object this worker creates is recorded in the campaign's ledger (leak check).
        if let fd = spec.ledgerFD { try? OwnershipLedger.attach(fd: fd) }
        // Fatal signals go to the coordinator over fd 4, which captures us before we die.
        _ = bpfs_crash_install(4)
        let descriptor = type.descriptor
        let comm = "bpfs.\(spec.slot).\(descriptor.shortName)"
        let slot = telemetry.slot(spec.slot)
        func phase(_ p: bpfs_phase, _ suffix: String) {
            slot.pointee.phase = p.rawValue
            _ = bpfs_set_comm(suffix.isEmpty ? comm : "\(comm).\(suffix)")
        }
        slot.pointee.pid = getpid()
        slot.pointee.nthreads = UInt32(spec.threads)
        phase(BPFS_PHASE_SETUP, "s")

        if let cg = spec.cgroupPath {
            // Join the campaign cgroup before any connect, so every attached program sees us.
            let procs = cg + "/cgroup.procs"
            if (try? "\(getpid())".write(toFile: procs, atomically: false, encoding: .utf8)) == nil {
                let ctx = WorkerContext(spec: spec, runtime: KernelRuntime(), descriptor: descriptor, telemetry: telemetry)
                ctx.fail("setup", title: "cannot join campaign cgroup in \(descriptor.name)", detail: "write \(procs) failed")
                return exitSetupFailed
            }
        }
        let runtime: any Runtime
        do { runtime = try RuntimeFactory.makeWorkerRuntime(spec.runtime, campaignState: spec.runtimeState) } catch {
            let ctx = WorkerContext(spec: spec, runtime: KernelRuntime(), descriptor: descriptor, telemetry: telemetry)
            ctx.fail("setup", title: "runtime \(spec.runtime) failed to attach in \(descriptor.name)", detail: "\(error)")
            return exitSetupFailed
        }
        let ctx = WorkerContext(spec: spec, runtime: runtime, descriptor: descriptor, telemetry: telemetry)
        let scenario: any Scenario
        do {
            scenario = try type.init(worker: ctx)
        } catch {
            ctx.fail("setup", title: "setup failed in \(descriptor.name): \(errnoLabel(of: error))",
                     detail: "\(error)", errno: errnoNumber(of: error) ?? 0, op: .setup)
            phase(BPFS_PHASE_DONE, "")
            return exitSetupFailed
        }
        ctx.pass(CheckSpec.setup.name)
        phase(BPFS_PHASE_RUNNING, "")
        let threads = (0..<spec.threads).map { i in
            WorkerThread(name: "\(descriptor.shortName).\(spec.slot).\(i)") {
                let t = ThreadContext(worker: ctx, index: i)
                do { try scenario.run(thread: t); t.pass(CheckSpec.threadRuns) } catch {
                    t.fail(CheckSpec.threadRuns, title: "\(descriptor.name) thread aborted: \(errnoLabel(of: error))",
                           detail: "\(error)\nlast ops:\n" + t.recentOps().joined(separator: "\n"), errno: errnoNumber(of: error) ?? 0)
                }
                t.tm.pointee.active = 0
            }
        }
        // Join by polling, so the main thread can tell the scenario about threads that do
        // not finish after the stop request. Bounded by the threads, or by the coordinator's
        // TERM, grace period and KILL.
        var pending = threads
        var stopSeenNs: UInt64? = nil
        var told = false
        while !pending.isEmpty {
            pending.removeAll { $0.tryJoin() }
            if pending.isEmpty { break }
            if !told && !ctx.keepRunning {
                let now = bpfs_now_ns()
                if let seen = stopSeenNs {
                    if now &- seen > 500_000_000 { scenario.stopping(); told = true }
                } else { stopSeenNs = now }
            }
            // Coarse while running (a worker's main thread should not compete with its op
            // threads), fine once stopping, when exit time matters.
            usleep(ctx.keepRunning ? 50_000 : 5_000)
        }
        // The end-of-run judgement runs on the main thread, recorded in thread slot 0's telemetry.
        let judge = ThreadContext(worker: ctx, index: 0)
        scenario.finish(thread: judge)
        judge.tm.pointee.active = 0
        phase(BPFS_PHASE_TEARDOWN, "t")
        scenario.teardown()
        phase(BPFS_PHASE_DONE, "")
        return exitOK
    }
}

/// A joinable pthread with its own comm name (Foundation's Thread cannot be joined).
final class WorkerThread {
    private var thread: pthread_t
    private final class Box { let name: String; let body: () -> Void; init(_ n: String, _ b: @escaping () -> Void) { name = n; body = b } }

    init(name: String, body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(Box(name, body)).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, 1 << 20)
        var t = pthread_t()
        let rc = pthread_create(&t, &attr, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            _ = bpfs_set_comm(box.name)
            // sigaltstack is per thread: a stack overflow here must still reach the handler.
            _ = bpfs_crash_thread_init()
            box.body()
            return nil
        }, box)
        pthread_attr_destroy(&attr)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        thread = t
    }

    func join() { pthread_join(thread, nil) }

    /// bpfs_thread_tryjoin (pthread_tryjoin_np): true when the thread had ended (and is now joined).
    func tryJoin() -> Bool { bpfs_thread_tryjoin(UInt(thread)) == 0 }
}

