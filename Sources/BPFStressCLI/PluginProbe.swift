// A runtime plugin loaded and probed first in a child process, so its crash cannot kill us.
import ArgumentParser
import BPFKit
import Capture
import Foundation
import Glibc
import StressCore

/// What the coordinator does with a plugin (dlopen and its constructors, the entry point,
/// campaign_init, attach, its `bpf` under the environment probes and the object inventory,
/// campaign_fini) happens here first, in `bpfstress plugin-probe`, spawned like a worker
/// (posix_spawn of /proc/self/exe). The child prints each stage before entering it, so a
/// crash names the stage as well as the plugin and the signal.
enum PluginProbe {
    /// The stages in order, as the child prints them ("stage NAME") and the error names them.
    static let stages = ["load": "its constructors or entry point", "campaign_init": "campaign_init",
                         "attach": "attach", "probes": "its bpf during the environment probes",
                         "inventory": "its bpf during the object inventory", "campaign_fini": "campaign_fini"]

    /// Runs the probe child for `spelling` (plugin:PATH[:CONFIG]) and returns when it passed;
    /// otherwise prints one line and exits: the child's own error with its code, or, for a
    /// signal death or a hang, "runtime plugin PATH crashed with SIGSEGV in attach" and exit 3.
    static func require(_ spelling: String) {
        guard case let .plugin(path, _)? = try? RuntimeFactory.parse(spelling) else { return }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        p.arguments = ["plugin-probe", "--runtime", spelling]
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"  // die by the plugin's signal, at once
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { die("cannot start the plugin probe: \(error)", ExitCodes.internalError) }
        final class Sink: @unchecked Sendable { var out = Data(), err = Data() }
        let sink = Sink()
        let readers = DispatchGroup()
        DispatchQueue.global().async(group: readers) { sink.out = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: readers) { sink.err = err.fileHandleForReading.readDataToEndOfFile() }
        // Bounded: a plugin that hangs in its entry point must not hang us.
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        let hung = p.isRunning
        if hung { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        _ = readers.wait(timeout: .now() + 5)
        let lastStage = String(decoding: sink.out, as: UTF8.self).split(separator: "\n")
            .last { $0.hasPrefix("stage ") }.map { String($0.dropFirst("stage ".count)) }
        let during = lastStage.flatMap { stages[$0] } ?? "its constructors or entry point"
        if hung { die("runtime plugin \(path) hung for 60 s in \(during)", ExitCodes.environment) }
        if p.terminationReason == .uncaughtSignal {
            let sig = FindingTitles.signalName(p.terminationStatus)
            die("runtime plugin \(path) crashed with \(sig) in \(during)", ExitCodes.environment)
        }
        guard p.terminationStatus == 0 else {
            let text = String(decoding: sink.err, as: UTF8.self)
            let line = text.split(separator: "\n").last.map(String.init) ?? "probe failed"
            let message = line.hasPrefix("bpfstress: ") ? String(line.dropFirst("bpfstress: ".count)) : line
            die(message, p.terminationStatus == ExitCodes.usage ? ExitCodes.usage : ExitCodes.environment)
        }
    }
}

/// `bpfstress plugin-probe --runtime plugin:PATH[:CONFIG]` (hidden): the child side.
struct PluginProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plugin-probe",
                                                    abstract: "Internal: load and probe a runtime plugin.", shouldDisplay: false)
    @Option var runtime: String

    func run() throws {
        func stage(_ s: String) { print("stage \(s)"); fflush(stdout) }
        guard case let .plugin(path, config) = (try? RuntimeFactory.parse(runtime)) ?? .kernel else {
            die("plugin-probe needs --runtime plugin:PATH[:CONFIG]", ExitCodes.usage)
        }
        do {
            stage("load")
            let p = try PluginRuntime.load(path: path)
            stage("campaign_init")
            let state = try p.campaignInit(config: config)
            stage("attach")
            do { try p.attach(state: state) } catch { p.campaignFini(); throw error }
            stage("probes")
            _ = EnvironmentProbe.probe(runtime: p)
            stage("inventory")
            _ = Inventory.take(runtime: p)
            stage("campaign_fini")
            p.campaignFini()
            stage("done")
        } catch let e as PluginError {
            die(e.description, e.isUsage ? ExitCodes.usage : ExitCodes.environment)
        }
    }
}
