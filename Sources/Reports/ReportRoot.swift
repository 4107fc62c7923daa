// The report root checked before a campaign starts.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A run must not end unable to write its report: `--report-dir` is created and proven
/// writable before any worker or plugin runs.
public enum ReportRoot {
    /// nil when `root` is (or could be made) a writable directory, else why not, in one line.
    /// mkdir(2) of each missing component, stat(2), then open(O_CREAT|O_EXCL) + unlink(2) of a
    /// probe file (permission bits do not stop root; a read-only mount or a full disk does).
    public static func problem(_ root: String) -> String? {
        if root.isEmpty { return "is empty" }
        var st = stat()
        if stat(root, &st) != 0 {
            do { try RunDirectory.makeDirectories(root) } catch let e as ReportIOError {
                if e.errno == EEXIST || e.errno == ENOTDIR { return "\(root): \(e.path) is not a directory" }
                return "\(root): cannot create \(e.path): \(String(cString: strerror(e.errno)))"
            } catch { return "\(root): cannot create it: \(error)" }
            guard stat(root, &st) == 0 else { return "\(root): \(String(cString: strerror(errno)))" }
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return "\(root) is not a directory" }
        let probe = root + "/.bpfstress-write-probe.\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "\(root) is not writable: \(String(cString: strerror(errno)))" }
        close(fd)
        unlink(probe)
        return nil
    }
}
