// Data a plugin exports beside its entry point (dlsym of a NUL-terminated string).
import Glibc

public enum PluginData {
    /// dlopen(RTLD_NOW|RTLD_LOCAL) + dlsym(symbol): the C string the shared library at `path`
    /// exports under `symbol`, or nil when the library or the symbol is missing.
    public static func string(path: String, symbol: String) -> String? {
        guard let h = dlopen(path, RTLD_NOW | RTLD_LOCAL) else { return nil }
        defer { dlclose(h) }
        guard let p = dlsym(h, symbol) else { return nil }
        return String(cString: p.assumingMemoryBound(to: CChar.self))
    }
}
