import Basics
import BPFKit
import Foundation

/// Builds runtimes from their `--runtime` spelling: `kernel` (default) or
/// `plugin:PATH[:CONFIG]` (a shared library implementing bpfstress_runtime.h).
public enum RuntimeFactory {
    /// A parsed `--runtime` value.
    public enum Spelling: Equatable {
        case kernel
        case plugin(path: String, config: String)
    }

    /// `kernel`, `plugin:PATH` or `plugin:PATH:CONFIG` (CONFIG is everything after the
    /// second colon, so it may itself contain colons; PATH may not).
    public static func parse(_ spelling: String) throws -> Spelling {
        if spelling == "kernel" { return .kernel }
        if spelling.hasPrefix("plugin:") {
            let rest = spelling.dropFirst("plugin:".count)
            let parts = rest.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            let path = String(parts[0])
            guard !path.isEmpty else { throw StressError(.usage, "--runtime plugin: needs a path (plugin:PATH[:CONFIG])") }
            return .plugin(path: path, config: parts.count > 1 ? String(parts[1]) : "")
        }
        throw StressError(.usage, "unknown runtime '\(spelling)' (known: kernel, plugin:PATH[:CONFIG])")
    }

    /// The coordinator's runtime (probes, leak check). Runs a plugin's campaign init, then
    /// attaches the coordinator itself with the resulting state.
    public static func makeCoordinatorRuntime(_ spelling: String) throws -> any Runtime {
        switch try parse(spelling) {
        case .kernel:
            return KernelRuntime()
        case let .plugin(path, config):
            do {
                let p = try PluginRuntime.load(path: path)
                let state = try p.campaignInit(config: config)
                do { try p.attach(state: state) } catch { p.campaignFini(); throw error }
                return p
            } catch let e as PluginError {
                throw StressError(e.isUsage ? .usage : .environment, e.description, errno: e.errno)
            }
        }
    }

    /// What every worker receives from the coordinator's campaign init (nil for the kernel).
    public static func campaignState(of runtime: any Runtime) -> String? {
        (runtime as? PluginRuntime)?.campaignState
    }

    /// Called once when the campaign ends, after every worker is gone.
    public static func campaignFini(_ runtime: any Runtime) {
        (runtime as? PluginRuntime)?.campaignFini()
    }

    /// A worker's runtime: per-process attach with the campaign state string.
    public static func makeWorkerRuntime(_ spelling: String, campaignState: String?) throws -> any Runtime {
        switch try parse(spelling) {
        case .kernel:
            return KernelRuntime()
        case let .plugin(path, _):
            do {
                let p = try PluginRuntime.load(path: path)
                try p.attach(state: campaignState ?? "")
                return p
            } catch let e as PluginError {
                throw StressError(e.isUsage ? .usage : .environment, e.description, errno: e.errno)
            }
        }
    }
}
