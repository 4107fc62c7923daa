import CBPFStress
import Glibc
import SystemPackage

/// Maps a shim result (>= 0 or -errno) into the Result form used inside BPFKit.
@inline(__always)
func bpfResult(_ rc: Int32) -> Result<Int32, Errno> {
    rc >= 0 ? .success(rc) : .failure(Errno(rawValue: -rc))
}

extension Result where Failure == Errno {
    /// Throws a `.syscall` BPFError named after the bpf command.
    @inline(__always)
    func orThrow(_ operation: String, detail: String = "") throws -> Success {
        switch self {
        case .success(let v): return v
        case .failure(let e): throw BPFError(code: .syscall, operation: operation, errno: e, detail: detail)
        }
    }
}

/// C char[16] tuple -> String (names are NUL-terminated or exactly 16 bytes).
func cName<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.prefix(while: { $0 != 0 })
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Runtime {
    /// Runs `body` with a pointer to this runtime's bpfs_rt.
    @inline(__always)
    func withRT<R>(_ body: (UnsafePointer<bpfs_rt>) throws -> R) rethrows -> R {
        var rt = entry.raw
        return try withUnsafePointer(to: &rt) { try body($0) }
    }

    /// BPF_MAP_CREATE (bpfs_map_create).
    public func mapCreate(_ spec: MapSpec) throws -> MapFD {
        var flags = spec.flags
        if spec.numaNode != nil { flags |= BPFMapFlags.numaNode }
        let fd = try withRT { rt in
            spec.name.withCString { name in
                bpfResult(bpfs_map_create(rt, spec.type.rawValue, spec.keySize, spec.valueSize,
                                          spec.maxEntries, flags, name, spec.numaNode ?? 0))
            }
        }.orThrow("BPF_MAP_CREATE", detail: "\(spec.type) key \(spec.keySize) value \(spec.valueSize) max \(spec.maxEntries) flags 0x\(String(spec.flags, radix: 16))")
        return MapFD(fd: fd, runtime: self, spec: spec)
    }

    /// BPF_PROG_LOAD (bpfs_prog_load). On failure without a log, loads again with
    /// log level 1 so that `detail` carries the verifier log tail; the thrown errno
    /// is the first attempt's (the retry may only add ENOSPC for a truncated log).
    public func progLoad(type: BPFProgType, instructions: [BPFInstruction], license: String,
                         expectedAttachType: BPFAttachType?, name: String,
                         logLevel: UInt32 = 0) throws -> ProgramFD {
        precondition(MemoryLayout<BPFInstruction>.stride == 8, "struct bpf_insn is 8 bytes")
        let eat = expectedAttachType?.rawValue ?? 0
        func load(_ level: UInt32, _ log: UnsafeMutableBufferPointer<CChar>?) -> Int32 {
            withRT { rt in
                instructions.withUnsafeBytes { insns in
                    license.withCString { lic in
                        name.withCString { nm in
                            bpfs_prog_load(rt, type.rawValue, insns.baseAddress, UInt32(instructions.count), lic,
                                           log?.baseAddress, UInt32(log?.count ?? 0), log == nil ? 0 : level,
                                           eat, nm, 0, 0)
                        }
                    }
                }
            }
        }
        let logSize = 1 << 20
        var rc: Int32
        var logText = ""
        if logLevel > 0 {
            let buf = UnsafeMutableBufferPointer<CChar>.allocate(capacity: logSize)
            defer { buf.deallocate() }
            rc = load(logLevel, buf)
            logText = String(cString: buf.baseAddress!)
        } else {
            rc = load(0, nil)
            if rc < 0 {
                let buf = UnsafeMutableBufferPointer<CChar>.allocate(capacity: logSize)
                defer { buf.deallocate() }
                let retry = load(1, buf)
                logText = String(cString: buf.baseAddress!)
                if retry >= 0 { _ = Glibc.close(retry) }  // flaky first failure: report it anyway
            }
        }
        guard rc >= 0 else {
            throw BPFError(code: .syscall, operation: "BPF_PROG_LOAD", errno: Errno(rawValue: -rc),
                           detail: "\(name): " + Self.logTail(logText))
        }
        return ProgramFD(fd: rc, runtime: self, name: name, type: type)
    }

    /// Last lines of a verifier log (the reason is at the end).
    static func logTail(_ log: String, lines: Int = 12) -> String {
        let all = log.split(separator: "\n", omittingEmptySubsequences: true)
        return all.suffix(lines).joined(separator: "\n")
    }

    /// BPF_PROG_ATTACH (bpfs_prog_attach) of `prog` to a cgroup (or other) fd.
    public func progAttach(_ prog: ProgramFD, target: Int32, type: BPFAttachType, flags: UInt32) throws {
        _ = try withRT { bpfResult(bpfs_prog_attach($0, prog.liveFD, target, type.rawValue, flags)) }
            .orThrow("BPF_PROG_ATTACH")
    }

    /// BPF_PROG_DETACH (bpfs_prog_detach); `prog` nil detaches the single non-multi program.
    public func progDetach(_ prog: ProgramFD?, target: Int32, type: BPFAttachType) throws {
        _ = try withRT { bpfResult(bpfs_prog_detach($0, prog?.liveFD ?? -1, target, type.rawValue)) }
            .orThrow("BPF_PROG_DETACH")
    }

    /// BPF_PROG_DETACH by raw program fd (for teardown of programs found by id).
    func progDetach(fd: Int32, target: Int32, type: BPFAttachType) -> Result<Int32, Errno> {
        withRT { bpfResult(bpfs_prog_detach($0, fd, target, type.rawValue)) }
    }

    /// BPF_LINK_CREATE (bpfs_link_create).
    public func linkCreate(_ prog: ProgramFD, target: Int32, type: BPFAttachType, flags: UInt32 = 0) throws -> LinkFD {
        let fd = try withRT { bpfResult(bpfs_link_create($0, prog.liveFD, target, type.rawValue, flags)) }
            .orThrow("BPF_LINK_CREATE")
        return LinkFD(fd: fd, runtime: self)
    }

    /// BPF_LINK_DETACH (bpfs_link_detach): the link fd stays open but is detached.
    public func linkDetach(_ link: LinkFD) throws {
        _ = try withRT { bpfResult(bpfs_link_detach($0, link.liveFD)) }.orThrow("BPF_LINK_DETACH")
    }

    /// BPF_PROG_QUERY (bpfs_prog_query); regrows the id buffer on ENOSPC.
    public func progQuery(target: Int32, type: BPFAttachType, flags: UInt32 = 0) throws -> (attachFlags: UInt32, programIDs: [UInt32]) {
        var capacity: UInt32 = 16
        for _ in 0..<8 {
            var ids = [UInt32](repeating: 0, count: Int(capacity))
            var count = capacity
            var attachFlags: UInt32 = 0
            let r = withRT { rt in
                ids.withUnsafeMutableBufferPointer { bpfResult(bpfs_prog_query(rt, target, type.rawValue, flags, &attachFlags, $0.baseAddress, &count)) }
            }
            switch r {
            case .success:
                return (attachFlags, Array(ids.prefix(Int(min(count, capacity)))))
            case .failure(let e) where e == .noSpace:
                capacity = max(count, capacity * 2)
            case .failure:
                _ = try r.orThrow("BPF_PROG_QUERY")
            }
        }
        throw BPFError(code: .syscall, operation: "BPF_PROG_QUERY", errno: .noSpace, detail: "program count kept growing")
    }

    /// BPF_OBJ_PIN (bpfs_obj_pin): `path` must be inside a bpffs mount.
    public func objPin(_ fd: Int32, path: String) throws {
        _ = try withRT { rt in path.withCString { bpfResult(bpfs_obj_pin(rt, fd, $0)) } }
            .orThrow("BPF_OBJ_PIN", detail: path)
    }

    /// BPF_OBJ_GET (bpfs_obj_get): the caller owns the returned fd.
    public func objGet(path: String) throws -> Int32 {
        try withRT { rt in path.withCString { bpfResult(bpfs_obj_get(rt, $0, 0)) } }
            .orThrow("BPF_OBJ_GET", detail: path)
    }

    /// BPF_{PROG,MAP,LINK,BTF}_GET_NEXT_ID; nil when `after` is the last id (ENOENT).
    /// Every live id of `kind`, in order: the one get_next_id walk everyone uses. Bounded (ids
    /// are at most INT_MAX and a machine has far fewer than a million objects); an error ends it.
    public func allIDs(_ kind: BPFObjectKind, limit: Int = 1_000_000) -> [UInt32] {
        var out: [UInt32] = []
        var cur: UInt32 = 0
        while out.count < limit, let next = try? nextID(kind, after: cur) {
            out.append(next)
            cur = next
        }
        return out
    }

    public func nextID(_ kind: BPFObjectKind, after: UInt32) throws -> UInt32? {
        var next: UInt32 = 0
        let (rc, op): (Int32, String) = withRT { rt in
            switch kind {
            case .program: return (bpfs_prog_get_next_id(rt, after, &next), "BPF_PROG_GET_NEXT_ID")
            case .map: return (bpfs_map_get_next_id(rt, after, &next), "BPF_MAP_GET_NEXT_ID")
            case .link: return (bpfs_link_get_next_id(rt, after, &next), "BPF_LINK_GET_NEXT_ID")
            case .btf: return (bpfs_btf_get_next_id(rt, after, &next), "BPF_BTF_GET_NEXT_ID")
            }
        }
        if rc == -ENOENT { return nil }
        _ = try bpfResult(rc).orThrow(op)
        return next
    }

    /// BPF_PROG_GET_FD_BY_ID (bpfs_prog_get_fd_by_id).
    public func program(byID id: UInt32) throws -> ProgramFD {
        let fd = try withRT { bpfResult(bpfs_prog_get_fd_by_id($0, id)) }.orThrow("BPF_PROG_GET_FD_BY_ID", detail: "id \(id)")
        var info = bpfs_prog_info()
        let name: String
        let type: BPFProgType
        if withRT({ bpfs_prog_info($0, fd, &info) }) == 0 {
            name = cName(info.name)
            type = BPFProgType(rawValue: info.type)
        } else {
            name = ""
            type = .unspec
        }
        return ProgramFD(fd: fd, runtime: self, name: name, type: type)
    }

    /// BPF_MAP_GET_FD_BY_ID (bpfs_map_get_fd_by_id); reads the spec back from map info.
    public func map(byID id: UInt32) throws -> MapFD {
        let fd = try withRT { bpfResult(bpfs_map_get_fd_by_id($0, id, 0)) }.orThrow("BPF_MAP_GET_FD_BY_ID", detail: "id \(id)")
        var info = bpfs_map_info()
        var spec: MapSpec?
        if withRT({ bpfs_map_info($0, fd, &info) }) == 0 {
            spec = MapSpec(type: BPFMapType(rawValue: info.type), keySize: info.key_size,
                           valueSize: info.value_size, maxEntries: info.max_entries,
                           flags: info.map_flags, name: cName(info.name))
        }
        return MapFD(fd: fd, runtime: self, spec: spec)
    }

    /// BPF_LINK_GET_FD_BY_ID (bpfs_link_get_fd_by_id).
    public func link(byID id: UInt32) throws -> LinkFD {
        let fd = try withRT { bpfResult(bpfs_link_get_fd_by_id($0, id)) }.orThrow("BPF_LINK_GET_FD_BY_ID", detail: "id \(id)")
        return LinkFD(fd: fd, runtime: self)
    }

    /// BPF_RAW_TRACEPOINT_OPEN (bpfs_raw_tracepoint_open), e.g. name "contention_begin".
    public func rawTracepointOpen(name: String, program: ProgramFD) throws -> LinkFD {
        let fd = try withRT { rt in name.withCString { bpfResult(bpfs_raw_tracepoint_open(rt, $0, program.liveFD)) } }
            .orThrow("BPF_RAW_TRACEPOINT_OPEN", detail: name)
        return LinkFD(fd: fd, runtime: self)
    }

    /// BPF_ENABLE_STATS (bpfs_enable_stats) with BPF_STATS_RUN_TIME: run_cnt/run_time_ns
    /// are counted while the returned fd (owned by the caller) stays open.
    /// `runTime: false` asks for no statistic, which the kernel does not offer.
    public func enableStats(runTime: Bool = true) throws -> Int32 {
        guard runTime else {
            throw BPFError(code: .unsupported, operation: "BPF_ENABLE_STATS", detail: "only BPF_STATS_RUN_TIME exists")
        }
        return try withRT { bpfResult(bpfs_enable_stats($0, 0)) }.orThrow("BPF_ENABLE_STATS")
    }

    /// BPF_OBJ_GET_INFO_BY_FD on a program (bpfs_prog_info).
    public func programInfo(_ p: ProgramFD) throws -> ProgramInfo {
        var i = bpfs_prog_info()
        _ = try withRT { bpfResult(bpfs_prog_info($0, p.liveFD, &i)) }.orThrow("BPF_OBJ_GET_INFO_BY_FD", detail: "program")
        return ProgramInfo(id: i.id, type: BPFProgType(rawValue: i.type), name: cName(i.name),
                           runCount: i.run_cnt, runTimeNs: i.run_time_ns, xlatedLength: i.xlated_prog_len,
                           jitedLength: i.jited_prog_len, mapCount: i.nr_map_ids, verifiedInstructions: i.verified_insns)
    }

    /// BPF_OBJ_GET_INFO_BY_FD on a map (bpfs_map_info).
    public func mapInfo(_ m: MapFD) throws -> MapInfo {
        var i = bpfs_map_info()
        _ = try withRT { bpfResult(bpfs_map_info($0, m.liveFD, &i)) }.orThrow("BPF_OBJ_GET_INFO_BY_FD", detail: "map")
        return MapInfo(id: i.id, type: BPFMapType(rawValue: i.type), keySize: i.key_size, valueSize: i.value_size,
                       maxEntries: i.max_entries, flags: i.map_flags, name: cName(i.name))
    }

    /// BPF_OBJ_GET_INFO_BY_FD on a link (bpfs_link_info).
    public func linkInfo(_ l: LinkFD) throws -> LinkInfo {
        var i = bpfs_link_info()
        _ = try withRT { bpfResult(bpfs_link_info($0, l.liveFD, &i)) }.orThrow("BPF_OBJ_GET_INFO_BY_FD", detail: "link")
        let isCgroup = i.type == BPFLinkType.cgroup.rawValue
        return LinkInfo(id: i.id, type: BPFLinkType(rawValue: i.type), programID: i.prog_id,
                        cgroupID: isCgroup ? i.cgroup_id : nil,
                        attachType: isCgroup ? BPFAttachType(rawValue: i.attach_type) : nil)
    }
}
