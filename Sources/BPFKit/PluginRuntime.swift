import CBPFStress
import Glibc
import SystemPackage

/// Why a runtime plugin could not be used. `isUsage` separates a bad `--runtime` spelling or
/// CONFIG (exit code 2) from a plugin that cannot serve this host (exit code 3).
public struct PluginError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        case missingFile, notLoadable, missingSymbol, abiMismatch, badConfig, initFailed, attachFailed, notAttached
    }
    public let kind: Kind
    public let path: String
    public let message: String
    public let errno: Int32?

    public init(_ kind: Kind, path: String, _ message: String, errno: Int32? = nil) {
        self.kind = kind; self.path = path; self.message = message; self.errno = errno
    }

    /// A problem with what the user typed (file, symbol, CONFIG) rather than with the host.
    public var isUsage: Bool {
        switch kind {
        case .missingFile, .notLoadable, .missingSymbol, .badConfig: return true
        case .abiMismatch, .initFailed, .attachFailed, .notAttached: return false
        }
    }

    public var description: String { "runtime plugin \(path): \(message)" }
}

/// A runtime loaded from a shared library implementing `bpfstress_runtime.h`. Every bpf
/// command of every scenario goes through the plugin's `bpf` function (BPFEntry), so
/// scenarios run on it unchanged. The library is never unloaded: worker threads may still
/// be inside it when the process ends.
public final class PluginRuntime: Runtime {
    public let path: String
    public let name: String
    public let capabilities: RuntimeCapabilities
    /// Before `attach`, every command fails with ENXIO.
    public private(set) var entry: BPFEntry = BPFEntry(sys: { _, _, _, _ in -Int(ENXIO) }, ctx: nil)
    /// The string campaign_init returned (coordinator) or attach received (workers).
    public private(set) var campaignState: String?
    let table: UnsafePointer<bpfstress_runtime>
    var ctx: UnsafeMutableRawPointer?

    init(path: String, table: UnsafePointer<bpfstress_runtime>) {
        self.path = path
        self.table = table
        let n = table.pointee.name.map { String(cString: $0) } ?? "plugin"
        name = "plugin:\(n)"
        var caps = RuntimeCapabilities(rawValue: table.pointee.capabilities)
        if table.pointee.restart_extension == nil { caps.remove(.extensionRestart) }
        capabilities = caps
    }

    /// dlopen(3) + dlsym(BPFSTRESS_RUNTIME_ENTRY) + the ABI version check.
    public static func load(path: String) throws -> PluginRuntime {
        guard access(path, F_OK) == 0 else {
            throw PluginError(.missingFile, path: path, "no such file", errno: errno)
        }
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let why = dlerror().map { String(cString: $0) } ?? "unknown dlopen error"
            throw PluginError(.notLoadable, path: path, "cannot load: \(why)")
        }
        guard let sym = dlsym(handle, BPFSTRESS_RUNTIME_ENTRY) else {
            throw PluginError(.missingSymbol, path: path,
                              "not a bpfstress runtime plugin: it does not export \(BPFSTRESS_RUNTIME_ENTRY)")
        }
        let entryFn = unsafeBitCast(sym, to: bpfstress_runtime_entry_fn.self)
        guard let table = entryFn(BPFSTRESS_RUNTIME_ABI_VERSION) else {
            throw PluginError(.abiMismatch, path: path,
                              "\(BPFSTRESS_RUNTIME_ENTRY) returned no table for ABI version \(BPFSTRESS_RUNTIME_ABI_VERSION)")
        }
        let v = table.pointee.abi_version
        guard v == BPFSTRESS_RUNTIME_ABI_VERSION else {
            throw PluginError(.abiMismatch, path: path,
                              "ABI version mismatch: plugin has \(v), bpfstress has \(BPFSTRESS_RUNTIME_ABI_VERSION)")
        }
        guard table.pointee.attach != nil, table.pointee.bpf != nil, table.pointee.campaign_init != nil else {
            throw PluginError(.missingSymbol, path: path, "function table lacks campaign_init, attach or bpf")
        }
        return PluginRuntime(path: path, table: table)
    }

    /// campaign_init(config): once, in the coordinator, before any worker exists.
    public func campaignInit(config: String) throws -> String {
        var buf = [CChar](repeating: 0, count: Int(BPFSTRESS_RUNTIME_STATE_MAX))
        let rc = config.withCString { table.pointee.campaign_init!($0, &buf, buf.count) }
        buf[buf.count - 1] = 0
        let text = String(cString: buf)
        guard rc == 0 else {
            let e = -rc
            let why = text.isEmpty ? String(cString: strerror(e)) : text
            if e == EINVAL { throw PluginError(.badConfig, path: path, "bad config '\(config)': \(why)", errno: e) }
            throw PluginError(.initFailed, path: path, "campaign init failed: \(why)", errno: e)
        }
        campaignState = text
        return text
    }

    /// campaign_fini(state): once, in the coordinator, after every worker is gone.
    public func campaignFini() {
        guard let fini = table.pointee.campaign_fini, let s = campaignState else { return }
        s.withCString { fini($0) }
    }

    /// attach(state): per process, before the first bpf call; installs the plugin's entry.
    public func attach(state: String) throws {
        var c: UnsafeMutableRawPointer?
        let rc = state.withCString { table.pointee.attach!($0, &c) }
        guard rc == 0 else {
            throw PluginError(.attachFailed, path: path, "attach failed: \(String(cString: strerror(-rc)))", errno: -rc)
        }
        ctx = c
        campaignState = state
        entry = BPFEntry(sys: table.pointee.bpf!, ctx: c)
    }

    /// True when the plugin implements restart_extension.
    public var providesRestartExtension: Bool { table.pointee.restart_extension != nil }
    /// True when the plugin implements invoke_hook.
    public var providesHooks: Bool { table.pointee.invoke_hook != nil }

    /// restart_extension(name): restarts one provider of attach points under load.
    public func restartExtension(_ extensionName: String) throws {
        guard let fn = table.pointee.restart_extension else {
            throw BPFError(code: .unsupported, operation: "restart_extension", errno: .notSupported)
        }
        let rc = extensionName.withCString { fn(ctx, $0) }
        if rc < 0 { throw BPFError.syscall("restart_extension(\(extensionName))", rc) }
    }

    /// invoke_hook(attach_type, ctx bytes): runs the hook's programs; returns their result.
    @discardableResult
    public func invokeHook(attachType: UInt32, context: [UInt8]) throws -> Int {
        guard let fn = table.pointee.invoke_hook else {
            throw BPFError(code: .unsupported, operation: "invoke_hook", errno: .notSupported)
        }
        let rc = context.withUnsafeBytes { fn(ctx, attachType, $0.baseAddress, $0.count) }
        if rc < 0 { throw BPFError.syscall("invoke_hook(\(attachType))", Int32(clamping: rc)) }
        return rc
    }
}
