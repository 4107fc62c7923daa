// The fuzz loop (execute, step, corpus replay), signatures, the corpus, reproducer files and the minimizer.
import BPFKit
import CBPFStress
import Foundation
import Glibc

/// What running one program did.
public struct ExecReport {
    public var findings: [OracleFinding] = []
    /// Behavioural coverage: one (call, map type, errno, outcome) key per call.
    public var signatureKeys: Set<SignatureKey> = []
    public var signatures: Set<String> { Set(signatureKeys.map(\.description)) }
    public var calls = 0
    /// Every call's result (kept when `execute(_:all:)` runs with all: true).
    public var results: [CallResult] = []
}

/// A call's behavioural signature, cheap to hash on the hot path; rendered as text only for
/// the corpus and reports, e.g. `update/hash/EEXIST/fl1`.
public struct SignatureKey: Hashable, Sendable, CustomStringConvertible {
    let op: CallOp
    let type: UInt32
    let errno: Int32
    /// Outcome class: batch count class, walk empty/keys, create with flags, update flags; plus fd mode.
    let outcome: Int32
    let fd: FDMode

    // CallOp and FDMode have String raw values, and the default Hashable of a raw-value
    // enum hashes the string: two String hashes per call. These pack the fields instead.
    @inline(__always) var wordA: UInt64 { UInt64(type) << 32 | UInt64(UInt32(bitPattern: errno)) }
    @inline(__always) var wordB: UInt64 {
        UInt64(UInt32(bitPattern: outcome)) << 32 | UInt64(op.ordinal) << 8 | UInt64(fd.ordinal)
    }

    @inline(__always)
    public static func == (a: SignatureKey, b: SignatureKey) -> Bool { a.wordA == b.wordA && a.wordB == b.wordB }

    public func hash(into h: inout Hasher) { h.combine(wordA); h.combine(wordB) }

    public var description: String {
        let btf = UInt8(truncatingIfNeeded: type >> 16)
        let t = type == UInt32.max ? "none" : ProgramText.typeName(BPFMapType(rawValue: type & 0xFFFF)) + (btf == 0 ? "" : "+" + BTFValue(fields: btf).text)
        var o = ""
        switch op {
        case .lookupBatch, .lookupAndDeleteBatch, .updateBatch, .deleteBatch: o = ["n0", "nall", "nsome"][Int(outcome)]
        case .walk: o = outcome == 0 ? "empty" : "keys"
        case .create: o = "f\(outcome != 0)"
        case .update: o = "fl\(outcome)"
        case .pin, .unpin, .objGet, .fdByID, .nextID, .info, .race, .ringMmap: o = "o\(outcome)"
        case .open: o = PoolKind.at(UInt64(outcome)).map(\.rawValue) ?? "o\(outcome)"
        default: break
        }
        if fd != .map { o += "/fd-\(fd.rawValue)" }
        return "\(op.rawValue)/\(t)/\(ShadowModel.en(errno))/\(o)"
    }
}

/// Pins the calling thread to one CPU (bpfs_pin_thread: sched_setaffinity on tid 0). The LRU
/// model needs it: with the thread on one CPU, an LRU map only evicts when it is full.
@discardableResult
public func pinCurrentThread(cpu: Int) -> Bool { bpfs_pin_thread(Int32(cpu)) == 0 }

/// The single-process fuzzer: runs programs on fresh maps through the executor and checks
/// each call against the shadow model.
public final class Fuzzer {
    public let executor: Executor
    public let model: ShadowModel
    public var generator: Generator
    public let corpus: Corpus
    /// Called around every call with its op and map slot (the scenario wraps the call in the
    /// flight recorder).
    public var around: ((CallOp, Int, () -> CallResult) -> CallResult)?
    /// Called with each program before it runs (the scenario keeps it as "in flight").
    public var willExecute: ((Program) -> Void)?
    public private(set) var executions = 0
    /// (wordA, wordB, execution number) of 64 signature slots; see execute.
    private var sigFilter = [UInt64](repeating: 0, count: 64 * 3)
    private var filterGeneration: UInt64 = 0
    /// Results of the element ops that execute has run and not yet checked (see execute).
    private var pendingResults = [CallResult](repeating: CallResult(), count: 32)
    public private(set) var totalCalls = 0
    /// Kernel facts whose probe could not run (the model keeps the 6.18 value for them).
    public let unprobedFacts: [String]
    /// Fault injection as probed at start (inside a bpfstress guest the probe also sets the
    /// injectors' knobs): `ready` means programs arm calls with fail_nth.
    public let faultInjection: FaultInjection.Probe
    /// The fuzz loop's map-in-map sweeps, checked later instead of waited for (MapInMapBatch.swift).
    var deferSweeps = false
    var pendingSweeps: [PendingSweep] = []
    var lastSweepPoll: UInt64 = 0
    /// Why devmap updates are not made (no private netns), nil when they are (FuzzNetns.swift).
    public internal(set) var netnsSkip: String? = nil
    /// cpumap kthreads of closed maps not yet seen gone (CpumapThreads.swift).
    var cpumapSweeps = CpumapSweeps()

    public init(runtime: any Runtime, seed: UInt64, corpus: Corpus = Corpus(directory: nil)) {
        executor = Executor(runtime: runtime)
        let probed = KernelFacts.probe(runtime: runtime)
        unprobedFacts = probed.unprobed
        model = ShadowModel(cpus: executor.cpus, facts: probed.facts)
        generator = Generator(seed: seed)
        generator.avoidPercpuPadding = probed.facts.percpuBTFPaddingStale
        faultInjection = FaultInjection.probe()
        model.failNthAvailable = faultInjection.failNth
        generator.faultInjection = faultInjection.ready
        self.corpus = corpus
    }

    /// Signature of one call: op, map type, errno, and an outcome class.
    @inline(__always)
    static func signature(_ c: Call, _ r: CallResult, _ shape: MapShape?) -> SignatureKey {
        // A BTF value's fields (BTFValue bits) count as a type of their own: other kernel paths.
        var t = shape.map { $0.type.rawValue | UInt32($0.btf) << 16 } ?? (c.op == .create ? c.type.rawValue | UInt32(c.btf) << 16 : UInt32.max)
        if c.op == .open || c.op == .drop { t = UInt32.max }  // no map: the pool's calls
        var outcome: Int32 = 0
        switch c.op {
        case .lookupBatch, .lookupAndDeleteBatch, .updateBatch, .deleteBatch:
            outcome = r.count == 0 ? 0 : r.count == c.count ? 1 : 2
        case .walk: outcome = r.walkIsEmpty ? 0 : 1
        case .create: outcome = c.mapFlags != 0 ? 1 : 0
        case .update: outcome = Int32(truncatingIfNeeded: min(c.flags, 0xFFFF))
        case .pin, .unpin, .objGet, .fdByID, .nextID, .info: outcome = IdentityOps.outcome(c)
        case .race: outcome = RaceOps.outcome(c, r)
        case .ringMmap: outcome = RingMmap.outcome(c, shape)
        case .open: outcome = Int32(truncatingIfNeeded: c.flags)
        default: break
        }
        // alive's answer can depend on when a deferred free ran: kept out of the signature, so
        // that coverage (and with it the fuzz loop) stays the same for the same seed.
        let errno = c.op == .walk ? r.walkEnd : c.op == .alive ? 0 : r.errno
        return SignatureKey(op: c.op, type: t, errno: errno, outcome: outcome, fd: c.fd)
    }

    /// Runs `p` from a clean slate; stops at the first call with a finding (the rest would
    /// only repeat it) unless `all`.
    public func execute(_ p0: Program, all: Bool = false) -> ExecReport {
        // Corpus programs too: no pidfd object where the generator makes none (Generator.pidfds).
        let p = generator.pidfds ? p0 : Self.withoutPidfds(p0)
        willExecute?(p)
        executor.reset()
        model.reset()
        var rep = ExecReport()
        let executor = self.executor, model = self.model, around = self.around
        // Signatures already inserted by this execution, direct-mapped by a hash of the key
        // and tagged with the execution number (nothing to clear): a program repeats a few
        // signatures many times, and a set insert hashes and probes on every call.
        filterGeneration &+= 1
        let gen = filterGeneration
        // Without a planted fault (it takes the whole Call), element ops go straight to
        // runElem / checkElem.
        let direct = model.plantedFault == nil
        p.calls.withUnsafeBufferPointer { calls in
            sigFilter.withUnsafeMutableBufferPointer { filter in
            pendingResults.withUnsafeMutableBufferPointer { pending in
            @inline(__always) func record(_ sig: SignatureKey) {
                let slot = Int(truncatingIfNeeded: (sig.wordA &* 0x9E37_79B9_7F4A_7C15 ^ sig.wordB &* 0xD6E8_FEB8_6659_FD93) >> 58) * 3
                if filter[slot] != sig.wordA || filter[slot + 1] != sig.wordB || filter[slot + 2] != gen {
                    rep.signatureKeys.insert(sig)
                    filter[slot] = sig.wordA; filter[slot + 1] = sig.wordB; filter[slot + 2] = gen
                }
            }
            // One Check for every element op (each call overwrites it): a fresh finding list
            // per call was built and destroyed every time.
            var ck = ShadowModel.Check(index: 0, op: .lookup)
            // Element ops run but not yet checked: calls[first ..< first + ran], their results
            // in pending[0 ..< ran].
            var first = 0, ran = 0
            /// Checks the pending element ops in order; true when one had a finding and the
            /// program stops there.
            func checkPending() -> Bool {
                defer { ran = 0 }
                // Each result is swapped out of its slot (runElem overwrites every field of a
                // slot): passing pending[j] itself made a copy (retain, release) per call.
                var r = CallResult()
                for j in 0..<ran {
                    swap(&r, &pending[j])
                    let i = first + j
                    let c = ElemCall(calls.baseAddress! + i)
                    let shape = executor.shape(ofSlot: c.map)
                    record(SignatureKey(op: c.op, type: shape.map { $0.type.rawValue | UInt32($0.btf) << 16 } ?? UInt32.max, errno: r.errno,
                                        outcome: c.op == .update ? Int32(truncatingIfNeeded: min(c.flags, 0xFFFF)) : 0, fd: c.fd))
                    if all { rep.results.append(r) }
                    rep.calls += 1
                    model.checkElem(i, c, r, into: &ck)
                    if !ck.findings.isEmpty {
                        rep.findings += ck.findings
                        ck.findings = []
                        if !all { return true }
                    }
                }
                return false
            }
            var stopped = false
            for i in calls.indices {
                if direct && ElemCall.isElem(calls[i].op) && (i == 0 || calls[i - 1].op != .failNth) {
                    // Element ops (nearly every call): their arguments read in place, no copy of
                    // the whole Call. A run of them executes first and is checked after it
                    // (checkPending), so that the model's work is not interleaved with the
                    // kernel's: an element op's check reads only its call, its result and the
                    // model, never the kernel, so the verdicts are the same. A finding still
                    // stops the program; the element ops of its run after it have executed.
                    let c = ElemCall(calls.baseAddress! + i)
                    if i + 1 < calls.count { bpfs_prefetch2(calls.baseAddress! + i + 1) }
                    if ran == 0 { first = i }
                    if let around { pending[ran] = around(c.op, c.map) { executor.runElem(c) } } else { executor.runElem(c, into: &pending[ran]) }
                    ran += 1
                    if ran == pending.count && checkPending() { stopped = true; break }
                    continue
                }
                if ran > 0 && checkPending() { stopped = true; break }
                // One copy of the call per iteration (each calls[i] use would copy it again).
                let c = calls[i]
                let r = around.map { $0(c.op, c.map) { executor.run(c) } } ?? executor.run(c)
                let shape = executor.shape(ofSlot: c.map)
                record(Self.signature(c, r, shape))
                if all { rep.results.append(r) }
                rep.calls += 1
                let f = model.check(i, c, r, shape: shape)
                if !f.isEmpty {
                    rep.findings += f
                    if !all { stopped = true; break }
                }
            }
            if !stopped && ran > 0 { _ = checkPending() }
            }
            }
        }
        let threads = cpumapThreadsBeforeReset(&rep)
        executor.reset()
        sweepMapInMap(&rep, p)
        sweepCpumaps(&rep, p, threads)
        executions += 1
        totalCalls += rep.calls
        return rep
    }

    /// `k`, or `file` for a pidfd kind when `pidfds` is false (Generator.pidfds).
    static func soleThreadKind(_ k: PoolKind, _ pidfds: Bool) -> PoolKind {
        !pidfds && (k == .pidfdChild || k == .pidfdSelf) ? .file : k
    }

    /// `p` with every pidfd `open` made a `file` one (Generator.pidfds).
    static func withoutPidfds(_ p: Program) -> Program {
        let kinds: Set<UInt64> = [UInt64(PoolKind.pidfdChild.ordinal), UInt64(PoolKind.pidfdSelf.ordinal)]
        guard p.calls.contains(where: { $0.op == .open && kinds.contains($0.flags) }) else { return p }
        var q = p
        for i in q.calls.indices where q.calls[i].op == .open && kinds.contains(q.calls[i].flags) {
            q.calls[i].flags = UInt64(PoolKind.file.ordinal)
        }
        return q
    }

    /// Runs the corpus programs loaded so far (at most `limit`, while `keepGoing`) once each and
    /// learns their signatures. Returns those with findings, with the file each came from: a
    /// seed that disagrees with the model (a regress-*.prog above all) is a finding like any
    /// other, never only a coverage input.
    public func replayCorpus(limit: Int = Int.max, while keepGoing: () -> Bool = { true }) -> [(program: Program, source: String, report: ExecReport)] {
        var failed: [(program: Program, source: String, report: ExecReport)] = []
        deferSweeps = true
        defer { deferSweeps = false }
        for (i, p) in corpus.programs.prefix(limit).enumerated() where keepGoing() {
            let rep = execute(p)
            corpus.learn(rep)
            if !rep.findings.isEmpty { failed.append((p, corpus.source(i), rep)) }
        }
        return failed
    }

    /// One fuzzing step: a fresh program or a mutant of a corpus program; kept when it
    /// reaches a new signature. Returns the program and its report.
    public func step() -> (Program, ExecReport) {
        if let late = checkPendingSweeps() ?? checkCpumapSweeps() { return late }
        deferSweeps = true
        defer { deferSweeps = false }
        let p: Program
        if corpus.programs.isEmpty || generator.chance(0.25) {
            p = generator.program()
        } else {
            var base = generator.pick(corpus.programs)
            // Map-in-map programs wait for a grace period on every outer update or delete:
            // picked at a quarter of the rate of the others.
            if base.calls.contains(where: { $0.inner != -1 }), generator.chance(0.75) { base = generator.pick(corpus.programs) }
            p = generator.mutate(base, other: generator.pick(corpus.programs))
        }
        let rep = execute(p)
        if rep.findings.isEmpty && !rep.signatureKeys.isSubset(of: corpus.keys) {
            corpus.keys.formUnion(rep.signatureKeys)
            corpus.consider(p, rep.signatures)
        }
        return (p, rep)
    }
}

/// Programs kept for behavioural coverage (a new (call, type, errno, outcome) signature).
/// KCOV (/sys/kernel/debug/kcov) does not exist on this kernel, so this is the measure used.
public final class Corpus {
    public let directory: String?
    public private(set) var programs: [Program] = []
    /// File names of the programs that load() read (programs[i] for i < loadedNames.count).
    public private(set) var loadedNames: [String] = []
    public private(set) var signatures: Set<String> = []
    /// The same signatures as keys (the hot path compares these).
    public var keys: Set<SignatureKey> = []
    /// Programs added since load (written to `directory`).
    public private(set) var added = 0

    public init(directory: String?) { self.directory = directory }

    /// Loads every *.prog under `directory`; a file that does not parse is an error naming file:line.
    public func load() throws -> [String] {
        guard let d = directory, let names = try? FileManager.default.contentsOfDirectory(atPath: d) else { return [] }
        var loaded: [String] = []
        for n in names.sorted() where n.hasSuffix(".prog") {
            programs.append(try ProgramText.load(path: d + "/" + n))
            loaded.append(n)
        }
        loadedNames += loaded
        return loaded
    }

    /// Where programs[i] came from: its file in `directory`, or "generated".
    public func source(_ i: Int) -> String {
        i < loadedNames.count ? (directory.map { $0 + "/" } ?? "") + loadedNames[i] : "generated"
    }

    /// Seeds the signature set from an execution of a loaded program.
    public func learn(_ sigs: Set<String>) { signatures.formUnion(sigs) }
    public func learn(_ rep: ExecReport) { keys.formUnion(rep.signatureKeys); signatures.formUnion(rep.signatures) }

    /// Keeps `p` when it reached something new; returns true when kept.
    @discardableResult
    public func consider(_ p: Program, _ sigs: Set<String>) -> Bool {
        let new = sigs.subtracting(signatures)
        guard !new.isEmpty else { return false }
        signatures.formUnion(new)
        programs.append(p)
        added += 1
        if let d = directory {
            let text = "# new: " + new.sorted().joined(separator: " ") + "\n" + p.text
            // Named after the first new signature, created with O_EXCL: workers sharing the
            // directory keep one program per signature, not one per worker.
            let path = d + "/auto-" + Corpus.hash(new.sorted()[0]) + ".prog"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 {
                _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
                Glibc.close(fd)
            }
        }
        return true
    }

    public static func hash(_ s: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(format: "%016llx", h)
    }
}

/// Reproducer files: the program with the findings as comments; replays as is.
public enum Reproducer {
    /// Writes `dir/repro-<hash>.prog` (and, given the C source, `dir/repro-<hash>.c` beside it)
    /// and returns the .prog path.
    public static func write(_ p: Program, findings: [OracleFinding], seed: UInt64?, dir: String, cSource: String? = nil) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var text = "# bpfstress fuzz reproducer" + (seed.map { " (seed \($0))" } ?? "") + "\n"
        text += "# replay: bpfstress fuzz --replay FILE; shrink: bpfstress fuzz --minimize FILE\n"
        for f in findings { text += "# finding: \(f)\n" }
        text += p.text
        let base = dir + "/repro-" + Corpus.hash(p.text)
        if let c = cSource { try c.write(toFile: base + ".c", atomically: true, encoding: .utf8) }
        try text.write(toFile: base + ".prog", atomically: true, encoding: .utf8)
        return base + ".prog"
    }
}

/// Delta debugging (ddmin) over the calls of a program: the shortest program whose
/// findings still include `signature`.
public enum Minimizer {
    public static func minimize(_ p: Program, signature: String, maxRuns: Int = 2000,
                                run: (Program) -> [OracleFinding]) -> Program {
        var calls = p.calls
        var runs = 0
        func holds(_ cs: [Call]) -> Bool {
            runs += 1
            return run(Program(cs)).contains { $0.signature == signature }
        }
        var n = 2
        while calls.count >= 2 && runs < maxRuns {
            let chunk = Int((Double(calls.count) / Double(n)).rounded(.up))
            var reduced = false
            var start = 0
            while start < calls.count && runs < maxRuns {
                let end = min(calls.count, start + chunk)
                let complement = Array(calls[..<start] + calls[end...])
                if !complement.isEmpty && holds(complement) {
                    calls = complement
                    n = max(n - 1, 2)
                    reduced = true
                    break
                }
                start = end
            }
            if !reduced {
                if n >= calls.count { break }
                n = min(calls.count, n * 2)
            }
        }
        // Last pass: drop single calls one at a time.
        var i = 0
        while i < calls.count && calls.count > 1 && runs < maxRuns {
            var c = calls
            c.remove(at: i)
            if holds(c) { calls = c } else { i += 1 }
        }
        return Program(calls)
    }
}
