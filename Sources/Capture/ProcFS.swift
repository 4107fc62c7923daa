import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Small /proc readers. /proc files report size 0, so they are read until EOF.
enum ProcFS {
    /// Reads a whole file with open(2)/read(2); nil if it cannot be opened.
    static func read(_ path: String, limit: Int = 1 << 20) -> String? {
        guard let bytes = readBytes(path, limit: limit) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func readBytes(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while out.count < limit {
            let n = Glibc.read(fd, &buf, buf.count)
            if n < 0 { if errno == EINTR { continue }; return out.isEmpty ? nil : out }
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    /// Reads `count` bytes at `address` of pid's memory through /proc/PID/mem (pread).
    static func readMemory(pid: Int32, address: UInt64, count: Int) -> [UInt8]? {
        let fd = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: count)
        let n = pread(fd, &buf, count, Int(Int64(bitPattern: address)))
        return n == count ? buf : nil
    }

    static func tids(_ pid: Int32) -> [Int32] {
        numericEntries("/proc/\(pid)/task")
    }

    static func numericEntries(_ dir: String) -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return names.compactMap { Int32($0) }.sorted()
    }

    /// Fields of /proc/.../stat after the comm: index 0 is the state letter, 1 ppid, ...
    static func statFields(_ path: String) -> (comm: String, fields: [String])? {
        guard let s = read(path), let open = s.firstIndex(of: "("), let close = s.lastIndex(of: ")") else { return nil }
        let comm = String(s[s.index(after: open)..<close])
        let rest = s[s.index(after: close)...].split(separator: " ").map(String.init)
        return (comm, rest)
    }

    static let stateWords: [String: String] = [
        "R": "running", "S": "sleeping", "D": "disk sleep", "T": "stopped", "t": "tracing stop",
        "Z": "zombie", "X": "dead", "I": "idle", "P": "parked", "W": "waking", "K": "wakekill",
    ]

    static func stateString(_ letter: String) -> String {
        "\(letter) (\(stateWords[letter] ?? "?"))"
    }

    static func ppid(_ pid: Int32) -> Int32? {
        guard let f = statFields("/proc/\(pid)/stat"), f.fields.count > 1 else { return nil }
        return Int32(f.fields[1])
    }

    static func cmdline(_ pid: Int32) -> String {
        guard let b = readBytes("/proc/\(pid)/cmdline", limit: 8192) else { return "" }
        return String(decoding: b, as: UTF8.self).split(separator: "\0").joined(separator: " ")
    }

    /// Kernel stack without "[<0>] " and "+0x../0x..": function names only.
    static func kernelStack(pid: Int32, tid: Int32) -> [String] {
        guard let s = read("/proc/\(pid)/task/\(tid)/stack") else { return [] }
        return parseKernelStack(s)
    }

    static func parseKernelStack(_ s: String) -> [String] {
        s.split(separator: "\n").compactMap { line -> String? in
            var l = Substring(line)
            if let r = l.range(of: "] ") { l = l[r.upperBound...] }
            if let plus = l.firstIndex(of: "+") { l = l[..<plus] }
            let name = l.trimmingCharacters(in: .whitespaces)
            return name.isEmpty ? nil : name
        }
    }

    /// Signals with a handler installed (SigCgt bitmask from /proc/PID/status).
    static func caughtSignals(_ pid: Int32) -> UInt64 {
        guard let s = read("/proc/\(pid)/status") else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix("SigCgt:") {
            return UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
        }
        return 0
    }

    static func statusField(_ pid: Int32, _ key: String) -> String? {
        guard let s = read("/proc/\(pid)/status") else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix(key + ":") {
            return line.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// Every descendant of root (children first-level first), from the ppid of each /proc entry.
    static func descendants(of root: Int32) -> [Int32] {
        var children: [Int32: [Int32]] = [:]
        for pid in numericEntries("/proc") {
            if let pp = ppid(pid) { children[pp, default: []].append(pid) }
        }
        var out: [Int32] = []
        var queue = [root]
        var seen: Set<Int32> = [root]
        while !queue.isEmpty {
            let p = queue.removeFirst()
            for c in (children[p] ?? []).sorted() where !seen.contains(c) {
                seen.insert(c); out.append(c); queue.append(c)
            }
        }
        return out
    }
}

/// One line of /proc/PID/maps.
struct MapEntry: Equatable {
    var start: UInt64
    var end: UInt64
    var offset: UInt64
    var inode: UInt64
    var dev: String
    var perms: String
    var path: String

    var moduleName: String {
        if path.isEmpty { return "[anon]" }
        return path.split(separator: "/").last.map(String.init) ?? path
    }

    static func parse(_ text: String) -> [MapEntry] {
        text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard parts.count >= 5 else { return nil }
            let range = parts[0].split(separator: "-")
            guard range.count == 2, let s = UInt64(range[0], radix: 16), let e = UInt64(range[1], radix: 16),
                  let off = UInt64(parts[2], radix: 16), let ino = UInt64(parts[4]) else { return nil }
            let path = parts.count > 5 ? parts[5].trimmingCharacters(in: .whitespaces) : ""
            return MapEntry(start: s, end: e, offset: off, inode: ino, dev: String(parts[3]),
                            perms: String(parts[1]), path: path)
        }
    }

    static func read(pid: Int32) -> [MapEntry] {
        parse(ProcFS.read("/proc/\(pid)/maps") ?? "")
    }

    /// Binary search: maps are sorted by start address.
    static func find(_ maps: [MapEntry], _ pc: UInt64) -> MapEntry? {
        var lo = 0, hi = maps.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if maps[mid].end <= pc { lo = mid + 1 } else { hi = mid }
        }
        return lo < maps.count && maps[lo].start <= pc ? maps[lo] : nil
    }
}
