/// Every kind of operation a worker can have in flight. The raw value is what the
/// shared-memory flight recorder stores; the name is what reports show. Append only:
/// raw values must stay stable within one build (coordinator and workers share it).
public enum OpKind: UInt32, CaseIterable, Sendable {
    case none = 0
    case mapCreate, mapUpdate, mapLookup, mapDelete, mapNextKey, mapLookupAndDelete, mapFreeze
    case mapLookupBatch, mapUpdateBatch, mapDeleteBatch, mapLookupAndDeleteBatch
    case progLoad, progAttach, progDetach, linkCreate, linkDetach, progQuery
    case objPin, objGet, objInfo, nextID, objectLoad, objectClose, rawTracepointOpen, enableStats
    case connect, listen, accept, check
    case cgroupCreate, cgroupRemove, netnsCreate, netnsDestroy, extensionRestart
    case sleep, setup, teardown, testHang, testCrash, invokeHook

    public var name: String {
        switch self {
        case .none: return "none"
        case .mapCreate: return "map_create"
        case .mapUpdate: return "map_update"
        case .mapLookup: return "map_lookup"
        case .mapDelete: return "map_delete"
        case .mapNextKey: return "map_get_next_key"
        case .mapLookupAndDelete: return "map_lookup_and_delete"
        case .mapFreeze: return "map_freeze"
        case .mapLookupBatch: return "map_lookup_batch"
        case .mapUpdateBatch: return "map_update_batch"
        case .mapDeleteBatch: return "map_delete_batch"
        case .mapLookupAndDeleteBatch: return "map_lookup_and_delete_batch"
        case .progLoad: return "prog_load"
        case .progAttach: return "prog_attach"
        case .progDetach: return "prog_detach"
        case .linkCreate: return "link_create"
        case .linkDetach: return "link_detach"
        case .progQuery: return "prog_query"
        case .objPin: return "obj_pin"
        case .objGet: return "obj_get"
        case .objInfo: return "obj_get_info"
        case .nextID: return "get_next_id"
        case .objectLoad: return "object_load"
        case .objectClose: return "object_close"
        case .rawTracepointOpen: return "raw_tracepoint_open"
        case .enableStats: return "enable_stats"
        case .connect: return "connect"
        case .listen: return "listen"
        case .accept: return "accept"
        case .check: return "check"
        case .cgroupCreate: return "cgroup_create"
        case .cgroupRemove: return "cgroup_remove"
        case .netnsCreate: return "netns_create"
        case .netnsDestroy: return "netns_destroy"
        case .extensionRestart: return "extension_restart"
        case .sleep: return "sleep"
        case .setup: return "setup"
        case .teardown: return "teardown"
        case .testHang: return "test_hang"
        case .testCrash: return "test_crash"
        case .invokeHook: return "invoke_hook"
        }
    }

    public static func named(_ name: String) -> OpKind? { allCases.first { $0.name == name } }

    /// The names a campaign file may use under `deadlines:` (every kind but `none`).
    public static var deadlineNames: [String] { allCases.filter { $0 != .none }.map(\.name) }

    /// Single-element map ops: a few hundred ns each, so they are timed with the coarse clock
    /// (see bpfs_now_coarse_ns); everything else with the precise one.
    @inline(__always) public var isElementOp: Bool {
        rawValue >= OpKind.mapUpdate.rawValue && rawValue <= OpKind.mapLookupAndDelete.rawValue
    }

    /// Renders the two integer arguments the hot path stores instead of a string.
    public func describe(_ a0: UInt64, _ a1: UInt64, label: String) -> String {
        var parts: [String] = []
        if !label.isEmpty { parts.append(label) }
        switch self {
        case .mapUpdate, .mapLookup, .mapDelete, .mapLookupAndDelete, .mapNextKey:
            parts.append("map_fd=\(a0) key=0x\(String(a1, radix: 16))")
        case .mapLookupBatch, .mapUpdateBatch, .mapDeleteBatch, .mapLookupAndDeleteBatch:
            parts.append("map_fd=\(a0) count=\(a1)")
        case .progAttach, .progDetach, .linkCreate:
            parts.append("prog_fd=\(a0) target_fd=\(a1)")
        case .connect, .listen, .accept:
            parts.append("port=\(a0) n=\(a1)")
        default:
            if a0 != 0 || a1 != 0 { parts.append("a0=\(a0) a1=\(a1)") }
        }
        return parts.joined(separator: " ")
    }
}
