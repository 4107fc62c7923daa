import CBPFStress
import Glibc
import SystemPackage

/// A struct_ops object registered through libbpf (bpfs_structops.c): struct_ops needs
/// BTF relocation that BPFKit's own loader does not do, so this one path bypasses the
/// runtime entry and always talks to the kernel.
public final class StructOpsObject {
    public let path: String
    /// The name the ops were registered under (e.g. the TCP congestion control name).
    public let opsName: String
    private var handle: OpaquePointer?
    public private(set) var isRegistered = true

    private init(path: String, opsName: String, handle: OpaquePointer) {
        self.path = path
        self.opsName = opsName
        self.handle = handle
    }

    /// Opens, loads and registers the struct_ops variable `map` of the object at `path`
    /// (bpf_object__open_file/open_mem, bpf_object__load, bpf_map__attach_struct_ops),
    /// renamed to `name` first so that copies can coexist (at most 15 bytes).
    public static func register(path: String, map: String, name: String) throws -> StructOpsObject {
        var err: Int32 = 0
        var msg = [CChar](repeating: 0, count: 512)
        guard let h = bpfs_structops_register(path, map, name, &err, &msg, UInt32(msg.count)) else {
            let text = String(cString: msg)
            throw BPFError(code: .loader, operation: "struct_ops register",
                           errno: err < 0 && -err < 4000 ? Errno(rawValue: -err) : nil,
                           detail: "\(path) map \(map) as \(name)" + (text.isEmpty ? "" : ": \(text)"))
        }
        return StructOpsObject(path: path, opsName: name, handle: h)
    }

    /// bpf_link__destroy of the registration: the ops disappear for new users (sockets
    /// already using them keep them until they close).
    public func unregister() throws {
        guard let h = handle else {
            throw BPFError(code: .syscall, operation: "struct_ops unregister", errno: .badFileDescriptor, detail: opsName)
        }
        let rc = bpfs_structops_unregister(h)
        isRegistered = false
        if rc < 0 {
            throw BPFError(code: .syscall, operation: "struct_ops unregister", errno: Errno(rawValue: -rc), detail: opsName)
        }
    }

    /// A map of the object by name, as an fd of its own (dup of libbpf's).
    public func map(_ name: String) throws -> MapFD {
        guard let h = handle else {
            throw BPFError(code: .loader, operation: "find map", errno: .badFileDescriptor, detail: name)
        }
        let fd = bpfs_structops_map_fd(h, name)
        guard fd >= 0 else {
            throw BPFError(code: .loader, operation: "find map", errno: Errno(rawValue: -fd), detail: "\(path): \(name)")
        }
        var info = bpfs_map_info()
        var krt = bpfs_kernel_rt()
        let spec: MapSpec? = bpfs_map_info(&krt, fd, &info) == 0
            ? MapSpec(type: BPFMapType(rawValue: info.type), keySize: info.key_size, valueSize: info.value_size,
                      maxEntries: info.max_entries, flags: info.map_flags, name: cName(info.name))
            : nil
        return MapFD(fd: fd, runtime: KernelRuntime(), spec: spec)
    }

    /// Ids of the object's maps that user space can see (for leak accounting).
    public func mapID(_ name: String) -> UInt32? {
        guard let m = try? map(name) else { return nil }
        defer { m.close() }
        return try? m.runtime.mapInfo(m).id
    }

    /// Ids of the object's programs (for leak accounting).
    public func programIDs() -> [UInt32] {
        guard let h = handle else { return [] }
        var ids: [UInt32] = []
        for i in 0..<bpfs_structops_prog_count(h) {
            let fd = bpfs_structops_prog_fd(h, i)
            guard fd >= 0 else { continue }
            var info = bpfs_prog_info()
            var rt = bpfs_kernel_rt()
            if bpfs_prog_info(&rt, fd, &info) == 0 { ids.append(info.id) }
        }
        return ids
    }

    /// Unregisters if needed and closes every fd (bpf_object__close). Idempotent.
    public func close() {
        guard let h = handle else { return }
        handle = nil
        isRegistered = false
        bpfs_structops_close(h)
    }

    deinit { close() }
}

/// Decoded bpf_link_info.netns.
public struct NetnsLinkInfo: Equatable, Sendable {
    /// 0 once the namespace the link was attached to is gone.
    public let netnsInode: UInt32
    public let attachType: BPFAttachType
    public init(netnsInode: UInt32, attachType: BPFAttachType) { self.netnsInode = netnsInode; self.attachType = attachType }
}

extension Runtime {
    /// BPF_OBJ_GET_INFO_BY_FD on a netns link (bpfs_netns_link_info); EINVAL for other links.
    public func netnsLinkInfo(_ link: LinkFD) throws -> NetnsLinkInfo {
        var ino: UInt32 = 0, type: UInt32 = 0
        let rc = withRT { bpfs_netns_link_info($0, link.liveFD, &ino, &type) }
        guard rc == 0 else {
            throw BPFError(code: .syscall, operation: "BPF_OBJ_GET_INFO_BY_FD", errno: Errno(rawValue: -rc), detail: "netns link")
        }
        return NetnsLinkInfo(netnsInode: ino, attachType: BPFAttachType(rawValue: type))
    }
}
