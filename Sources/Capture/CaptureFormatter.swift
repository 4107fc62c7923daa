import Foundation

/// The human-readable dump that goes into dump-N.txt and the JUnit failure text.
public enum CaptureFormatter {
    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 12 - s.count)) + s
    }

    /// Per process, per thread: tid, comm, state, wchan, syscall, user stack, kernel stack,
    /// and the thread's last flight-recorder operations when given.
    public static func dump(_ captures: [ProcessCapture], flightRecorder: [Int32: [String]] = [:],
                            header: String) -> String {
        var out = header.isEmpty ? "" : header + "\n"
        for p in captures {
            out += "\n=== process \(p.pid) (\(p.comm)) threads: \(p.threads.count), capture took "
                + String(format: "%.1f ms", p.durationSeconds * 1000) + "\n"
            if !p.cmdline.isEmpty { out += "cmdline: \(p.cmdline)\n" }
            for t in p.threads {
                out += "\n--- thread \(t.tid) \"\(t.comm)\" state: \(t.state)"
                if !t.wchan.isEmpty && t.wchan != "0" { out += " wchan: \(t.wchan)" }
                out += "\n"
                if let sc = t.syscall { out += "  syscall: \(sc.decoded)\n" }
                if let o = t.futexOwner { out += "  waits for mutex owned by thread \(o)\n" }
                if let e = t.error { out += "  capture error: \(e)\n" }
                out += "  user stack:\n"
                if t.userStack.isEmpty { out += "    (none)\n" }
                for (i, f) in t.userStack.enumerated() {
                    let name = f.function.map { "\($0)+0x\(String(f.offset, radix: 16))" } ?? "??"
                    out += "    #\(i) \(hex(f.pc)) \(name) (\(f.module))\n"
                }
                out += "  kernel stack:\n"
                if t.kernelStack.isEmpty { out += "    (none)\n" }
                for k in t.kernelStack { out += "    \(k)\n" }
                if let ops = flightRecorder[t.tid], !ops.isEmpty {
                    out += "  last ops:\n"
                    for o in ops { out += "    \(o)\n" }
                }
            }
        }
        return out
    }
}
