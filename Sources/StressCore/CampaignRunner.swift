// The one campaign path: report directory, coordinator, snapshots, final report, exit code.
import BPFKit
import Foundation
import Reports

/// Used by `run`, `fuzz`, `bugbench` and the guest side of VM campaigns: each command builds
/// its plan and options, and reads the outcome. The run directory exists before any worker
/// starts (a bad report directory fails first), holds a valid report from the first second
/// (refreshed every `snapshotInterval`, marked incomplete), and gets the final one at the end.
public struct CampaignRunner {
    public var plan: RunPlan
    public var options: RunOptions
    public var environment: EnvironmentProbe
    public var runtime: any Runtime
    public var reportRoot: String
    /// Set on the coordinator before it runs (watchdog hooks of bugbench, tests).
    public var configure: ((Coordinator) -> Void)?
    /// Adds to the finished outcome before the final report (regressions against a baseline).
    public var finish: ((inout RunOutcome, Coordinator) -> Void)?

    public init(plan: RunPlan, options: RunOptions, environment: EnvironmentProbe, runtime: any Runtime,
                reportRoot: String, configure: ((Coordinator) -> Void)? = nil) {
        self.plan = plan; self.options = options; self.environment = environment; self.runtime = runtime
        self.reportRoot = reportRoot; self.configure = configure
    }

    public struct Result {
        public var outcome: RunOutcome
        public var directory: String
        public var exitCode: Int32 { outcome.summary.exitCode }
    }

    public enum Failure: Error, CustomStringConvertible {
        /// The report directory cannot be made or written (exit 2: the user named it).
        case reportDirectory(String)
        /// The final report could not be written (exit 4).
        case report(String)
        public var description: String {
            switch self {
            case let .reportDirectory(s): return "report directory: \(s)"
            case let .report(s): return "writing report: \(s)"
            }
        }
        public var exitCode: Int32 {
            switch self { case .reportDirectory: return RunExit.usage; case .report: return RunExit.internalError }
        }
    }

    public func run() throws -> Result {
        let dir: RunDirectory
        do { dir = try ReportEmitter.begin(root: reportRoot, startedAt: Date(), seed: plan.seed) } catch {
            throw Failure.reportDirectory("\(error)")
        }
        let coordinator = Coordinator(plan: plan, options: options, environment: environment, runtime: runtime)
        coordinator.snapshot = { snap in
            do { try ReportEmitter.write(snap, into: dir) } catch { coordinator.log("report snapshot not written: \(error)") }
        }
        configure?(coordinator)
        var outcome = try coordinator.run()
        finish?(&outcome, coordinator)
        do { try ReportEmitter.write(outcome, into: dir) } catch { throw Failure.report("\(error)") }
        return Result(outcome: outcome, directory: dir.path)
    }
}
