// WinDbg/cdb text: `~*k` stacks, `!analyze -v`, and kernel `!process 0 7` / `!thread` listings, titled.

import Foundation
import Reports

/// Windows debugger output as ebpf-for-windows CI keeps it (ProcDump and kernel dumps read with cdb).
public enum WinDbgParser {
    /// `.  0  Id: 1a2c.1a30 Suspend: 1 Teb: ...` (a `~*k` thread header).
    static let userThread = Pattern(#"^\s*[.#]?\s*\d+\s+Id:\s+([0-9a-fA-F]+)\.([0-9a-fA-F]+)\s"#)
    /// `THREAD ffffc30a4e2c1080  Cid 0004.0c3c  Teb: ...` (`!process 0 7`, `!thread`).
    static let kernelThread = Pattern(#"^\s*THREAD\s+([0-9a-fA-F`]+)\s+Cid\s+([0-9a-fA-F]+)\.([0-9a-fA-F]+)"#)
    /// A stack row: optional frame number, Child-SP (or ChildEBP), RetAddr, then `: args :` or the call site.
    /// (`kb` on x64 has no Child-SP column.)
    static let frameRow = Pattern(#"^\s*(?:[0-9a-fA-F]{2,}\s+)?(?:[0-9a-fA-F]{8}(?:`?[0-9a-fA-F]{8})?\s+){1,2}(.+)$"#)
    /// An inlined frame: WinDbg prints `(Inline Function)` (x86: `(Inline)`) and `--------` placeholders
    /// where Child-SP and RetAddr (and `kb`'s arguments) would be; the call site is a real frame.
    static let inlineRow = Pattern(#"^\s*(?:[0-9a-fA-F]{2,}\s+)?\(Inline(?: Function)?\)\s+(?:-{8}(?:`-{8})?\s+)*(.+)$"#)
    /// A stack row, real or inlined: its call site part.
    static func row(_ l: String) -> [String]? { frameRow.groups(l) ?? (l.fastContains("(Inline") ? inlineRow.groups(l) : nil) }
    static let exceptionCode = Pattern(#"^\s*ExceptionCode:\s+([0-9a-fA-F]{8})"#)
    static let bugcheck = Pattern(#"^([A-Z][A-Z0-9_]{5,}) \(([0-9a-f]+)\)\s*$"#)

    public static func looksLikeWinDbg(_ text: String) -> Bool {
        if text.fastContains("FAILURE_BUCKET_ID:") || text.fastContains("STACK_TEXT:") { return true }
        guard text.fastContains("Call Site") else { return false }
        return text.split(separator: "\n").contains { userThread.matches(String($0)) || kernelThread.matches(String($0)) }
    }

    /// Exception codes as titles name them.
    static let exceptionNames: [String: String] = [
        "c0000005": "access violation", "c0000409": "stack buffer overrun", "c00000fd": "stack overflow",
        "c0000374": "heap corruption", "c000001d": "illegal instruction", "c0000094": "integer divide by zero",
        "c0000096": "privileged instruction", "80000003": "breakpoint", "c0000602": "fail fast",
        "e06d7363": "C++ exception", "c0000420": "assertion failure", "c0000008": "invalid handle",
    ]

    /// Frames that only say "this thread waits" or "this thread started": scheduler, wait and
    /// system-call stubs, thread start thunks and thread-pool plumbing (`module!function`).
    static let waitPatterns: [Pattern] = [
        #"^nt!Ki"#, #"^nt!Kx"#, #"^nt!KeWaitFor"#, #"^nt!KeDelayExecutionThread"#, #"^nt!KeRemoveQueue"#, #"^[^!]+!KeWaitFor"#, #"^[^!]+!KeDelayExecutionThread"#,
        #"^nt!ObWaitFor"#, #"^nt!NtWaitFor"#, #"^nt!Ex[pf]?WaitFor"#, #"^nt!ExpWorkerThread"#, #"^nt!PspSystemThreadStartup"#,
        #"^ntdll!Nt"#, #"^ntdll!Zw"#, #"^ntdll!Rtl\w*Wait"#, #"^ntdll!RtlpWaitOnCriticalSection"#,
        #"^ntdll!RtlpEnterCriticalSectionContended"#, #"^ntdll!RtlUserThreadStart"#, #"^ntdll!Tpp"#, #"^ntdll!TpP"#,
        #"^ntdll!Ldrp"#, #"^KERNELBASE!WaitFor"#, #"^KERNELBASE!SleepEx"#, #"^KERNELBASE!Sleep$"#,
        #"^KERNELBASE!DeviceIoControl"#, #"^(?i:kernel32)!WaitFor"#, #"^(?i:kernel32)!BaseThreadInitThunk"#,
        #"^(?i:kernel32)!Sleep"#, #"^(?i:kernel32)!DeviceIoControl"#, #"^ucrtbase!thread_start"#, #"^ucrtbased?!_?invoke_main"#,
    ].map { Pattern($0) }
    /// Frames that show the thread is blocked (rather than running) when they are innermost.
    static let blockingPatterns: [Pattern] = [
        #"^nt!KiSwapContext"#, #"^nt!KiCommitThreadWait"#, #"^nt!KeWaitFor"#, #"^nt!ExfAcquirePushLock"#, #"^nt!ExpWaitForResource"#, #"^ntdll!NtWaitFor"#, #"^ntdll!NtDelayExecution"#,
        #"^ntdll!NtRemoveIoCompletion"#, #"^ntdll!RtlpWaitOnCriticalSection"#, #"^ntdll!NtDeviceIoControlFile"#,
        #"^KERNELBASE!WaitFor"#, #"^ntdll!RtlpWaitOnAddress"#, #"^ntdll!NtWaitForAlertByThreadId"#,
    ].map { Pattern($0) }
    static let stringFunctions: Set<String> = ["memcpy", "memmove", "memset", "memcmp", "strlen", "strcpy", "strncpy", "strcmp",
                                               "wcslen", "wcscpy", "RtlCopyMemory", "RtlMoveMemory", "RtlFillMemory",
                                               "RtlCompareMemory", "memcpy_s", "memmove_s"]

    /// The bugcheck machinery at the top of a kernel STACK_TEXT.
    static let bugcheckFrames = ["nt!KeBugCheck", "nt!KiBugCheck", "nt!KiPageFault", "nt!KiGeneralProtectionFault",
                                 "nt!KiDoubleFault", "nt!KiSystemServiceHandler", "nt!Rtl", "nt!KiExceptionDispatch"]

    /// Frames that raise rather than fault: a crash is named after the code that called them.
    static let throwFrames: Set<String> = ["KERNELBASE!RaiseException", "VCRUNTIME140!_CxxThrowException",
                                           "VCRUNTIME140D!_CxxThrowException", "ucrtbase!abort", "ucrtbased!abort",
                                           "KERNELBASE!RaiseFailFastException", "ntdll!RtlReportFatalFailure"]

    /// `ebpfcore!ebpf_epoch_synchronize+0x7d [c:\ebpf\epoch.c @ 81]` -> `ebpfcore!ebpf_epoch_synchronize`;
    /// nil for a frame without a symbol (`ebpfcore+0x1a2b`, `0x0`).
    static func qualified(_ site: String) -> String? {
        var s = Substring(site.trimmingCharacters(in: .whitespaces))
        if let r = s.range(of: " [") { s = s[..<r.lowerBound] }
        if let r = s.range(of: " (TrapFrame") ?? s.range(of: " (Inline") { s = s[..<r.lowerBound] }
        guard let bang = s.firstIndex(of: "!") else { return nil }
        if let plus = s[bang...].range(of: "+0x", options: .backwards) { s = s[..<plus.lowerBound] }
        return String(s).trimmingCharacters(in: .whitespaces)
    }

    /// The function part of `module!function`.
    static func function(_ q: String) -> String { q.firstIndex(of: "!").map { String(q[q.index(after: $0)...]) } ?? q }

    static func isWait(_ q: String) -> Bool { waitPatterns.contains { $0.matches(q) } }

    /// Threads with their frames (qualified names; "??" for frames without a symbol), in dump order.
    static func threads(_ lines: [String]) -> [UserThread] {
        var out: [UserThread] = []
        for l in lines {
            if let g = userThread.groups(l) { out.append(UserThread(id: g[1] + "." + g[2], frames: [])); continue }
            if let g = kernelThread.groups(l) { out.append(UserThread(id: g[2] + "." + g[3], frames: [])); continue }
            guard !out.isEmpty, let g = row(l) else { continue }
            var site = g[1]
            if let r = site.range(of: " : ", options: .backwards) { site = String(site[r.upperBound...]) }
            // Wait-object lines (`ffffc30a4d8f1b60  SynchronizationEvent`) look like rows but name no code.
            guard site.fastContains("!") || site.fastContains("+0x") else { continue }
            out[out.count - 1].frames.append(qualified(site) ?? "??")
        }
        return out
    }

    /// Own-code frames of a thread: waits, thread start and unsymbolized frames dropped, module removed.
    static func meaningful(_ t: UserThread) -> [String] {
        t.frames.filter { $0 != "??" && !isWait($0) }.map(function)
    }

    /// Windows' own modules: a wait that starts in them is named after the API own code called.
    static let systemModules: Set<String> = ["nt", "ntdll", "kernelbase", "kernel32", "ucrtbase", "ucrtbased", "msvcp140",
                                             "vcruntime140", "hal", "wdf01000", "netio", "ndis"]

    static func module(_ q: String) -> String { q.firstIndex(of: "!").map { q[..<$0].lowercased() } ?? "" }

    /// A blocked thread: innermost a wait, then the primitive (its own first frame, or the last system
    /// frame before own code: `ExAcquirePushLockExclusiveEx`, `RtlEnterCriticalSection`) and the caller.
    static func blocked(_ t: UserThread) -> BlockedThread? {
        guard let top = t.frames.first, blockingPatterns.contains(where: { $0.matches(top) }) else { return nil }
        let m = t.frames.filter { $0 != "??" && !isWait($0) }
        guard m.count >= 2 else { return nil }
        if systemModules.contains(module(m[0])) {
            guard let j = m.firstIndex(where: { !systemModules.contains(module($0)) }) else { return nil }
            return BlockedThread(primitive: function(m[j - 1]), caller: function(m[j]))
        }
        return BlockedThread(primitive: function(m[0]), caller: function(m[1]))
    }

    public static func parse(_ text: String, file: String = "") -> TriageReport {
        let lines = text.consoleLines.map(String.init)
        if let code = lines.lazy.compactMap({ exceptionCode.groups($0)?[1].lowercased() }).first {
            return crash(code: code, lines: lines, file: file, text: text)
        }
        if let g = lines.lazy.compactMap({ bugcheck.groups($0) }).first, text.fastContains("STACK_TEXT:") {
            // The first frame of code that is not the bugcheck's own path (nt!KeBugCheckEx, nt!Ki* traps).
            let culprit = stackText(lines).first { $0 != "??" && !isWait($0) && !bugcheckFrames.contains(where: $0.hasPrefix) }
                .map(function) ?? ""
            let title = culprit.isEmpty ? g[1] : "\(g[1]) in \(culprit)"
            return TriageReport(file: file, type: "crash", title: title, frame: culprit, corrupted: culprit.isEmpty, text: text)
        }
        let ts = threads(lines)
        if let d = Deadlock.title(ts.compactMap(blocked)) {
            return TriageReport(file: file, type: "hang", title: d.title, frame: d.primitive, text: text)
        }
        // A lone blocked thread names the hang; else the first thread running own code. Ties: the name.
        let candidates = ts.compactMap(blocked).map(\.primitive)
        let running = ts.map(meaningful).compactMap(\.first)
        if let culprit = candidates.min() ?? running.min() {
            return TriageReport(file: file, type: "hang", title: "hang in \(culprit)", frame: culprit, text: text)
        }
        return TriageReport(file: file, type: "hang", title: "hang", frame: "", corrupted: true, text: text)
    }

    /// The frames of STACK_TEXT (qualified), up to the next blank line.
    static func stackText(_ lines: [String]) -> [String] {
        guard let start = lines.firstIndex(where: { $0.hasPrefix("STACK_TEXT:") }) else { return [] }
        var out: [String] = []
        for l in lines[(start + 1)...] {
            if l.trimmingCharacters(in: .whitespaces).isEmpty { if out.isEmpty { continue } else { break } }
            guard let g = row(l) else { continue }
            var site = g[1]
            if let r = site.range(of: " : ", options: .backwards) { site = String(site[r.upperBound...]) }
            out.append(qualified(site) ?? "??")
        }
        return out
    }

    /// `access violation in memcpy from CALLER` (a string function is named after its caller),
    /// else `access violation in FUNC`; the faulting frame is STACK_TEXT's first symbolized one.
    static func crash(code: String, lines: [String], file: String, text: String) -> TriageReport {
        let kind = exceptionNames[code] ?? "exception 0x\(code)"
        let frames = stackText(lines).filter { $0 != "??" && !throwFrames.contains($0) }.map(function)
        guard let top = frames.first else {
            return TriageReport(file: file, type: "crash", title: kind, frame: "", corrupted: true, text: text)
        }
        if stringFunctions.contains(top), let caller = frames.dropFirst().first(where: { !stringFunctions.contains($0) }) {
            return TriageReport(file: file, type: "crash", title: "\(kind) in \(top) from \(caller)", frame: caller, text: text)
        }
        return TriageReport(file: file, type: "crash", title: "\(kind) in \(top)", frame: top, text: text)
    }
}
