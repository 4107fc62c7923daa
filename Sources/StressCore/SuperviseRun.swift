import Capture
import Foundation
import Reports

/// `bpfstress supervise`: any command, with its whole process tree, under the watchdog.
/// Writes the same run directory layout as `run` (junit.xml with one testcase, summary.json,
/// stdout.txt, stderr.txt, findings/).
public enum SuperviseRun {
    public struct Outcome {
        public var result: SupervisionResult
        public var reportPath: String
        /// 0 passed, 1 finding or failing command, 2 could not start the command.
        public var exitCode: Int32
    }

    public static func run(command: [String], timeout: Double, idleTimeout: Double, name: String,
                           reportRoot: String) throws -> Outcome {
        let started = Date()
        let r = Supervisor.run(command: command, timeout: timeout, idleTimeout: idleTimeout, name: name)
        var findings: [Finding] = []
        if let f = r.finding { findings.append(f) }
        var exitCode: Int32 = 0
        var outcome = TestOutcome.passed
        if let f = r.finding {
            outcome = .failed(type: f.type.rawValue, message: f.title, text: f.title + "\n\n" + f.dump)
            exitCode = 1
        } else if let e = r.error {
            outcome = .errored(type: "spawn", message: e, text: e)
            exitCode = 2
        } else if let sig = r.signal {
            // Killed by a signal that is no crash (SIGKILL: often the OOM killer; SIGTERM; SIGPIPE):
            // the command did not pass.
            let oom = sig == SIGKILL && r.pid > 0 ? KernelOOM.killLine(pid: r.pid) : nil
            let title = "\(name) killed by \(FindingTitles.signalName(sig))" + (oom != nil ? " (out of memory)" : "")
            let tail = r.stderr.split(separator: "\n").suffix(40).joined(separator: "\n")
            let dump = title + (oom.map { "\nkernel: " + $0 } ?? "") + "\n\nstderr (tail):\n" + tail
            outcome = .failed(type: "failure", message: title, text: dump)
            findings.append(Finding(type: .failure, title: title, signature: Signature.compute(title: title, frames: []),
                                    scenario: name, check: name, dump: dump))
            exitCode = 1
        } else if let code = r.exitCode, code != 0 {
            let title = "\(name) exited with status \(code)"
            let tail = r.stderr.split(separator: "\n").suffix(40).joined(separator: "\n")
            outcome = .failed(type: "failure", message: title, text: title + "\n\nstderr (tail):\n" + tail)
            findings.append(Finding(type: .failure, title: title, signature: Signature.compute(title: title, frames: []),
                                    scenario: name, check: name, dump: title + "\n\nstderr (tail):\n" + tail))
            exitCode = 1
        }
        let store = BucketStore()
        findings.forEach(store.add)
        let host = ProcessInfo.processInfo.hostName
        let suite = TestSuiteResult(
            name: "supervise", package: "bpfstress", id: 0, timestamp: started, hostname: host, time: r.durationSeconds,
            properties: [("command", command.joined(separator: " ")), ("timeout", String(timeout)),
                         ("idle_timeout", String(idleTimeout)), ("exit_code", r.exitCode.map(String.init) ?? ""),
                         ("signal", r.signal.map(String.init) ?? "")],
            cases: [TestCaseResult(name: name, classname: "bpfstress.supervise", time: r.durationSeconds, outcome: outcome)],
            systemOut: r.stdout, systemErr: r.stderr)
        try FileManager.default.createDirectory(atPath: reportRoot, withIntermediateDirectories: true)
        let dir = try RunDirectory.create(root: reportRoot, startedAt: started, seed: 0)
        try dir.writeFindings(store.buckets)
        try dir.write("stdout.txt", r.stdout)
        try dir.write("stderr.txt", r.stderr)
        let summary = RunSummary(version: BPFStressVersion.string, campaign: "supervise:\(name)", seed: 0, runtime: "none",
                                 kernelRelease: (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
                                     .trimmingCharacters(in: .whitespacesAndNewlines) ?? "",
                                 hostname: host, startedAt: started, endedAt: Date(), durationSeconds: r.durationSeconds,
                                 workers: 1, threads: 0, exitCode: exitCode, buckets: store.buckets)
        try dir.write("summary.json", ReportEmitter.encodeSummary(summary))
        try dir.write("junit.xml", JUnitWriter.render([suite]))
        try dir.updateLatestLink()
        return Outcome(result: r, reportPath: dir.path, exitCode: exitCode)
    }
}
