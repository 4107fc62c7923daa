/// UAPI numbers as of kernel 6.18 (the installed linux/bpf.h is 6.1, so newer values
/// are spelled out here rather than imported).

/// enum bpf_map_type.
public struct BPFMapType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspec = BPFMapType(rawValue: 0)
    public static let hash = BPFMapType(rawValue: 1)
    public static let array = BPFMapType(rawValue: 2)
    public static let progArray = BPFMapType(rawValue: 3)
    public static let perfEventArray = BPFMapType(rawValue: 4)
    public static let percpuHash = BPFMapType(rawValue: 5)
    public static let percpuArray = BPFMapType(rawValue: 6)
    public static let stackTrace = BPFMapType(rawValue: 7)
    public static let cgroupArray = BPFMapType(rawValue: 8)
    public static let lruHash = BPFMapType(rawValue: 9)
    public static let lruPercpuHash = BPFMapType(rawValue: 10)
    public static let lpmTrie = BPFMapType(rawValue: 11)
    public static let arrayOfMaps = BPFMapType(rawValue: 12)
    public static let hashOfMaps = BPFMapType(rawValue: 13)
    public static let devmap = BPFMapType(rawValue: 14)
    public static let sockmap = BPFMapType(rawValue: 15)
    public static let cpumap = BPFMapType(rawValue: 16)
    public static let xskmap = BPFMapType(rawValue: 17)
    public static let sockhash = BPFMapType(rawValue: 18)
    public static let cgroupStorage = BPFMapType(rawValue: 19)
    public static let reuseportSockarray = BPFMapType(rawValue: 20)
    public static let percpuCgroupStorage = BPFMapType(rawValue: 21)
    public static let queue = BPFMapType(rawValue: 22)
    public static let stack = BPFMapType(rawValue: 23)
    public static let skStorage = BPFMapType(rawValue: 24)
    public static let devmapHash = BPFMapType(rawValue: 25)
    public static let structOps = BPFMapType(rawValue: 26)
    public static let ringbuf = BPFMapType(rawValue: 27)
    public static let inodeStorage = BPFMapType(rawValue: 28)
    public static let taskStorage = BPFMapType(rawValue: 29)
    public static let bloomFilter = BPFMapType(rawValue: 30)
    public static let userRingbuf = BPFMapType(rawValue: 31)
    public static let cgrpStorage = BPFMapType(rawValue: 32)
    public static let arena = BPFMapType(rawValue: 33)

    /// Per-CPU maps return one value per possible CPU, each rounded up to 8 bytes.
    public var isPerCPU: Bool {
        self == .percpuHash || self == .percpuArray || self == .lruPercpuHash || self == .percpuCgroupStorage
    }

    public var description: String {
        let names: [UInt32: String] = [
            1: "hash", 2: "array", 3: "prog_array", 4: "perf_event_array", 5: "percpu_hash",
            6: "percpu_array", 7: "stack_trace", 8: "cgroup_array", 9: "lru_hash",
            10: "lru_percpu_hash", 11: "lpm_trie", 12: "array_of_maps", 13: "hash_of_maps",
            22: "queue", 23: "stack", 26: "struct_ops", 27: "ringbuf", 30: "bloom_filter", 33: "arena",
        ]
        return names[rawValue] ?? "map_type(\(rawValue))"
    }
}

/// enum bpf_prog_type.
public struct BPFProgType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let unspec = BPFProgType(rawValue: 0)
    public static let socketFilter = BPFProgType(rawValue: 1)
    public static let kprobe = BPFProgType(rawValue: 2)
    public static let schedCls = BPFProgType(rawValue: 3)
    public static let schedAct = BPFProgType(rawValue: 4)
    public static let tracepoint = BPFProgType(rawValue: 5)
    public static let xdp = BPFProgType(rawValue: 6)
    public static let perfEvent = BPFProgType(rawValue: 7)
    public static let cgroupSkb = BPFProgType(rawValue: 8)
    public static let cgroupSock = BPFProgType(rawValue: 9)
    public static let lwtIn = BPFProgType(rawValue: 10)
    public static let lwtOut = BPFProgType(rawValue: 11)
    public static let lwtXmit = BPFProgType(rawValue: 12)
    public static let sockOps = BPFProgType(rawValue: 13)
    public static let skSkb = BPFProgType(rawValue: 14)
    public static let cgroupDevice = BPFProgType(rawValue: 15)
    public static let skMsg = BPFProgType(rawValue: 16)
    public static let rawTracepoint = BPFProgType(rawValue: 17)
    public static let cgroupSockAddr = BPFProgType(rawValue: 18)
    public static let lwtSeg6local = BPFProgType(rawValue: 19)
    public static let lircMode2 = BPFProgType(rawValue: 20)
    public static let skReuseport = BPFProgType(rawValue: 21)
    public static let flowDissector = BPFProgType(rawValue: 22)
    public static let cgroupSysctl = BPFProgType(rawValue: 23)
    public static let rawTracepointWritable = BPFProgType(rawValue: 24)
    public static let cgroupSockopt = BPFProgType(rawValue: 25)
    public static let tracing = BPFProgType(rawValue: 26)
    public static let structOps = BPFProgType(rawValue: 27)
    public static let ext = BPFProgType(rawValue: 28)
    public static let lsm = BPFProgType(rawValue: 29)
    public static let skLookup = BPFProgType(rawValue: 30)
    public static let syscall = BPFProgType(rawValue: 31)
    public static let netfilter = BPFProgType(rawValue: 32)
}

/// enum bpf_attach_type.
public struct BPFAttachType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let cgroupInetIngress = BPFAttachType(rawValue: 0)
    public static let cgroupInetEgress = BPFAttachType(rawValue: 1)
    public static let cgroupInetSockCreate = BPFAttachType(rawValue: 2)
    public static let cgroupSockOps = BPFAttachType(rawValue: 3)
    public static let skSkbStreamParser = BPFAttachType(rawValue: 4)
    public static let skSkbStreamVerdict = BPFAttachType(rawValue: 5)
    public static let cgroupDevice = BPFAttachType(rawValue: 6)
    public static let skMsgVerdict = BPFAttachType(rawValue: 7)
    public static let cgroupInet4Bind = BPFAttachType(rawValue: 8)
    public static let cgroupInet6Bind = BPFAttachType(rawValue: 9)
    public static let cgroupInet4Connect = BPFAttachType(rawValue: 10)
    public static let cgroupInet6Connect = BPFAttachType(rawValue: 11)
    public static let cgroupInet4PostBind = BPFAttachType(rawValue: 12)
    public static let cgroupInet6PostBind = BPFAttachType(rawValue: 13)
    public static let cgroupUdp4Sendmsg = BPFAttachType(rawValue: 14)
    public static let cgroupUdp6Sendmsg = BPFAttachType(rawValue: 15)
    public static let lircMode2 = BPFAttachType(rawValue: 16)
    public static let flowDissector = BPFAttachType(rawValue: 17)
    public static let cgroupSysctl = BPFAttachType(rawValue: 18)
    public static let cgroupUdp4Recvmsg = BPFAttachType(rawValue: 19)
    public static let cgroupUdp6Recvmsg = BPFAttachType(rawValue: 20)
    public static let cgroupGetsockopt = BPFAttachType(rawValue: 21)
    public static let cgroupSetsockopt = BPFAttachType(rawValue: 22)
    public static let traceRawTp = BPFAttachType(rawValue: 23)
    public static let traceFentry = BPFAttachType(rawValue: 24)
    public static let traceFexit = BPFAttachType(rawValue: 25)
    public static let modifyReturn = BPFAttachType(rawValue: 26)
    public static let lsmMac = BPFAttachType(rawValue: 27)
    public static let traceIter = BPFAttachType(rawValue: 28)
    public static let cgroupInet4Getpeername = BPFAttachType(rawValue: 29)
    public static let cgroupInet6Getpeername = BPFAttachType(rawValue: 30)
    public static let cgroupInet4Getsockname = BPFAttachType(rawValue: 31)
    public static let cgroupInet6Getsockname = BPFAttachType(rawValue: 32)
    public static let xdpDevmap = BPFAttachType(rawValue: 33)
    public static let cgroupInetSockRelease = BPFAttachType(rawValue: 34)
    public static let xdpCpumap = BPFAttachType(rawValue: 35)
    public static let skLookup = BPFAttachType(rawValue: 36)
    public static let xdp = BPFAttachType(rawValue: 37)
    public static let skSkbVerdict = BPFAttachType(rawValue: 38)
    public static let skReuseportSelect = BPFAttachType(rawValue: 39)
    public static let skReuseportSelectOrMigrate = BPFAttachType(rawValue: 40)
    public static let perfEvent = BPFAttachType(rawValue: 41)
    public static let traceKprobeMulti = BPFAttachType(rawValue: 42)
    public static let lsmCgroup = BPFAttachType(rawValue: 43)
    public static let structOps = BPFAttachType(rawValue: 44)
    public static let netfilter = BPFAttachType(rawValue: 45)
    public static let tcxIngress = BPFAttachType(rawValue: 46)
    public static let tcxEgress = BPFAttachType(rawValue: 47)
    public static let traceUprobeMulti = BPFAttachType(rawValue: 48)
    public static let cgroupUnixConnect = BPFAttachType(rawValue: 49)
    public static let cgroupUnixSendmsg = BPFAttachType(rawValue: 50)
    public static let cgroupUnixRecvmsg = BPFAttachType(rawValue: 51)
    public static let cgroupUnixGetpeername = BPFAttachType(rawValue: 52)
    public static let cgroupUnixGetsockname = BPFAttachType(rawValue: 53)

    /// cgroup attach types CampaignCgroup.teardown queries and detaches.
    public static let cgroupTypes: [BPFAttachType] = [
        .cgroupInetIngress, .cgroupInetEgress, .cgroupInetSockCreate, .cgroupSockOps,
        .cgroupInet4Bind, .cgroupInet6Bind, .cgroupInet4Connect, .cgroupInet6Connect,
        .cgroupInet4PostBind, .cgroupInet6PostBind, .cgroupUdp4Sendmsg, .cgroupUdp6Sendmsg,
        .cgroupSysctl, .cgroupUdp4Recvmsg, .cgroupUdp6Recvmsg, .cgroupGetsockopt,
        .cgroupSetsockopt, .cgroupInet4Getpeername, .cgroupInet6Getpeername,
        .cgroupInet4Getsockname, .cgroupInet6Getsockname, .cgroupInetSockRelease,
    ]
}

/// enum bpf_link_type.
public struct BPFLinkType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let rawTracepoint = BPFLinkType(rawValue: 1)
    public static let tracing = BPFLinkType(rawValue: 2)
    public static let cgroup = BPFLinkType(rawValue: 3)
    public static let iter = BPFLinkType(rawValue: 4)
    public static let netns = BPFLinkType(rawValue: 5)
    public static let xdp = BPFLinkType(rawValue: 6)
    public static let perfEvent = BPFLinkType(rawValue: 7)
    public static let kprobeMulti = BPFLinkType(rawValue: 8)
    public static let structOps = BPFLinkType(rawValue: 9)
}

/// Flags of BPF_MAP_UPDATE_ELEM / lookup / the batch elem_flags.
public enum BPFUpdateFlags {
    /// BPF_ANY: create or update.
    public static let any: UInt64 = 0
    /// BPF_NOEXIST: create only (EEXIST if present).
    public static let noExist: UInt64 = 1
    /// BPF_EXIST: update only (ENOENT if absent).
    public static let exist: UInt64 = 2
    /// BPF_F_LOCK: take the value's bpf_spin_lock.
    public static let lock: UInt64 = 4
}

/// map_flags of BPF_MAP_CREATE.
public enum BPFMapFlags {
    public static let noPrealloc: UInt32 = 1 << 0
    public static let noCommonLRU: UInt32 = 1 << 1
    public static let numaNode: UInt32 = 1 << 2
    public static let rdonly: UInt32 = 1 << 3
    public static let wronly: UInt32 = 1 << 4
    public static let stackBuildID: UInt32 = 1 << 5
    public static let zeroSeed: UInt32 = 1 << 6
    public static let rdonlyProg: UInt32 = 1 << 7
    public static let wronlyProg: UInt32 = 1 << 8
    public static let clone: UInt32 = 1 << 9
    public static let mmapable: UInt32 = 1 << 10
    public static let preserveElems: UInt32 = 1 << 11
    public static let innerMap: UInt32 = 1 << 12
}

/// attach_flags of BPF_PROG_ATTACH.
public enum BPFAttachFlags {
    public static let allowOverride: UInt32 = 1 << 0
    public static let allowMulti: UInt32 = 1 << 1
    public static let replace: UInt32 = 1 << 2
}

/// query_flags of BPF_PROG_QUERY.
public enum BPFQueryFlags {
    public static let effective: UInt32 = 1 << 0
}

/// Which id space BPF_*_GET_NEXT_ID walks.
public enum BPFObjectKind: Sendable {
    case program, map, link, btf
}

/// Parameters of BPF_MAP_CREATE.
public struct MapSpec: Equatable, Sendable {
    public var type: BPFMapType
    public var keySize: UInt32
    public var valueSize: UInt32
    public var maxEntries: UInt32
    public var flags: UInt32
    /// At most 15 bytes reach the kernel ([A-Za-z0-9_.] only).
    public var name: String
    /// Sent only when set (adds BPF_F_NUMA_NODE).
    public var numaNode: UInt32?

    public init(type: BPFMapType, keySize: UInt32, valueSize: UInt32, maxEntries: UInt32,
                flags: UInt32 = 0, name: String = "", numaNode: UInt32? = nil) {
        self.type = type
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.flags = flags
        self.name = name
        self.numaNode = numaNode
    }
}

/// Decoded struct bpf_prog_info.
public struct ProgramInfo: Equatable, Sendable {
    public let id: UInt32
    public let type: BPFProgType
    public let name: String
    /// Only counted while BPF_ENABLE_STATS (or the sysctl) is on.
    public let runCount: UInt64
    public let runTimeNs: UInt64
    public let xlatedLength: UInt32
    public let jitedLength: UInt32
    public let mapCount: UInt32
    public let verifiedInstructions: UInt32
}

/// Decoded struct bpf_map_info.
public struct MapInfo: Equatable, Sendable {
    public let id: UInt32
    public let type: BPFMapType
    public let keySize: UInt32
    public let valueSize: UInt32
    public let maxEntries: UInt32
    public let flags: UInt32
    public let name: String
}

/// Decoded struct bpf_link_info.
public struct LinkInfo: Equatable, Sendable {
    public let id: UInt32
    public let type: BPFLinkType
    public let programID: UInt32
    /// Set for cgroup links only.
    public let cgroupID: UInt64?
    public let attachType: BPFAttachType?
}

/// struct bpf_insn (8 bytes, same layout).
public struct BPFInstruction: Equatable, Sendable {
    public var code: UInt8
    /// dst_reg in the low nibble, src_reg in the high nibble.
    public var regs: UInt8
    public var off: Int16
    public var imm: Int32

    public init(code: UInt8, dst: UInt8 = 0, src: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0) {
        self.code = code
        self.regs = (dst & 0x0f) | ((src & 0x0f) << 4)
        self.off = off
        self.imm = imm
    }

    public var dst: UInt8 { regs & 0x0f }
    public var src: UInt8 {
        get { regs >> 4 }
        set { regs = (regs & 0x0f) | ((newValue & 0x0f) << 4) }
    }

    /// BPF_ALU64 | BPF_MOV | BPF_K: dst = imm.
    public static func mov64(dst: UInt8, imm: Int32) -> BPFInstruction {
        BPFInstruction(code: 0xb7, dst: dst, imm: imm)
    }
    /// BPF_ALU64 | BPF_MOV | BPF_X: dst = src.
    public static func mov64(dst: UInt8, src: UInt8) -> BPFInstruction {
        BPFInstruction(code: 0xbf, dst: dst, src: src)
    }
    /// BPF_JMP | BPF_EXIT.
    public static let exit = BPFInstruction(code: 0x95)
    /// BPF_JMP | BPF_CALL of helper `id`.
    public static func call(_ id: Int32) -> BPFInstruction { BPFInstruction(code: 0x85, imm: id) }
    /// BPF_LD | BPF_DW | BPF_IMM with BPF_PSEUDO_MAP_FD: dst = map (two slots).
    public static func loadMapFD(dst: UInt8, fd: Int32) -> [BPFInstruction] {
        [BPFInstruction(code: 0x18, dst: dst, src: 1, imm: fd), BPFInstruction(code: 0)]
    }
}
