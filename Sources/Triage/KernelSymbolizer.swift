// file:line for the frames of kernel reports, from a vmlinux with debug info (libdw, through CDWSymbolizer).

import CDWSymbolizer
import Foundation
import Reports

public enum SymbolizerError: Error, CustomStringConvertible {
    case open(String, String)
    public var description: String {
        switch self { case .open(let p, let why): return "cannot read symbols from \(p): \(why)" }
    }
}

/// `func+0x12/0x40` and `[<ffffffff81234567>]` in a report gain ` file:line`. Titles never use it:
/// they are made before, from the report as the kernel printed it.
public final class KernelSymbolizer {
    private let handle: OpaquePointer
    /// Symbol name -> start addresses and sizes (a static function can have several copies).
    private var symbols: [String: [(addr: UInt64, size: UInt64)]] = [:]

    /// Opens `vmlinux` with libdwfl (cdw_open) and reads its symbol table (cdw_symbol_at).
    public init(vmlinux: String) throws {
        var err = [CChar](repeating: 0, count: 256)
        guard let h = cdw_open(vmlinux, &err, err.count) else {
            throw SymbolizerError.open(vmlinux, String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        handle = h
        let n = cdw_symbol_count(h)
        for i in 0..<max(0, n) {
            var name: UnsafePointer<CChar>?
            var addr: UInt64 = 0, size: UInt64 = 0
            guard cdw_symbol_at(h, Int32(i), &name, &addr, &size) == 0, let name else { continue }
            symbols[String(cString: name), default: []].append((addr, size))
        }
    }

    deinit { cdw_close(handle) }

    /// `file:line` of an address (cdw_line); nil without line information.
    public func location(address: UInt64) -> String? {
        var file = [CChar](repeating: 0, count: 1024)
        var line: Int32 = 0
        guard cdw_line(handle, address, &file, file.count, &line) == 0 else { return nil }
        return "\(String(decoding: file.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)):\(line)"
    }

    /// `file:line` of `function+offset`. A return address (every trace frame but the RIP) is looked up
    /// one byte back, inside the call. With several copies of a name the one of the printed size wins.
    public func location(function: String, offset: UInt64, size: UInt64?, returnAddress: Bool) -> String? {
        guard let copies = symbols[function], !copies.isEmpty else { return nil }
        let sym = copies.first { $0.size == size } ?? copies[0]
        let pc = sym.addr &+ offset &- (returnAddress && offset > 0 ? 1 : 0)
        return location(address: pc)
    }

    static let funcOffset = Pattern(#"([A-Za-z_][A-Za-z0-9_.]*)\+0x([0-9a-fA-F]+)/0x([0-9a-fA-F]+)"#)
    static let bareAddress = Pattern(#"\[<([0-9a-fA-F]{8,16})>\]"#)

    /// The location of one console line's frame (`RIP:` lines are exact pcs), or nil.
    public func location(line: String) -> String? {
        let isRIP = line.fastContains("RIP: ") || line.fastContains("IP: ")
        if let g = Self.funcOffset.groups(line), let off = UInt64(g[2], radix: 16), let size = UInt64(g[3], radix: 16),
           let loc = location(function: g[1], offset: off, size: size, returnAddress: !isRIP) {
            return loc
        }
        if let g = Self.bareAddress.groups(line), let a = UInt64(g[1], radix: 16) {
            return location(address: isRIP ? a : a &- 1)
        }
        return nil
    }

    /// The report's text with ` file:line` after each frame that has one.
    public func annotate(_ text: String) -> String {
        text.consoleLines.map { l -> String in
            let s = String(l)
            return location(line: s).map { s + " " + $0 } ?? s
        }.joined(separator: "\n")
    }

    /// Where the culprit is: the first line of the report that names it as `frame+0x`.
    public func culpritLocation(_ r: TriageReport) -> String? {
        guard !r.frame.isEmpty else { return nil }
        for l in r.text.consoleLines where l.fastContains(r.frame + "+0x") {
            if let loc = location(line: String(l)) { return loc }
        }
        return nil
    }
}
