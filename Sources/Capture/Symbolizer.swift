import CBPFCapture
import Foundation

@_silgen_name("swift_demangle")
private func _swiftDemangle(_ mangled: UnsafePointer<CChar>?, _ length: UInt,
                            _ output: UnsafeMutablePointer<CChar>?, _ outputSize: UnsafeMutablePointer<UInt>?,
                            _ flags: UInt32) -> UnsafeMutablePointer<CChar>?

/// Swift symbol demangling through the runtime's swift_demangle.
public enum Demangler {
    /// Demangled form of a Swift symbol; other names come back unchanged.
    public static func demangle(_ name: String) -> String {
        guard name.hasPrefix("$s") || name.hasPrefix("_$s") || name.hasPrefix("$S") || name.hasPrefix("_T0") else {
            return name
        }
        return name.withCString { p -> String in
            guard let out = _swiftDemangle(p, UInt(strlen(p)), nil, nil, 0) else { return name }
            defer { free(out) }
            return String(cString: out)
        }
    }
}

/// pc -> (function, offset) from ELF symbol tables via libelf, with the separate debug file
/// (/usr/lib/debug/.build-id/xx/yyyy.debug) when installed. Preferred over libunwind's names:
/// on stripped libc those are the nearest export and mislead.
public final class Symbolizer {
    public static let shared = Symbolizer()

    struct Symbol {
        var address: UInt64
        var size: UInt64
        var name: String
    }

    final class Module {
        var symbols: [Symbol] = []
        var loads: [(vaddr: UInt64, offset: UInt64, filesz: UInt64)] = []
        var demangled: [Int: String] = [:]
    }

    private let lock = NSLock()
    /// Keyed by path + device + inode, so a rebuilt file at the same path is read again.
    private var cache: [String: Module?] = [:]

    public init() {}

    static func rank(_ bind: Int32) -> Int { bind == 1 ? 0 : (bind == 2 ? 1 : 2) }

    /// Loads symbols of a file and of its build-id debug file.
    static func load(path: String) -> Module? {
        guard let e = bpfs_elf_open(path) else { return nil }
        defer { bpfs_elf_close(e) }
        let m = Module()
        var raw: [(Symbol, Int)] = []
        func collect(_ h: OpaquePointer) {
            let n = bpfs_elf_symbol_count(h)
            raw.reserveCapacity(raw.count + n)
            for i in 0..<n {
                var v: UInt64 = 0, s: UInt64 = 0
                var b: Int32 = 0
                guard let cname = bpfs_elf_symbol(h, i, &v, &s, &b) else { continue }
                raw.append((Symbol(address: v, size: s, name: String(cString: cname)), rank(b)))
            }
        }
        collect(e)
        for i in 0..<bpfs_elf_load_count(e) {
            var va: UInt64 = 0, off: UInt64 = 0, fs: UInt64 = 0, ms: UInt64 = 0
            bpfs_elf_load(e, i, &va, &off, &fs, &ms)
            m.loads.append((va, off, fs))
        }
        let buildID = String(cString: bpfs_elf_build_id(e))
        if buildID.count > 2 {
            let dbg = "/usr/lib/debug/.build-id/\(buildID.prefix(2))/\(buildID.dropFirst(2)).debug"
            if let d = bpfs_elf_open(dbg) {
                collect(d)
                bpfs_elf_close(d)
            }
        }
        // Sort by address; among aliases keep the fewest leading underscores (glibc's public
        // names are weak aliases of __names), then GLOBAL over WEAK over LOCAL, then the
        // shortest, then the alphabetically first name, so the choice is the same on every run.
        func underscores(_ s: String) -> Int { s.prefix { $0 == "_" }.count }
        raw.sort { a, b in
            if a.0.address != b.0.address { return a.0.address < b.0.address }
            let ua = underscores(a.0.name), ub = underscores(b.0.name)
            if ua != ub { return ua < ub }
            if a.1 != b.1 { return a.1 < b.1 }
            if a.0.name.count != b.0.name.count { return a.0.name.count < b.0.name.count }
            return a.0.name < b.0.name
        }
        var last: UInt64 = .max
        for (s, _) in raw where s.address != last {
            m.symbols.append(s)
            last = s.address
        }
        return m
    }

    func module(for map: MapEntry) -> Module? {
        let key = "\(map.path)|\(map.dev)|\(map.inode)"
        lock.lock()
        if let m = cache[key] { lock.unlock(); return m }
        lock.unlock()
        let m = map.path.hasPrefix("/") ? Symbolizer.load(path: map.path) : nil
        lock.lock()
        cache[key] = m
        lock.unlock()
        return m
    }

    /// Function containing `pc` (for return addresses pass `isReturnAddress` so pc-1 is used
    /// for the lookup: a call as a function's last instruction returns past its end).
    func symbolize(pc: UInt64, map: MapEntry, isReturnAddress: Bool) -> (name: String, offset: UInt64)? {
        guard let m = module(for: map) else { return nil }
        let lookupPC = isReturnAddress && pc > 0 ? pc - 1 : pc
        let fileOffset = lookupPC - map.start + map.offset
        var vaddr = fileOffset
        for l in m.loads where fileOffset >= l.offset && fileOffset < l.offset + max(l.filesz, 1) {
            vaddr = l.vaddr + (fileOffset - l.offset)
            break
        }
        // Last symbol at or below vaddr.
        var lo = 0, hi = m.symbols.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if m.symbols[mid].address <= vaddr { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let idx = lo - 1
        let s = m.symbols[idx]
        if s.size > 0 && vaddr >= s.address + s.size { return nil }
        lock.lock()
        defer { lock.unlock() }
        let name: String
        if let d = m.demangled[idx] { name = d } else {
            name = Demangler.demangle(s.name)
            m.demangled[idx] = name
        }
        return (name, vaddr - s.address + (lookupPC == pc ? 0 : 1))
    }

    /// Symbolizes a raw pc against the given maps (used by tests and the crash path).
    func frame(pc: UInt64, maps: [MapEntry], isReturnAddress: Bool, fallbackName: String? = nil,
               fallbackOffset: UInt64 = 0) -> StackFrame {
        guard let map = MapEntry.find(maps, pc) else {
            return StackFrame(pc: pc, function: fallbackName, offset: fallbackOffset, module: "[unknown]")
        }
        // A return address that is the first byte of a function (a signal trampoline such as
        // __restore_rt is "returned" to) has pc-1 outside it: then try pc itself.
        if let s = symbolize(pc: pc, map: map, isReturnAddress: isReturnAddress)
            ?? (isReturnAddress ? symbolize(pc: pc, map: map, isReturnAddress: false) : nil) {
            return StackFrame(pc: pc, function: s.name, offset: s.offset, module: map.moduleName)
        }
        return StackFrame(pc: pc, function: fallbackName.map(Demangler.demangle), offset: fallbackOffset,
                          module: map.moduleName)
    }
}
