import ArgumentParser
import BPFKit
import CampaignFile
import Foundation
import Fuzz
import Glibc
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
    @Option(help: "Corpus directory: seeds are read from it and new programs written into it.") var corpus: String = "corpora/maps"
    @Option(help: "Seed (printed; random when omitted).") var seed: UInt64?
    @Option(name: .customLong("report-dir"), help: "Where run directories go.") var reportDir: String = "reports"
    @Option(help: "Replay one program file deterministically and check it.") var replay: String?
    @Option(help: "Delta-debug a program file to the shortest one with the same finding signature.") var minimize: String?
    @Flag(help: "No status line.") var quiet = false

    func run() throws {
        guard Probes.isRoot() else { die("needs root (CAP_BPF) to create maps", ExitCodes.environment) }
        if let path = replay { throw ExitCode(replayFile(path)) }
        if let path = minimize { throw ExitCode(minimizeFile(path)) }
        guard let secs = CampaignParser.parseDuration(duration), secs > 0 else { die("bad --duration '\(duration)'", ExitCodes.usage) }
        guard workers >= 0, workers <= 64 else { die("--workers must be 0...64", ExitCodes.usage) }
        guard threads >= 1, threads <= 16 else { die("--threads must be 1...16", ExitCodes.usage) }
        let runSeed = seed ?? UInt64.random(in: 1...UInt64.max)
        // Seeds must parse before anything runs: a bad seed file is a usage error naming file:line.
        let corpusDir = URL(fileURLWithPath: corpus).standardizedFileURL.path
        try? FileManager.default.createDirectory(atPath: corpusDir, withIntermediateDirectories: true)
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
        let rep = f.execute(p, all: true)
        for (i, c) in p.calls.enumerated() where i < rep.results.count {
            let r = rep.results[i]
            let e = c.op == .walk ? r.walkEnd : r.errno
            var line = String(format: "%3d  %@  -> %@", i + 1, c.description, e == 0 ? "ok" : ShadowModelNames.errno(e))
            if c.op == .walk { line += " (\(r.walk.count) keys)" }
            if [.lookupBatch, .lookupAndDeleteBatch, .updateBatch, .deleteBatch].contains(c.op) { line += " count=\(r.count)" }
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

    // MARK: one process

    func inProcess(seconds: Double, seed: UInt64, corpusDir: String) -> Int32 {
        pinCurrentThread(cpu: 0)
        let corpus = Corpus(directory: corpusDir)
        let f = Fuzzer(runtime: KernelRuntime(), seed: seed, corpus: corpus)
        _ = try? corpus.load()
        for p in corpus.programs { corpus.learn(f.execute(p).signatures) }
        let start = Date()
        var findings: [(Program, [OracleFinding])] = []
        var bySig: [String: Int] = [:]
        let runDir = reportDir + "/fuzz-" + String(Int(start.timeIntervalSince1970))
        while Date().timeIntervalSince(start) < seconds {
            let (p, rep) = f.step()
            if !rep.findings.isEmpty {
                let sig = rep.findings[0].signature
                bySig[sig, default: 0] += 1
                if bySig[sig] == 1 {
                    findings.append((p, rep.findings))
                    let path = (try? Reproducer.write(p, findings: rep.findings, seed: seed, dir: runDir)) ?? "?"
                    print("FINDING [\(sig)] \(rep.findings[0].message)\n  reproducer: \(path)")
                }
            }
        }
        let el = Date().timeIntervalSince(start)
        print(String(format: "fuzz: seed %llu, %d execs (%.0f execs/s), %d calls (%.0f calls/s), %d distinct signatures, corpus +%d, %d finding signature(s)",
                     seed, f.executions, Double(f.executions) / el, f.totalCalls, Double(f.totalCalls) / el,
                     corpus.signatures.count, corpus.added, bySig.count))
        print("coverage: behavioural (call, map type, errno, outcome) signatures; /sys/kernel/debug/kcov is absent")
        return findings.isEmpty ? ExitCodes.clean : ExitCodes.findings
    }

    // MARK: worker fleet

    func fleet(seconds: Double, seed: UInt64, corpusDir: String) -> Int32 {
        die("multi-process fuzzing is not wired yet", 4)
    }
}

enum ShadowModelNames {
    static func errno(_ e: Int32) -> String { e == 524 ? "ENOTSUPP" : ErrnoName.name(e) }
}
