// Cuts a kernel console log into report texts the way syzkaller's Linux reporter does: by context, with tails.

/// A report starts at a line holding one of the report groups' headers. It keeps the lines printed in its
/// header's context (`[ T5012]`, `[ C1]`, plain timestamps, or none; after `Sending NMI from CPU` also the
/// other CPUs' lines), so reports of two tasks printed at once are two clean reports. It runs until the
/// next header in its context, or 200 lines after its last end marker (`</TASK>`, `---[ end trace`, `====`):
/// an RCU stall's culprit comes after the kthread stack that ends first. A panic, `invalid opcode`, double
/// fault or `unregister_netdevice` line continues it when it comes no more than 60 lines after its end
/// marker (`Fatal exception`, `panic_on_warn set`). Once the report has more than 22 lines (16 for KMSAN),
/// a panic line and everything after it is left out, as syzkaller does: the panic repeats the stack.
enum KernelReportSplitter {
    /// Lines after an end marker during which a panic still belongs to the report.
    static let tailLines = 60
    /// Lines after an end marker after which a report is over.
    static let afterEnd = 200

    /// What `Open.add` looks for in a line, in one pass: bit 0 `Sending NMI from CPU`, bits 1-3 an end
    /// marker's text, bit 4 a panic, bit 5 lockdep's taint notice (never part of a report).
    static let words = LiteralSet(["Sending NMI from CPU", "</TASK>", "---[ end trace", "=====", "Kernel panic - not syncing",
                                   "Disabling lock debugging due to kernel taint"])

    struct Open {
        let group: OopsGroup
        let start: Int
        var lines: [String]
        var headersOnly = true
        var cpuTraceback = false
        var skipText = false
        var sinceEnd: Int? = nil
        let minLines: Int

        init(_ group: OopsGroup, _ line: String, at start: Int) {
            self.group = group; self.start = start; lines = [line]
            minLines = line.fastContains("BUG: KMSAN:") ? 16 : 22
        }

        /// Whether a continuing header (panic, trap) is still this report's tail.
        var takesTail: Bool { sinceEnd.map { $0 <= tailLines } ?? true }

        mutating func add(_ line: String) {
            headersOnly = false
            let w = words.found(in: line)
            if w & 1 != 0 { cpuTraceback = true }
            if w & 0b1110 != 0 && KernelConsoleParser.isEndMarker(line) { sinceEnd = 0 } else if let e = sinceEnd { sinceEnd = e + 1 }
            if w & 0b1_0000 != 0 && lines.count > minLines { skipText = true }
            if skipText || w & 0b10_0000 != 0 { return }
            lines.append(line)
        }

        var isOver: Bool { lines.count >= KernelConsoleParser.maxLines || (sinceEnd ?? 0) > afterEnd }
    }

    /// The report texts of `log` (first line: the header), in the order of their headers.
    static func split(_ log: String) -> [(group: OopsGroup, lines: [String])] {
        var done: [(start: Int, group: OopsGroup, lines: [String])] = []
        var open: [String: Open] = [:]
        var lastClose = Int.min / 2
        func close(_ key: String, at i: Int) {
            if let o = open.removeValue(forKey: key) { done.append((o.start, o.group, o.lines)); lastClose = i }
        }
        /// The open report a line of context `ctx` belongs to.
        func owner(_ ctx: String) -> String? {
            if open[ctx] != nil { return ctx }
            guard ctx.hasPrefix("C") else { return nil }
            return open.filter { $0.value.cpuTraceback }.max { $0.value.start < $1.value.start }?.key
        }
        var i = -1
        for raw in log.consoleLines {
            i += 1
            let ctx = ConsoleLine.context(raw)
            let line = ConsoleLine.strip(String(raw))
            // `? func+0x..` entries are guesses of the unwinder: dropped from a log with timestamps, as
            // syzkaller does (without them it keeps them: they are never frames, but a seek such as an
            // RCU stall's `apic_timer_interrupt` can stop at one). Old kernels' `<EOI>` lines stay.
            if !ctx.isEmpty && ConsoleLine.isQuestionable(line) && !line.fastContains("<EOI>") { continue }
            if let g = KernelConsoleParser.group(line) {
                let key = owner(ctx) ?? (g.continues ? open.max { $0.value.start < $1.value.start }?.key : nil)
                if let k = key, let o = open[k], (g.continues && o.takesTail) || (o.headersOnly && o.group.header == g.header) {
                    if o.headersOnly && !g.continues { open[k]!.lines.append(line) } else { open[k]!.add(line) }
                    continue
                }
                if open.isEmpty && g.trails && i - lastClose <= tailLines { continue }
                // A new report: it ends the one open in its context, and any open report that has no caller id.
                for k in Array(open.keys) where k == ctx || !(k.hasPrefix("T") || k.hasPrefix("C")) || !(ctx.hasPrefix("T") || ctx.hasPrefix("C")) {
                    close(k, at: i)
                }
                open[ctx] = Open(g, line, at: i)
                continue
            }
            guard let k = owner(ctx) else { continue }
            open[k]!.add(line)
            if open[k]!.isOver { close(k, at: i) }
        }
        for k in Array(open.keys) { close(k, at: i) }
        return done.sorted { $0.start < $1.start }.map { ($0.group, $0.lines) }
    }
}
