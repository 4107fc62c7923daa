// EPIPE-safe writes to standard error, used by every command and the coordinator.
import Glibc

/// Lines to stderr through write(2). FileHandle.write traps on EPIPE (`bpfstress run 2>&1 |
/// head -1`), which would kill a coordinator before it writes its report and cleans up; a
/// diagnostic that cannot be delivered is dropped instead.
public enum Stderr {
    /// write(2) to fd 2 until all of `text` is out; EINTR is retried, any other error
    /// (EPIPE, EBADF, EIO) drops the rest silently.
    public static func write(_ text: String) {
        var bytes = Array(text.utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + off, $0.count - off) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            off += n
        }
        bytes.removeAll()
    }

    /// One line, "\n" appended.
    public static func line(_ text: String) { write(text + "\n") }

    /// signal(SIGPIPE, SIG_IGN): a closed stdout or stderr pipe becomes EPIPE from write(2),
    /// not the death of the process. Called first thing by every command.
    public static func ignoreSIGPIPE() { signal(SIGPIPE, SIG_IGN) }
}
