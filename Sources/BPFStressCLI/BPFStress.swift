import ArgumentParser
import Basics
import BPFKit
import CampaignFile
import Capture
import Foundation
import Glibc
import Reports
import Scenarios
import StressCore

/// Exit codes, documented in the README.
enum ExitCodes {
    static let clean: Int32 = 0
    static let findings: Int32 = 1
    static let usage: Int32 = 2
    static let environment: Int32 = 3
    static let internalError: Int32 = 4
    static let interrupted: Int32 = RunExit.interrupted
}

/// Prints one line to stderr and exits with `code`.
func die(_ message: String, _ code: Int32) -> Never {
    Stderr.write("bpfstress: \(message)\n")
    Glibc.exit(code)
}

struct BPFStress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bpfstress",
        abstract: "Multi-process stress and fuzz framework for eBPF runtimes.",
        discussion: "Exit codes: 0 no findings, 1 findings, 2 usage or config error, 3 environment (not privileged, missing feature), 4 internal error, 5 interrupted by a signal.",
        version: BPFStressVersion.string,
        subcommands: [Run.self, List.self, Supervise.self, Bench.self, Worker.self] + extraCommands)
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a campaign against the runtime and write reports.")

    @Argument(help: "Campaign YAML file (default: every registered scenario).")
    var campaign: String?
    @Option(name: .customLong("scenario"), help: "Run only this scenario (repeatable).")
    var scenarios: [String] = []
    @Option(help: "Worker processes in total.") var workers: Int?
    @Option(help: "Threads per worker.") var threads: Int?
    @Option(help: "Run time, e.g. 30s, 2m.") var duration: String?
    @Option(parsing: .unconditional, help: "Campaign seed, 0...2^64-1 or 0x-hex (printed and recorded; random when omitted).")
    var seed: String?
    @Option(name: .customLong("report-dir"), help: "Where run directories go.") var reportDir: String = "reports"
    @Option(help: "Runtime: kernel, or plugin:PATH[:CONFIG] (a shared library implementing bpfstress_runtime.h).")
    var runtime: String = "kernel"
    @Flag(help: "No status line.") var quiet = false
    @Option(name: .customLong("on-hang"), help: "kill (default) or keep a hung worker stopped for a debugger.")
    var onHang: String = "kill"
    @Option(help: "A finished run directory of the same campaign to compare with (regressions are findings).")
    var baseline: String?
    @Option(name: .customLong("regression-threshold"), help: "Percent drop of a scenario's ops/s against the baseline that is a regression (default 60).")
    var regressionThreshold: String?
    @Option(name: .customLong("p99-regression-threshold"), help: "Percent growth of an op kind's p99 against the baseline that is a regression (default 1000).")
    var p99RegressionThreshold: String?
    @Option(help: "Run shard I of N (1-based): disjoint worker slots and seeds, e.g. 2/4.")
    var shard: String?
    @OptionGroup var vm: VMOptions

    func run() throws {
        let registry = Scenarios.registry
        var c: Campaign
        if let path = campaign {
            do { c = try CampaignParser.load(path: path, schemas: registry.schemas, opKinds: OpKind.deadlineNames) } catch {
                die("\(error)", ExitCodes.usage)
            }
        } else {
            c = Campaign(name: "adhoc", seed: nil, duration: Campaign.defaultDuration, workers: Campaign.defaultWorkers,
                         threads: Campaign.defaultThreads, deadline: 10, deadlines: [:],
                         scenarios: registry.descriptors.filter { !$0.testOnly }.map {
                             ScenarioEntry(name: $0.name, weight: 1, workers: nil, threads: nil, params: [:], deadlines: [:])
                         })
        }
        if let dup = firstDuplicate(scenarios) { die("--scenario \(dup) given more than once", ExitCodes.usage) }
        if !scenarios.isEmpty {
            c.scenarios = scenarios.map { name in
                if let existing = c.scenarios.first(where: { $0.name == name }) { return existing }
                guard registry.type(named: name) != nil else {
                    let known = registry.descriptors.filter { !$0.testOnly }.map(\.name).joined(separator: ", ")
                    die("unknown scenario '\(name)' (known: \(known))", ExitCodes.usage)
                }
                return ScenarioEntry(name: name, weight: 1, workers: nil, threads: nil, params: [:], deadlines: [:])
            }
        }
        if let w = workers { c.workers = Bounds.count(w, "--workers", 1...Bounds.maxCount) }
        if let t = threads { c.threads = Bounds.count(t, "--threads", 1...64) }
        if let d = duration { c.duration = Bounds.duration(d, "--duration") }
        if campaign != nil || workers != nil || threads != nil {
            // Explicit fleet sizes on the command line win over per-scenario counts in the file.
            if workers != nil { for i in c.scenarios.indices { c.scenarios[i].workers = nil } }
            if threads != nil { for i in c.scenarios.indices { c.scenarios[i].threads = nil } }
        }
        let runSeed = Bounds.seed(seed) ?? c.seed ?? UInt64.random(in: 1...UInt64.max)
        guard let action = HangAction(rawValue: onHang) else { die("--on-hang takes kill or keep", ExitCodes.usage) }
        // Before any plugin code or worker runs: a campaign must not end unable to write its report.
        if let why = ReportRoot.problem(reportDir) { die("--report-dir \(why)", ExitCodes.usage) }
        if let code = vmHandOff(c, seed: runSeed) { throw ExitCode(code) }
        let nightly = NightlyRunOptions.prepare(campaign: c, baseline: baseline, threshold: regressionThreshold,
                                                p99Threshold: p99RegressionThreshold, shard: shard)

        // A plugin's code runs here only after it ran without crashing in a child.
        PluginProbe.require(runtime)
        let rt: any Runtime
        do { rt = try RuntimeFactory.makeCoordinatorRuntime(runtime) } catch {
            die("\(error)", (error as? StressError)?.exitCode ?? ExitCodes.usage)
        }
        let env = EnvironmentProbe.probe(runtime: rt)
        guard env.isRoot else { die("needs root (CAP_BPF and CAP_SYS_ADMIN) to load and attach BPF programs", ExitCodes.environment) }
        if let why = env.bpfLoadError { die("cannot load BPF programs here: \(why)", ExitCodes.environment) }

        var plan: RunPlan
        do { plan = try RunPlan.make(campaign: c, registry: registry, environment: env, runtime: rt, seed: runSeed) } catch {
            die("\(error)", ExitCodes.usage)
        }
        for s in plan.scenarios {
            for o in s.descriptor.objects {
                do { _ = try ProgramCatalog.objectPath(o) } catch { die("BPF object \(o): \(error)", ExitCodes.environment) }
            }
        }
        Stderr.write("bpfstress: campaign \(c.name), seed \(runSeed), \(plan.scenarios.count) scenario(s), \(Int(c.duration))s\n")
        var options = RunOptions()
        options.runtimeName = runtime
        options.quiet = quiet
        options.stopGrace = guestStopGrace(options.stopGrace)
        options.onHang = action
        if plan.scenarios.isEmpty {
            let why = plan.skipped.map { "\($0.name): \($0.reason)" }.joined(separator: "; ")
            die("every scenario is unsupported here (\(why))", ExitCodes.environment)
        }
        nightly.apply(to: &plan, options: options)
        installStopHandlers()
        var runner = CampaignRunner(plan: plan, options: options, environment: env, runtime: rt, reportRoot: reportDir)
        runner.finish = { outcome, coordinator in nightly.apply(to: &outcome, coordinator: coordinator) }
        let result: CampaignRunner.Result
        do { result = try runner.run() } catch let e as CampaignRunner.Failure { die("\(e)", e.exitCode) } catch {
            die("\(error)", (error as? StressError)?.exitCode ?? 4)
        }
        let outcome = result.outcome
        let path = result.directory
        let s = outcome.summary
        for sc in s.scenarios {
            if sc.status == "skipped" {
                print("SKIP \(sc.name): \(sc.skipReason ?? "")")
            } else {
                print(String(format: "RAN  %@: %llu ops (%.0f ops/s)", sc.name, sc.ops, sc.opsPerSecond))
            }
        }
        for b in s.buckets { print("FINDING [\(b.type.rawValue)] \(b.title) x\(b.count)") }
        if let sig = s.interrupted { print("INTERRUPTED by \(sig): the campaign did not run its course") }
        print("report: \(path)")
        throw ExitCode(s.exitCode)
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List scenarios and whether this machine supports them.")
    func run() throws {
        let registry = Scenarios.registry
        let rt = KernelRuntime()
        let env = EnvironmentProbe.probe(runtime: rt)
        let width = registry.descriptors.map(\.name.count).max() ?? 10
        for d in registry.descriptors {
            let why = env.isRoot ? env.skipReason(d, runtime: rt) : "needs root"
            let status = why.map { "unsupported: \($0)" } ?? "supported"
            print(d.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + d.summary + "  [" + status + "]")
        }
    }
}

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Internal: run one worker process.", shouldDisplay: false)
    @Option var spec: String
    func run() throws {
        Glibc.exit(WorkerMain.run(specJSON: spec, registry: Scenarios.registry))
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print ratios against a baseline measured side by side.",
        subcommands: [BenchOps.self, BenchCapture.self] + extraBenchCommands)
}

struct BenchOps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "Map update+lookup through a worker's scenario path vs a bare C loop of the same bpf() calls.")
    @Option(help: "Alternating rounds.") var rounds: Int = 5
    @Option(help: "Update+lookup pairs per round.") var iterations: Int = 200_000

    func run() throws {
        _ = Bounds.count(rounds, "--rounds", 1...1000)
        _ = Bounds.count(iterations, "--iterations", 1...100_000_000)
        guard Probes.isRoot() else { die("needs root to create BPF maps", ExitCodes.environment) }
        let r = try OpPathBench.run(rounds: rounds, iterations: iterations)
        print("round  harness ops/s  no-histogram ops/s  BPFKit-only ops/s  C loop ops/s  harness/C")
        for i in r.harnessOpsPerSecond.indices {
            let (h, d, b) = (r.harnessOpsPerSecond[i], r.directOpsPerSecond[i], r.baselineOpsPerSecond[i])
            print(String(format: "%5d  %13.0f  %18.0f  %17.0f  %12.0f  %9.3f", i + 1, h, r.noHistogramOpsPerSecond[i], d, b, h / b))
        }
        print(String(format: "median of per-round ratios (harness / C loop): %.3f  (goal >= 0.95)", r.ratio))
        print(String(format: "median of per-round ratios (harness / harness without latency histograms): %.3f", r.histogramRatio))
        print(String(format: "median of per-chunk ratios (%d chunks of %d pairs): harness / C loop %.3f, harness / no-histogram %.3f",
                     r.chunkRatios.count, OpPathBench.chunk, r.chunkRatio, r.chunkHistogramRatio))
    }
}

struct Supervise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run any command (and its process tree) under the watchdog; capture hangs and crashes.",
        discussion: "Hung: no output for --idle-timeout, or running past --timeout. Exit: 0 passed, 1 finding or failing command, 2 usage, 3 environment.")
    @Option(help: "Seconds before the command counts as hung.") var timeout: Double = 600
    @Option(name: .customLong("idle-timeout"), help: "Seconds without output before it counts as hung.") var idleTimeout: Double = 120
    @Option(name: .customLong("report-dir"), help: "Where run directories go.") var reportDir: String = "reports"
    @Option(help: "Testcase name in the JUnit.") var name: String?
    @Argument(parsing: .postTerminator, help: "The command to supervise, after --.") var command: [String] = []

    func run() throws {
        guard !command.isEmpty else { die("supervise needs a command after --", ExitCodes.usage) }
        _ = Bounds.seconds(timeout, "--timeout")
        _ = Bounds.seconds(idleTimeout, "--idle-timeout")
        if let why = ReportRoot.problem(reportDir) { die("--report-dir \(why)", ExitCodes.usage) }
        guard Probes.isRoot() || ptraceAllowedForNonRoot() else {
            die("needs root or ptrace permission over the command", ExitCodes.environment)
        }
        installStopHandlers()
        let label = name ?? URL(fileURLWithPath: command[0]).lastPathComponent
        let o: SuperviseRun.Outcome
        do {
            o = try SuperviseRun.run(command: command, timeout: timeout, idleTimeout: idleTimeout, name: label,
                                     reportRoot: reportDir)
        } catch { die("writing report: \(error)", 4) }
        if let f = o.result.finding { print("FINDING [\(f.type.rawValue)] \(f.title)") }
        if let e = o.result.error { Stderr.write("bpfstress: \(e)\n") }
        print("report: \(o.reportPath)")
        throw ExitCode(o.exitCode)
    }
}

/// The first name that appears twice in `names`.
func firstDuplicate(_ names: [String]) -> String? {
    var seen = Set<String>()
    return names.first { !seen.insert($0).inserted }
}

/// Yama ptrace_scope 0 lets a non-root parent trace its own children.
func ptraceAllowedForNonRoot() -> Bool {
    let s = (try? String(contentsOfFile: "/proc/sys/kernel/yama/ptrace_scope", encoding: .utf8)) ?? "0"
    return s.trimmingCharacters(in: .whitespacesAndNewlines) == "0"
}

struct BenchCapture: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "All-thread capture (user+kernel stacks) of a process with N blocked threads vs eu-stack -p.")
    @Option(help: "Blocked threads in the target.") var threads: Int = 64
    @Option(help: "Captures per tool.") var iterations: Int = 20

    func run() throws {
        _ = Bounds.count(threads, "--threads", 1...Bounds.maxCount)
        _ = Bounds.count(iterations, "--iterations", 1...10_000)
        guard Probes.isRoot() || ptraceAllowedForNonRoot() else { die("needs ptrace permission", ExitCodes.environment) }
        let r = try CaptureBench.run(threads: threads, iterations: iterations)
        print(String(format: "threads %d, %d captures each", threads, iterations))
        print(String(format: "bpfstress capture: %8.1f ms", r.ours * 1000))
        if r.euStack < 0 {
            print("eu-stack -p:       not installed (apt-get install elfutils)")
        } else {
            print(String(format: "eu-stack -p:       %8.1f ms", r.euStack * 1000))
            print(String(format: "ratio (bpfstress / eu-stack): %.2f  (goal <= 2.0)", r.ours / r.euStack))
        }
    }
}
