// Removes what coordinators that died without cleaning up (SIGKILL, a CI timeout) left behind.
import BPFKit
import Foundation
import Glibc

/// A campaign names its leftovers after its coordinator's pid: the campaign cgroup
/// `bpfstress.<pid>.<seed hex>` and the state directory `bpfstress-state-<pid>-XXXXXX` in
/// the temporary directory. At start, those whose pid is no longer alive are removed and
/// listed (run log and summary.json). A live pid is never touched: it may be another
/// campaign running right now.
public enum StaleCleanup {
    /// The pid a leftover's name carries, when it is one of ours: "bpfstress.<pid>.<...>" or
    /// "bpfstress-state-<pid>-<...>".
    static func ownerPID(_ name: String) -> pid_t? {
        for prefix in ["bpfstress.", "bpfstress-state-"] where name.hasPrefix(prefix) {
            let digits = name.dropFirst(prefix.count).prefix { $0.isNumber }
            let rest = name.dropFirst(prefix.count + digits.count)
            guard !digits.isEmpty, rest.first == "." || rest.first == "-", let p = pid_t(digits) else { return nil }
            return p
        }
        return nil
    }

    /// kill(pid, 0): ESRCH means no such process. EPERM means someone's process is there.
    static func alive(_ pid: pid_t) -> Bool { pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH) }

    /// Removes stale leftovers; returns one line for each thing removed (or that failed to be).
    public static func run(tempDirectory: String = NSTemporaryDirectory()) -> [String] {
        var done: [String] = []
        if let mount = Probes.cgroup2Mount() {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: mount)) ?? [] {
                guard let pid = ownerPID(name), name.hasPrefix("bpfstress."), !alive(pid) else { continue }
                do {
                    try CampaignCgroup.adopt(name: name).teardown()
                    done.append("removed stale campaign cgroup \(mount)/\(name) (coordinator pid \(pid) is gone)")
                } catch {
                    done.append("could not remove stale campaign cgroup \(mount)/\(name): \(error)")
                }
            }
        }
        let tmp = tempDirectory.hasSuffix("/") ? String(tempDirectory.dropLast()) : tempDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] {
            guard name.hasPrefix("bpfstress-state-"), let pid = ownerPID(name), !alive(pid) else { continue }
            do {
                try FileManager.default.removeItem(atPath: tmp + "/" + name)
                done.append("removed stale state directory \(tmp)/\(name) (coordinator pid \(pid) is gone)")
            } catch {
                done.append("could not remove stale state directory \(tmp)/\(name): \(error)")
            }
        }
        return done
    }
}
