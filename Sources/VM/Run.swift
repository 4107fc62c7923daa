// Small helpers to run a host tool to completion with a time bound, and to kill by pid.
import Capture
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs short host commands (the initramfs build, qemu's probe) with their output captured.
enum Run {
    struct Result { var status: Int32; var output: String }

    /// Spawns argv with stdout and stderr into one pipe, reads until EOF or `timeout` seconds,
    /// then SIGKILLs the process group by pid if it is still there. Status 124 on timeout.
    static func capture(_ argv: [String], timeout: Double) throws -> Result {
        let p = try Spawn.pipe()
        let devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if devnull >= 0 { close(devnull) } }
        let pid: Int32
        do { pid = try Spawn.start(argv, fds: [devnull, p.write, p.write]) } catch {
            close(p.read); close(p.write)
            throw VMError.environment("cannot start \(argv[0]): \(error)")
        }
        close(p.write)
        defer { close(p.read) }
        var out = Data()
        let end = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 65536)
        var timedOut = false
        while true {
            let left = end.timeIntervalSinceNow
            if left <= 0 { timedOut = true; break }
            var pfd = pollfd(fd: p.read, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, Int32(min(left, 1) * 1000))
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { continue }
            let n = read(p.read, &buf, buf.count)
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        if timedOut { kill(-pid, SIGKILL); kill(pid, SIGKILL) }
        let st = Spawn.wait(pid, timeout: 10) ?? 0
        let status: Int32 = timedOut ? 124 : (WaitStatus(st).exited ? WaitStatus(st).exitCode : 128 + WaitStatus(st).termSignal)
        return Result(status: status, output: String(decoding: out, as: UTF8.self))
    }
}
