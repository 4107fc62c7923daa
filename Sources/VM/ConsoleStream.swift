// Reads a guest's serial console file as it grows, line by line, and recognizes what matters live.
import Foundation
import Reports
#if canImport(Glibc)
import Glibc
#endif

/// Follows the console file qemu writes (tail -f by pread), keeping the whole text.
final class ConsoleStream {
    let path: String
    private var fd: Int32 = -1
    private var offset: off_t = 0
    private var partial = Data()
    private(set) var text = ""
    /// Complete lines so far (kernel decorations kept).
    private(set) var lines: [String] = []

    init(path: String) { self.path = path }
    deinit { if fd >= 0 { close(fd) } }

    /// New complete lines since the last call. Bytes are decoded lossily: a console may carry
    /// anything (a dying kernel, binary garbage).
    func poll() -> [String] {
        if fd < 0 { fd = open(path, O_RDONLY | O_CLOEXEC); if fd < 0 { return [] } }
        var out: [String] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = pread(fd, &buf, buf.count, offset)
            if n <= 0 { break }
            offset += off_t(n)
            partial.append(contentsOf: buf[0..<n])
        }
        while let nl = partial.firstIndex(of: 0x0A) {
            let line = String(decoding: partial[partial.startIndex..<nl], as: UTF8.self)
                .trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            partial.removeSubrange(partial.startIndex...nl)
            out.append(line)
        }
        for l in out { lines.append(l); text += l + "\n" }
        return out
    }

    /// Everything, including a last line without its newline (a guest killed mid-line).
    func finish() -> String {
        _ = poll()
        if !partial.isEmpty {
            let l = String(decoding: partial, as: UTF8.self)
            lines.append(l); text += l + "\n"; partial.removeAll()
        }
        return text
    }
}

/// What one console line means to the outer coordinator.
enum ConsoleEvent: Equatable {
    case heartbeat, agentStarted, campaignStarted, result(Int32), initExit(Int32), panic(String), reportHeader(String), other
}

enum ConsoleLineKind {
    static let panicPrefix = "Kernel panic - not syncing: "

    static func classify(_ raw: String) -> ConsoleEvent {
        let line = ConsoleLine.strip(raw).trimmingCharacters(in: .whitespaces)
        if line.hasPrefix(GuestMarkers.heartbeat) { return .heartbeat }
        if line.hasPrefix(GuestMarkers.started) { return .agentStarted }
        if line.hasPrefix(GuestMarkers.campaignStarted) { return .campaignStarted }
        if line.hasPrefix(GuestMarkers.result), let c = Int32(line.dropFirst(GuestMarkers.result.count)) { return .result(c) }
        if line.hasPrefix(GuestInit.exitMarker), let c = Int32(line.dropFirst(GuestInit.exitMarker.count)) { return .initExit(c) }
        if let r = line.range(of: panicPrefix) { return .panic(String(line[r.upperBound...])) }
        if KernelConsoleParser.headerFormat(line) != nil { return .reportHeader(line) }
        return .other
    }
}
