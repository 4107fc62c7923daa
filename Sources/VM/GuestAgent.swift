// The guest side: runs the job's bpfstress command, prints heartbeats on the console, writes the result.
import Capture
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the host asks a guest to do (`job.json` in the job share).
public struct GuestJob: Codable, Sendable, Equatable {
    /// Arguments to the bpfstress binary, e.g. ["run", "smoke.yaml", "--seed", "7"].
    public var arguments: [String]
    /// Seconds between heartbeat lines.
    public var heartbeat: Double
    /// Hard bound on the command: TERM at `seconds`, KILL 5 s later.
    public var seconds: Double
    /// Which boot of its guest this is (1 = first), exported as BPFSTRESS_GUEST_BOOT.
    public var boot: Int
    /// Host environment variables the guest command sees too (BPFSTRESS_* settings).
    public var environment: [String: String]
    public init(arguments: [String], heartbeat: Double = 1, seconds: Double, boot: Int = 1,
                environment: [String: String] = GuestJob.passedEnvironment()) {
        self.arguments = arguments; self.heartbeat = heartbeat; self.seconds = seconds; self.boot = boot
        self.environment = environment
    }

    /// The host's BPFSTRESS_* variables (test scenarios, kmsg settings), which the guest's init
    /// cannot inherit.
    public static func passedEnvironment() -> [String: String] {
        ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("BPFSTRESS_") && $0.key != "BPFSTRESS_IN_GUEST" }
    }
}

/// What the guest side leaves in `result.json`.
public struct GuestResult: Codable, Sendable, Equatable {
    public var exitCode: Int32
    /// Set when the command died of a signal.
    public var signal: Int32?
    public var stoppedByHost: Bool
    public init(exitCode: Int32, signal: Int32? = nil, stoppedByHost: Bool = false) {
        self.exitCode = exitCode; self.signal = signal; self.stoppedByHost = stoppedByHost
    }
}

/// Console protocol between guest and host: one marker per line.
public enum GuestMarkers {
    public static let heartbeat = "bpfstress-heartbeat "
    public static let started = "bpfstress-guest: agent started"
    public static let result = "bpfstress-guest: result "
    /// Written by the test-only guest scenarios, read by the agent: a pid file and a stop file.
    public static let agentPidFile = "/run/bpfstress-agent.pid"
    /// Printed when the command's run directory (`reports/latest` in the job share) appears: a
    /// campaign creates it just before its first worker starts. The host times boot-to-first-op
    /// by it (the guest's own clock is the RTC's, whole seconds).
    public static let campaignStarted = "bpfstress-guest: campaign started"
}

public enum GuestAgent {
    /// Runs the job in `jobDir` and returns the exit code for the agent process.
    public static func run(jobDir: String) -> Int32 {
        func say(_ s: String) { let l = s + "\n"; _ = l.withCString { write(1, $0, strlen($0)) } }
        guard let data = FileManager.default.contents(atPath: jobDir + "/job.json"),
              let job = try? JSONDecoder().decode(GuestJob.self, from: data) else {
            say("bpfstress-guest: unreadable \(jobDir)/job.json")
            return 2
        }
        try? "\(getpid())\n".write(toFile: GuestMarkers.agentPidFile, atomically: true, encoding: .utf8)
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let out = open(jobDir + "/output.txt", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in job.environment { env[k] = v }
        env["BPFSTRESS_IN_GUEST"] = "1"
        env["BPFSTRESS_GUEST_BOOT"] = String(job.boot)
        let pid: Int32
        do { pid = try Spawn.start([exe] + job.arguments, env: env, fds: [devnull, out < 0 ? -1 : out, out < 0 ? -1 : out]) } catch {
            say("bpfstress-guest: cannot start \(exe): \(error)")
            return 4
        }
        if out >= 0 { close(out) }
        if devnull >= 0 { close(devnull) }
        let up = (try? String(contentsOfFile: "/proc/uptime", encoding: .utf8))?.split(separator: " ").first ?? "?"
        say(GuestMarkers.started + " pid \(pid) at \(up) s")
        let start = Date()
        var beats = 0
        var nextBeat = start
        var termSent = false, stoppedByHost = false, campaignSeen = false
        var status: Int32 = 0
        while true {
            if let r = try? Spawn.wait(pid, noHang: true), r.pid == pid, !WaitStatus(r.status).stopped {
                status = r.status
                break
            }
            if !campaignSeen, access(jobDir + "/reports/latest", F_OK) == 0 {
                campaignSeen = true
                let t = (try? String(contentsOfFile: "/proc/uptime", encoding: .utf8))?.split(separator: " ").first ?? "?"
                say(GuestMarkers.campaignStarted + " at \(t) s")
            }
            let now = Date()
            if now >= nextBeat {
                beats += 1
                say(GuestMarkers.heartbeat + String(beats))
                nextBeat = now.addingTimeInterval(job.heartbeat)
            }
            if !termSent && FileManager.default.fileExists(atPath: jobDir + "/stop") {
                kill(pid, SIGTERM); termSent = true; stoppedByHost = true
                say("bpfstress-guest: stop requested by the host")
            }
            let age = now.timeIntervalSince(start)
            if !termSent && age > job.seconds { kill(pid, SIGTERM); termSent = true }
            if age > job.seconds + 5 { kill(-pid, SIGKILL); kill(pid, SIGKILL) }
            usleep(100_000)
        }
        let ws = WaitStatus(status)
        let result = GuestResult(exitCode: ws.exited ? ws.exitCode : 128 + ws.termSignal,
                                 signal: ws.signaled ? ws.termSignal : nil, stoppedByHost: stoppedByHost)
        if let d = try? JSONEncoder().encode(result) {
            let tmp = jobDir + "/result.json.tmp"
            if FileManager.default.createFile(atPath: tmp, contents: d) { rename(tmp, jobDir + "/result.json") }
        }
        sync()
        say(GuestMarkers.result + String(result.exitCode))
        return result.exitCode
    }
}
