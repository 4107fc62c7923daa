import BPFKit
import Foundation

/// Builds runtimes from their `--runtime` spelling: `kernel` (default). The plugin issue adds
/// `plugin:PATH[:CONFIG]` here.
public enum RuntimeFactory {
    /// The coordinator's runtime (probes, leak check). Runs a plugin's campaign init.
    public static func makeCoordinatorRuntime(_ spelling: String) throws -> any Runtime {
        guard spelling == "kernel" else {
            throw StressError(.usage, "unknown runtime '\(spelling)' (known: kernel)")
        }
        return KernelRuntime()
    }

    /// What every worker receives from the coordinator's campaign init (nil for the kernel).
    public static func campaignState(of runtime: any Runtime) -> String? { nil }

    /// Called once when the campaign ends, after every worker is gone.
    public static func campaignFini(_ runtime: any Runtime) {}

    /// A worker's runtime: per-process attach with the campaign state string.
    public static func makeWorkerRuntime(_ spelling: String, campaignState: String?) throws -> any Runtime {
        guard spelling == "kernel" else {
            throw StressError(.usage, "unknown runtime '\(spelling)' (known: kernel)")
        }
        return KernelRuntime()
    }
}
