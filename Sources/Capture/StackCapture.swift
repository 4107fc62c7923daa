import CBPFCapture
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// All-thread capture: /proc state first (seized threads all look like ptrace_stop), then
/// user stacks through one synchronous C call that seizes, unwinds and detaches.
public enum StackCapture {
    /// Frames per thread.
    public static var maxFrames: Int32 = 64
    /// Also ask libunwind for names (slower); only used where libelf finds nothing.
    public static var libunwindNames = false
    /// Function name given to an unnamed signal trampoline frame.
    public static let signalFrameName = "<signal handler called>"

    /// Captures every thread of pid. With `userStacks` false nothing is stopped.
    public static func capture(pid: Int32, userStacks: Bool = true) -> ProcessCapture {
        let t0 = Date()
        var pc = readProcState(pid: pid)
        if userStacks {
            let maps = MapEntry.read(pid: pid)
            if let c = bpfs_capture_process(pid, nil, 0, maxFrames, libunwindNames ? 1 : 0) {
                defer { bpfs_capture_free(c) }
                merge(into: &pc, capture: c, maps: maps)
            }
        }
        pc.durationSeconds = Date().timeIntervalSince(t0)
        return pc
    }

    /// Captures root and every descendant (from the ppid of each /proc entry), root first.
    public static func captureTree(root: Int32) -> [ProcessCapture] {
        ([root] + ProcFS.descendants(of: root)).map { capture(pid: $0) }
    }

    /// /proc part of a capture: comm, state, wchan, syscall, kernel stack, futex owner.
    static func readProcState(pid: Int32) -> ProcessCapture {
        let comm = ProcFS.statFields("/proc/\(pid)/stat")?.comm ?? ""
        let threads = ProcFS.tids(pid).map { readThread(pid: pid, tid: $0) }
        return ProcessCapture(pid: pid, comm: comm, cmdline: ProcFS.cmdline(pid), threads: threads, durationSeconds: 0)
    }

    static func readThread(pid: Int32, tid: Int32) -> ThreadCapture {
        let base = "/proc/\(pid)/task/\(tid)"
        let stat = ProcFS.statFields(base + "/stat")
        let letter = stat?.fields.first ?? "?"
        let sc = Syscalls.parse(ProcFS.read(base + "/syscall") ?? "")
        var owner: Int32?
        // glibc pthread_mutex_t: int __lock (the futex word); unsigned __count; int __owner.
        if let sc, sc.name == "futex", [0, 9].contains(Int(sc.args[1] & 0x7f)),
           let b = ProcFS.readMemory(pid: pid, address: sc.args[0] &+ 8, count: 4) {
            let o = Int32(bitPattern: UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24)
            if o > 0, o != tid, FileManager.default.fileExists(atPath: "/proc/\(pid)/task/\(o)") { owner = o }
        }
        return ThreadCapture(tid: tid, comm: stat?.comm ?? "", state: ProcFS.stateString(letter),
                             wchan: ProcFS.read(base + "/wchan") ?? "", syscall: sc,
                             kernelStack: ProcFS.kernelStack(pid: pid, tid: tid), userStack: [], error: nil,
                             futexOwner: owner)
    }

    /// Adds the user stacks (and errors) of a C capture result to the /proc state.
    static func merge(into pc: inout ProcessCapture, capture c: OpaquePointer, maps: [MapEntry]) {
        var maps = maps
        var reread = false
        for t in 0..<bpfs_capture_thread_count(c) {
            let tid = bpfs_capture_thread_tid(c, t)
            var frames: [StackFrame] = []
            var afterSignal = false
            for f in 0..<bpfs_capture_frame_count(c, t) {
                let pcv = bpfs_capture_frame_pc(c, t, f)
                if !reread, MapEntry.find(maps, pcv) == nil {
                    // Mapped after the first read (dlopen during capture): read once more.
                    reread = true
                    let fresh = MapEntry.read(pid: pc.pid)
                    if !fresh.isEmpty { maps = fresh }
                }
                let uname = String(cString: bpfs_capture_frame_name(c, t, f))
                let isSignal = bpfs_capture_frame_is_signal(c, t, f) != 0
                var frame = Symbolizer.shared.frame(
                    pc: pcv, maps: maps, isReturnAddress: f > 0 && !afterSignal,
                    fallbackName: uname.isEmpty ? nil : uname, fallbackOffset: bpfs_capture_frame_offset(c, t, f))
                // Same marker as gdb when the trampoline has no symbol (no libc debug info).
                if isSignal && frame.function == nil { frame.function = StackCapture.signalFrameName }
                frames.append(frame)
                afterSignal = isSignal
            }
            let err = bpfs_capture_thread_errno(c, t) != 0 ? String(cString: bpfs_capture_thread_error(c, t)) : nil
            if let i = pc.threads.firstIndex(where: { $0.tid == tid }) {
                pc.threads[i].userStack = frames
                pc.threads[i].error = err
            } else if err == nil || !frames.isEmpty {
                // A thread that appeared while seizing: its /proc state is read now.
                var th = readThread(pid: pc.pid, tid: tid)
                th.userStack = frames
                th.error = err
                pc.threads.append(th)
            }
        }
        pc.threads.sort { $0.tid < $1.tid }
    }

    /// Unwinds threads that the caller traces and has stopped (supervisor path).
    static func unwindStopped(into pc: inout ProcessCapture, tids: [Int32]) {
        let maps = MapEntry.read(pid: pc.pid)
        guard !tids.isEmpty, let c = bpfs_capture_stopped(pc.pid, tids, Int32(tids.count), maxFrames,
                                                          libunwindNames ? 1 : 0) else { return }
        defer { bpfs_capture_free(c) }
        merge(into: &pc, capture: c, maps: maps)
    }
}
