import ArgumentParser
import Basics
import BPFKit
import CampaignFile
import Foundation
import Fuzz
import Glibc
import Reports
import Scenarios
import StressCore

/// `bpfstress fuzz`: typed map-API fuzzing with a shadow-model oracle.
struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Fuzz the map APIs: typed programs, shadow-model oracle, corpus, replay and minimize.",
        discussion: """
        Programs are map calls, one per line (see corpora/maps). Every finding writes a reproducer
        (repro-*.prog) into the run's report directory. Exit: 0 no findings, 1 findings, 2 usage, 3 environment.
        """)

    @Option(help: "Run time, e.g. 60s, 2m.") var duration: String = "30s"
    @Option(help: "Worker processes (0: fuzz in this process, one thread).") var workers: Int = 2
    @Option(help: "Threads per worker.") var threads: Int = 1
    @Option(help: "Working corpus: programs are read from it and new ones written into it. Seeded from --seeds when it holds no program yet.")
    var corpus: String = "reports/fuzz-corpus"
    @Option(help: "Hand-written seed programs (tracked in git; never written to).") var seeds: String = "corpora/maps"
    @Option(parsing: .unconditional, help: "Seed, 0...2^64-1 or 0x-hex (printed; random when omitted).") var seed: String?
    @Option(name: .customLong("report-dir"), help: "Where run directories go.") var reportDir: String = "reports"
    @Option(help: "Replay one program file deterministically and check it.") var replay: String?
    @Option(help: "Delta-debug a program file to the shortest one with the same finding signature.") var minimize: String?
    @Option(name: .customLong("emit-c"), help: "Write a standalone C reproducer of a program file (FILE.prog -> FILE.c): the same bpf() calls, attrs and guard-paged buffers; it exits 1 when the finding reproduces.")
    var emitC: String?
    @Flag(help: "No status line.") var quiet = false

    func run() throws {
        // Arguments first: a bad flag is exit 2 on any machine, root or not.
        let secs = Bounds.duration(duration, "--duration")
        _ = Bounds.count(workers, "--workers", 0...64)
        _ = Bounds.count(threads, "--threads", 1...16)
        let runSeed = Bounds.seed(seed) ?? UInt64.random(in: 1...UInt64.max)
        // A C reproducer is written from the program alone: no root, no report directory.
        if let path = emitC { throw ExitCode(emitCFile(path)) }
        if replay == nil && minimize == nil, let why = ReportRoot.problem(reportDir) { die("--report-dir \(why)", ExitCodes.usage) }
        guard Probes.isRoot() else { die("needs root (CAP_BPF) to create maps", ExitCodes.environment) }
        if let path = replay { throw ExitCode(replayFile(path)) }
        if let path = minimize { throw ExitCode(minimizeFile(path)) }
        // Seeds must parse before anything runs: a bad seed file is a usage error naming file:line.
        let corpusDir = URL(fileURLWithPath: corpus).standardizedFileURL.path
        try? FileManager.default.createDirectory(atPath: corpusDir, withIntermediateDirectories: true)
        seedCorpus(corpusDir)
        do { _ = try Corpus(directory: corpusDir).load() } catch { die("\(error)", ExitCodes.usage) }
        if workers == 0 { throw ExitCode(inProcess(seconds: secs, seed: runSeed, corpusDir: corpusDir)) }
        throw ExitCode(fleet(seconds: secs, seed: runSeed, corpusDir: corpusDir))
    }

    // MARK: replay / minimize

    func loadProgram(_ path: String) -> Program {
        do { return try ProgramText.load(path: path) } catch { die("\(error)", ExitCodes.usage) }
    }

    func replayFile(_ path: String) -> Int32 {
        let p = loadProgram(path)
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 0)
        f.enterPrivateNetns()
        let rep = f.execute(p, all: true)
        /// Key sizes by map slot, so the replay can list the keys the kernel returned.
        var keySize: [Int: Int] = [:]
        func hexKeys(_ bytes: [UInt8], _ size: Int, _ n: Int) -> String {
            guard size > 0 else { return "" }
            let shown = min(n, bytes.count / size, 16)
            let keys = (0..<shown).map { i in bytes[(i * size)..<((i + 1) * size)].map { String(format: "%02x", $0) }.joined() }
            return keys.joined(separator: ",") + (n > shown ? ",..." : "")
        }
        for (i, c) in p.calls.enumerated() where i < rep.results.count {
            let r = rep.results[i]
            if c.op == .create { keySize[c.map] = Int(c.keySize) }
            let e = c.op == .walk ? r.walkEnd : r.errno
            var line = String(format: "%3d  %@  -> %@", i + 1, c.description, e == 0 ? "ok" : ErrnoName.name(e))
            let ks = keySize[c.map] ?? 0
            if c.op == .walk {
                line += " (\(r.walk.count) keys)"
                if !r.walk.isEmpty { line += " keys=" + hexKeys(r.walk.flatMap(\.key), ks, r.walk.count) }
            }
            if [.lookupBatch, .lookupAndDeleteBatch, .updateBatch, .deleteBatch].contains(c.op) { line += " count=\(r.count)" }
            if [.lookupBatch, .lookupAndDeleteBatch].contains(c.op), r.count > 0 {
                line += " keys=" + hexKeys(r.keysOut, ks, Int(r.count))
                if !r.token.isEmpty { line += " out_batch=" + r.token.map { String(format: "%02x", $0) }.joined() }
            }
            print(line)
            for x in rep.findings where x.call == i { print("     FINDING [\(x.kind)] \(x.message)") }
        }
        print("\(rep.findings.count) finding(s), \(rep.calls) call(s)")
        return rep.findings.isEmpty ? ExitCodes.clean : ExitCodes.findings
    }

    func minimizeFile(_ path: String) -> Int32 {
        let p = loadProgram(path)
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 0)
        f.enterPrivateNetns()
        guard let first = f.execute(p).findings.first else {
            print("no finding: nothing to minimize (\(p.calls.count) calls)")
            return ExitCodes.clean
        }
        let m = Minimizer.minimize(p, signature: first.signature) { f.execute($0).findings }
        let out = path.hasSuffix(".prog") ? String(path.dropLast(5)) + ".min.prog" : path + ".min.prog"
        let text = "# minimized from \(path): \(p.calls.count) -> \(m.calls.count) calls, signature \(first.signature)\n" + m.text
        do { try text.write(toFile: out, atomically: true, encoding: .utf8) } catch { die("writing \(out): \(error)", 4) }
        print("signature \(first.signature): \(p.calls.count) -> \(m.calls.count) calls")
        print(m.text, terminator: "")
        print("written: \(out)")
        return ExitCodes.findings
    }

    /// --emit-c: replays the program once (as --replay does) and writes FILE.c with its first
    /// finding's answer as the one to reproduce.
    func emitCFile(_ path: String) -> Int32 {
        let p = loadProgram(path)
        pinCurrentThread(cpu: 0)
        let f = Fuzzer(runtime: KernelRuntime(), seed: 0)
        f.enterPrivateNetns()
        let rep = f.execute(p, all: true)
        let c = CReproducer.source(p, results: rep.results, finding: rep.findings.first, cpus: f.model.cpus, title: path)
        let out = (path.hasSuffix(".prog") ? String(path.dropLast(5)) : path) + ".c"
        do { try c.write(toFile: out, atomically: true, encoding: .utf8) } catch { die("writing \(out): \(error)", 4) }
        print(rep.findings.first.map { "finding: \($0)" } ?? "no finding now: the C program will report not reproduced")
        print("written: \(out) (gcc -o repro \(out) && ./repro; exit 1 = reproduced)")
        return ExitCodes.clean
    }

    /// "signatures per map type: hash 512, array 201, ..." (the type is a signature's second field).
    static func perType(_ sigs: Set<String>) -> String {
        var n: [String: Int] = [:]
        for s in sigs { n[s.split(separator: "/").dropFirst().first.map(String.init) ?? "?", default: 0] += 1 }
        return "signatures per map type: " + n.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    // MARK: one process

    /// A working corpus with no program yet starts as a copy of the seed programs, so the
    /// tracked seeds never fill up with generated ones.
    func seedCorpus(_ corpusDir: String) {
        let fm = FileManager.default
        let seedDir = URL(fileURLWithPath: seeds).standardizedFileURL.path
        let existing = ((try? fm.contentsOfDirectory(atPath: corpusDir)) ?? []).filter { $0.hasSuffix(".prog") }
        guard existing.isEmpty, seedDir != corpusDir else { return }
        guard let names = try? fm.contentsOfDirectory(atPath: seedDir) else {
            die("no seed directory \(seeds)", ExitCodes.usage)
        }
        for n in names where n.hasSuffix(".prog") {
            try? fm.copyItem(atPath: seedDir + "/" + n, toPath: corpusDir + "/" + n)
        }
    }

    func inProcess(seconds: Double, seed: UInt64, corpusDir: String) -> Int32 {
        pinCurrentThread(cpu: 0)
        let corpus = Corpus(directory: corpusDir)
        let f = Fuzzer(runtime: KernelRuntime(), seed: seed, corpus: corpus)
        f.enterPrivateNetns()
        _ = try? corpus.load()
        let start = Date()
        var findings: [(Program, [OracleFinding])] = []
        var bySig: [String: Int] = [:]
        let runDir = reportDir + "/fuzz-" + String(Int(start.timeIntervalSince1970))
        func found(_ p: Program, _ rep: ExecReport, from: String?) {
            let sig = rep.findings[0].signature
            bySig[sig, default: 0] += 1
            guard bySig[sig] == 1 else { return }
            findings.append((p, rep.findings))
            let c = CReproducer.source(p, fuzzer: f, title: "fuzz seed \(seed)")
            let path = (try? Reproducer.write(p, findings: rep.findings, seed: seed, dir: runDir, cSource: c)) ?? "?"
            print("FINDING [\(sig)] \(rep.findings[0].message)" + (from.map { " (corpus program \($0))" } ?? "") + "\n  reproducer: \(path)")
        }
        for (p, source, rep) in f.replayCorpus() { found(p, rep, from: source) }
        while Date().timeIntervalSince(start) < seconds {
            let (p, rep) = f.step()
            if !rep.findings.isEmpty { found(p, rep, from: nil) }
        }
        let el = Date().timeIntervalSince(start)
        print(String(format: "fuzz: seed %llu, %d execs (%.0f execs/s), %d calls (%.0f calls/s), %d distinct signatures, corpus +%d, %d finding signature(s)",
                     seed, f.executions, Double(f.executions) / el, f.totalCalls, Double(f.totalCalls) / el,
                     corpus.signatures.count, corpus.added, bySig.count))
        print("coverage: behavioural (call, map type, errno, outcome) signatures; /sys/kernel/debug/kcov is absent")
        print(Self.perType(corpus.signatures))
        print(Self.faultLine(f.faultInjection, f.model.faultStats))
        for why in [f.netnsSkip, f.cpumapSkip].compactMap({ $0 }) { print("skipped: \(why)") }
        print("kernel facts (probed): \(f.model.facts.summary)" + (f.unprobedFacts.isEmpty ? "" : "; not probed: " + f.unprobedFacts.joined(separator: ", ")))
        return findings.isEmpty ? ExitCodes.clean : ExitCodes.findings
    }

    /// The fault-injection line: what the armed calls did, or why none ran.
    static func faultLine(_ p: FaultInjection.Probe, _ s: FaultNth.Stats) -> String {
        if s.armed > 0 {
            return "fault injection: \(s.armed) call(s) armed by fail_nth, \(s.injected) reached their fault site, \(s.failed) of those failed with ENOMEM" +
                (p.changed.isEmpty ? "" : " (set " + p.changed.joined(separator: ", ") + ")")
        }
        return "fault injection: skipped: " + (p.skipReason ?? "no call was armed by fail_nth")
    }

    // MARK: worker fleet

    /// Runs the `map-fuzz` scenario in a worker fleet under the coordinator (watchdog, crash
    /// capture, flight recorder, findings, JUnit), then sums up the workers' fuzz stats.
    func fleet(seconds: Double, seed: UInt64, corpusDir: String) -> Int32 {
        let registry = Scenarios.registry
        let before = (try? FileManager.default.contentsOfDirectory(atPath: corpusDir).filter { $0.hasSuffix(".prog") }.count) ?? 0
        let stateDir = NSTemporaryDirectory() + "bpfstress-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: stateDir) }
        let entry = ScenarioEntry(name: MapFuzz.descriptor.name, weight: 1, workers: workers, threads: threads,
                                  params: ["corpus": .string(corpusDir), "state_dir": .string(stateDir)], deadlines: [:])
        let c = Campaign(name: "fuzz", seed: seed, duration: seconds, workers: workers, threads: threads, deadline: 10,
                         deadlines: [:], scenarios: [entry])
        let rt = KernelRuntime()
        let env = EnvironmentProbe.probe(runtime: rt)
        if let why = env.bpfLoadError { die("cannot use BPF here: \(why)", ExitCodes.environment) }
        let plan: RunPlan
        do { plan = try RunPlan.make(campaign: c, registry: registry, environment: env, runtime: rt, seed: seed) } catch {
            die("\(error)", ExitCodes.usage)
        }
        Stderr.write("bpfstress: fuzz, seed \(seed), \(workers) worker(s) x \(threads) thread(s), \(Int(seconds))s, corpus \(corpusDir) (\(before) programs)\n")
        var options = RunOptions()
        options.quiet = quiet
        installStopHandlers()
        let result: CampaignRunner.Result
        do {
            result = try CampaignRunner(plan: plan, options: options, environment: env, runtime: rt, reportRoot: reportDir).run()
        } catch let e as CampaignRunner.Failure { die("\(e)", e.exitCode) } catch {
            die("\(error)", (error as? StressError)?.exitCode ?? 4)
        }
        let outcome = result.outcome
        // Reproducers go next to the run's report.
        let path = result.directory
        let files = (try? FileManager.default.contentsOfDirectory(atPath: stateDir)) ?? []
        var execs = 0, calls = 0, torn = 0, censuses = 0, censusBusy = 0, overMax = 0, overMaxBy = 0
        var sigs = Set<String>()
        var facts: [String: String] = [:]
        var unprobed = Set<String>(), skipped = Set<String>()
        var faults = FaultNth.Stats()
        for f in files where f.hasPrefix("repro-") {
            try? FileManager.default.copyItem(atPath: stateDir + "/" + f, toPath: path + "/" + f)
        }
        for f in files where f.hasPrefix("fuzz-stats-") {
            guard let d = FileManager.default.contents(atPath: stateDir + "/" + f),
                  let j = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { continue }
            execs += j["executions"] as? Int ?? 0
            calls += j["calls"] as? Int ?? 0
            torn += j["torn_tolerated"] as? Int ?? 0
            censuses += j["censuses"] as? Int ?? 0
            censusBusy += j["census_lock_busy"] as? Int ?? 0
            overMax += j["census_over_max"] as? Int ?? 0
            overMaxBy = max(overMaxBy, j["census_over_max_by"] as? Int ?? 0)
            sigs.formUnion(j["signatures"] as? [String] ?? [])
            facts.merge(j["facts"] as? [String: String] ?? [:]) { a, b in a == b ? a : a + "|" + b }
            unprobed.formUnion(j["unprobed_facts"] as? [String] ?? [])
            faults.armed += j["fault_armed"] as? Int ?? 0
            faults.injected += j["fault_injected"] as? Int ?? 0
            faults.failed += j["fault_failed"] as? Int ?? 0
            skipped.formUnion(j["skipped"] as? [String] ?? [])
        }
        let after = (try? FileManager.default.contentsOfDirectory(atPath: corpusDir).filter { $0.hasSuffix(".prog") }.count) ?? 0
        let s = outcome.summary
        let el = max(0.001, seconds)
        print(String(format: "fuzz: seed %llu, %d execs (%.0f execs/s), %d calls (%.0f calls/s), %d distinct signatures, corpus %d -> %d (+%d), torn reads tolerated on prealloc maps: %d",
                     seed, execs, Double(execs) / el, calls, Double(calls) / el, sigs.count, before, after, after - before, torn))
        print("coverage: behavioural (call, map type, errno, outcome) signatures; /sys/kernel/debug/kcov is absent")
        print("shared maps: \(censuses) census(es) with every writer held off, \(censusBusy) skipped (lock busy)" +
              (overMax > 0 ? "; the NO_PREALLOC map was over max_entries in \(overMax) (by up to \(overMaxBy): racing inserts, within the kernel's bound)" : ""))
        print(Self.perType(sigs))
        print(Self.faultLine(FaultInjection.probe(setKnobs: false), faults))
        for why in skipped.sorted() { print("skipped: \(why)") }
        print("kernel facts (probed): " + (facts.isEmpty ? "none reported" : facts.keys.sorted().map { "\($0)=\(facts[$0]!)" }.joined(separator: " ")) +
              (unprobed.isEmpty ? "" : "; not probed: " + unprobed.sorted().joined(separator: ", ")))
        for b in s.buckets { print("FINDING [\(b.type.rawValue)] \(b.title) x\(b.count)") }
        print("report: \(path)")
        return s.exitCode
    }
}

/// `bpfstress bench fuzz`: fuzzer calls/s vs a raw C loop of the same bpf() calls.
struct BenchFuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Fuzzer calls/s (guarded buffers + shadow-model oracle) vs a bare C loop issuing the same bpf() calls.")
    // Nine rounds: single rounds on this VM vary by several percent; the median of nine is stable to about 0.01.
    @Option(help: "Rounds (each alternates chunks of the three sides).") var rounds: Int = 9
    @Option(help: "Fuzzer calls per round.") var calls: Int = 150_000

    func run() throws {
        _ = Bounds.count(rounds, "--rounds", 1...1000)
        _ = Bounds.count(calls, "--calls", 1...100_000_000)
        guard Probes.isRoot() else { die("needs root to create BPF maps", ExitCodes.environment) }
        let r = try FuzzBench.run(rounds: rounds, callsPerRound: calls)
        if let one = r.singleSide {
            print(String(format: "%@ only: %.0f calls/s", one.name, one.callsPerSecond))
            return
        }
        print("C loop = the same bpf() calls with the same arguments (buffers at the executor's guard-page slots);")
        print("C stack = the same calls with stack buffers (what guard-page placement costs).")
        print("round  fuzzer calls/s  C loop calls/s  fuzzer/C  C stack calls/s  fuzzer/C stack")
        for i in r.fuzzerCallsPerSecond.indices {
            let (f, c, s) = (r.fuzzerCallsPerSecond[i], r.baselineCallsPerSecond[i], r.stackBaselineCallsPerSecond[i])
            print(String(format: "%5d  %14.0f  %14.0f  %8.3f  %15.0f  %14.3f", i + 1, f, c, f / c, s, f / s))
        }
        print(String(format: "guard-page placement: C loop / C stack = %.3f", r.placementRatio))
        print(String(format: "median fuzzer / C stack: %.3f", r.stackRatio))
        print(String(format: "median of per-round ratios (fuzzer / C loop): %.3f  (goal >= 0.8)", r.ratio))
    }
}
