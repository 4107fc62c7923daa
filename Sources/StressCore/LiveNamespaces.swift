// Which network namespaces are alive on the machine, and what keeps each one.
import Foundation

/// A namespace lives while a task is in it, a descriptor refers to it or a bind mount pins it
/// (the ways a campaign can leak one). Reading /proc finds all three; the walk is bounded by
/// the machine's processes.
enum LiveNamespaces {
    /// inode -> a description of one thing that keeps it (the first found).
    static func net() -> [UInt64: String] {
        var out: [UInt64: String] = [:]
        func add(_ link: String, _ holder: @autoclosure () -> String) {
            guard link.hasPrefix("net:["), link.hasSuffix("]"), let n = UInt64(link.dropFirst(5).dropLast()) else { return }
            if out[n] == nil { out[n] = holder() }
        }
        let fm = FileManager.default
        for pid in (try? fm.contentsOfDirectory(atPath: "/proc")) ?? [] where pid.allSatisfy(\.isNumber) {
            for tid in (try? fm.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
                if let l = try? fm.destinationOfSymbolicLink(atPath: "/proc/\(pid)/task/\(tid)/ns/net") {
                    add(l, "task \(tid) of pid \(pid)")
                }
            }
            for fd in (try? fm.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [] {
                if let l = try? fm.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"), l.hasPrefix("net:[") {
                    add(l, "fd \(fd) of pid \(pid)")
                }
            }
        }
        // nsfs bind mounts: mountinfo's root field is the namespace, the mount point follows.
        let info = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        for line in info.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard let dash = f.firstIndex(of: "-"), dash + 1 < f.count, f[dash + 1] == "nsfs", f.count > 4 else { continue }
            add(String(f[3]), "bind mount at \(f[4])")
        }
        return out
    }
}
