import Foundation
import Glibc
import SystemPackage

/// A child cgroup of the cgroup2 mount that a campaign attaches programs to.
/// Never the root cgroup: the name must contain "bpfstress" and be a plain name.
public final class CampaignCgroup {
    public let path: String
    /// The cgroup2 mount this cgroup lives under.
    public let mountRoot: String
    /// O_RDONLY|O_DIRECTORY fd of the cgroup, the target of attach/link/query; -1 after teardown.
    public private(set) var fd: Int32
    private var removed = false

    private init(path: String, mountRoot: String, fd: Int32) {
        self.path = path
        self.mountRoot = mountRoot
        self.fd = fd
    }

    /// mkdir <cgroup2 mount>/<name> and open it. Throws `.cgroup` (EEXIST if it exists).
    public static func create(name: String) throws -> CampaignCgroup {
        guard name.contains("bpfstress"), !name.contains("/"), name != ".", name != "..", !name.isEmpty else {
            throw BPFError(code: .cgroup, operation: "cgroup create", errno: .invalidArgument,
                           detail: "name '\(name)' must be a single path component containing 'bpfstress'")
        }
        guard let root = Probes.cgroup2Mount() else {
            throw BPFError(code: .cgroup, operation: "cgroup create", errno: .noSuchFileOrDirectory, detail: "no cgroup2 mount in /proc/self/mountinfo")
        }
        let path = root + "/" + name
        if mkdir(path, 0o755) != 0 {
            throw BPFError(code: .cgroup, operation: "cgroup mkdir", errno: Errno(rawValue: errno), detail: path)
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 {
            let e = Errno(rawValue: errno)
            rmdir(path)
            throw BPFError(code: .cgroup, operation: "cgroup open", errno: e, detail: path)
        }
        return CampaignCgroup(path: path, mountRoot: root, fd: fd)
    }

    /// Opens an existing campaign cgroup `<cgroup2 mount>/<name>` (one a dead coordinator
    /// left), so that teardown() can remove it. The same name rules as create.
    public static func adopt(name: String) throws -> CampaignCgroup {
        guard name.contains("bpfstress"), !name.contains("/"), name != ".", name != "..", !name.isEmpty,
              let root = Probes.cgroup2Mount() else {
            throw BPFError(code: .cgroup, operation: "cgroup adopt", errno: .invalidArgument, detail: name)
        }
        let path = root + "/" + name
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw BPFError(code: .cgroup, operation: "cgroup open", errno: Errno(rawValue: errno), detail: path) }
        return CampaignCgroup(path: path, mountRoot: root, fd: fd)
    }

    /// The cgroup id (inode number of its directory), as bpf link info reports it.
    public var id: UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    /// Moves `pid` into this cgroup (write to cgroup.procs).
    public func add(pid: pid_t) throws {
        if case .failure(let e) = FileUtil.write(path + "/cgroup.procs", "\(pid)\n") {
            throw BPFError(code: .cgroup, operation: "cgroup add pid", errno: e, detail: "\(pid) -> \(path)")
        }
    }

    /// Pids currently in the cgroup (empty when unreadable).
    public func procs() -> [pid_t] {
        guard let text = FileUtil.read(path + "/cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Detaches every program still attached by BPF_PROG_ATTACH for the cgroup
    /// attach types (links stay: closing them is their owner's job), moves remaining
    /// pids to the mount root's cgroup.procs, then rmdir with a bounded retry on
    /// EBUSY (<= 2 s). Idempotent.
    public func teardown() throws {
        if removed { return }
        let rt = KernelRuntime()
        if fd >= 0 {
            for type in BPFAttachType.cgroupTypes {
                guard let q = try? rt.progQuery(target: fd, type: type) else { continue }
                for id in q.programIDs {
                    guard let p = try? rt.program(byID: id) else { continue }
                    _ = rt.progDetach(fd: p.fd, target: fd, type: type)
                    p.close()
                }
            }
            close(fd)
            fd = -1
        }
        let deadline = FileUtil.monotonicNs() + 2_000_000_000
        while true {
            // Children first (a worker that died mid-churn leaves its child cgroups behind).
            removeChildren(of: path)
            for pid in procs() {
                _ = FileUtil.write(mountRoot + "/cgroup.procs", "\(pid)\n")
            }
            if rmdir(path) == 0 || errno == ENOENT {
                removed = true
                return
            }
            let e = errno
            if e != EBUSY || FileUtil.monotonicNs() >= deadline {
                throw BPFError(code: .cgroup, operation: "cgroup rmdir", errno: Errno(rawValue: e),
                               detail: "\(path) (pids left: \(procs()))")
            }
            usleep(10_000)
        }
    }

    /// Depth-first: moves each child cgroup's processes to the mount root and removes it.
    /// rmdir works with programs still attached; the kernel releases them with the cgroup.
    func removeChildren(of dir: String, depth: Int = 0) {
        guard depth < 16, let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for e in entries {
            let child = dir + "/" + e
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: child, isDirectory: &isDir), isDir.boolValue else { continue }
            removeChildren(of: child, depth: depth + 1)
            for pid in (FileUtil.read(child + "/cgroup.procs") ?? "").split(separator: "\n") {
                _ = FileUtil.write(mountRoot + "/cgroup.procs", "\(pid)\n")
            }
            _ = rmdir(child)
        }
    }

    /// Best-effort cleanup if the owner forgot teardown().
    deinit {
        if !removed { try? teardown() }
    }
}
