// Local kptrs stashed in map values (kptr_stash.bpf.c): freeing the field drops them, so no later element holds one.
import BPFKit

/// `struct kval` of kptr_stash.bpf.c: u64 tag, `struct bpfs_knode __kptr *p` (8 bytes, kernel-owned), u64 canary.
public enum KptrValue {
    public static let layout = FieldValue(size: 24, kernelBytes: 8..<16)
    static let maxEntries: UInt32 = 16
}

/// One loaded instance of kptr_stash.bpf.c: k_hash, k_lru, k_array and stash_/peek_<kind>.
public final class KptrStash {
    public let maps: TestRunMaps

    init(maps: TestRunMaps) { self.maps = maps }

    public enum Probe {
        case supported(KptrStash)
        case unsupported(String)
    }

    /// A fresh instance. bpf_obj_new came in 6.2 (local kptrs in map values later): a kernel
    /// whose BTF lacks the kfunc is `.unsupported` before libbpf tries (its own message for a
    /// missing ksym is not the verifier's), and a refused load carries the verifier's reason.
    public static func load(runtime: Runtime = KernelRuntime()) throws -> Probe {
        guard kernelHasFunction("bpf_obj_new_impl") else {
            return .unsupported("the kernel's BTF has no bpf_obj_new_impl kfunc (local kptrs need 6.2 or later)")
        }
        switch try TestRunMaps.load(path: ProgramCatalog.objectPath("kptr_stash"), runtime: runtime, prefix: "k_",
                                    value: KptrValue.layout, maxEntries: KptrValue.maxEntries) {
        case .supported(let m): return .supported(KptrStash(maps: m))
        case .unsupported(let why): return .unsupported(why)
        }
    }

    /// stash_<kind>: bpf_obj_new a node carrying `tag` and bpf_kptr_xchg it into `key`'s value;
    /// returns the tag of a node it displaced (and dropped), 0 when the field was empty.
    public func stash(_ kind: TimerMapKind, key: UInt32, tag: UInt32) throws -> UInt32 {
        try maps.run("stash_\(kind.rawValue)", key: key, arg: UInt64(tag))
    }

    /// peek_<kind>: the tag of the node `key`'s value holds, 0 when it holds none.
    public func peek(_ kind: TimerMapKind, key: UInt32) throws -> UInt32 {
        try maps.run("peek_\(kind.rawValue)", key: key, arg: 0)
    }

    public func close() { maps.close() }
}

/// One element as the kptr model knows it: `holds` is the tag of its node, 0 for none.
public struct KptrSlot: Equatable, Sendable {
    public var kind: TimerMapKind
    public var key: UInt32
    public var holds: UInt32
    public var why: String
}

/// Rounds that stash kptrs, free their fields, and peek at every element afterwards.
public struct KptrRounds {
    public var fault: TimerFault

    public init(fault: TimerFault = .none) { self.fault = fault }

    /// Per kind: an element left alone keeps its node; one overwritten by a syscall update
    /// holds none (hash and LRU replace the element, the array drops the field in place);
    /// hash and LRU: one deleted and created again holds none; LRU: after an eviction every
    /// element, the reused ones among them, holds none. Returns the findings (empty when clean).
    public func round(_ s: KptrStash) throws -> (model: [KptrSlot], findings: [String]) {
        try withThreadPinned { try pinnedRound(s) }
    }

    func pinnedRound(_ s: KptrStash) throws -> (model: [KptrSlot], findings: [String]) {
        var model: [KptrSlot] = []
        var findings: [String] = []
        var nextTag: UInt32 = 1
        let layout = KptrValue.layout
        func stashed(_ kind: TimerMapKind, _ key: UInt32) throws -> UInt32 {
            let tag = nextTag
            nextTag += 1
            try s.maps.put(kind, key: key, tag: tag, canary: 0xC0FFEE)
            let displaced = try s.stash(kind, key: key, tag: tag)
            if displaced != 0 {
                findings.append("\(kind.rawValue) key \(key): a freshly created element already held the node of tag \(displaced); a kptr outlived the free of its field")
            }
            if let f = layout.checkLookup(try s.maps.lookup(kind, key: key), kind: kind, key: key, tag: tag, canary: 0xC0FFEE) {
                findings.append("after stashing: " + f)
            }
            return tag
        }

        // LRU eviction first; peeks reference the fillers, as the stash referenced the victim.
        _ = try stashed(.lru, 4)
        var filler: UInt32 = 1000
        while try s.maps.lookup(.lru, key: 4) != nil {
            guard filler < 1000 + 32 * KptrValue.maxEntries else {
                throw BPFError(code: .probe, operation: "LRU eviction", detail: "key 4 survived \(filler - 1000) inserts into a \(KptrValue.maxEntries)-entry LRU map")
            }
            try s.maps.put(.lru, key: filler, tag: 0, canary: 0)
            _ = try s.peek(.lru, key: filler)
            filler += 1
        }
        for k in 1000..<filler where try s.maps.lookup(.lru, key: k) != nil {
            model.append(KptrSlot(kind: .lru, key: k, holds: 0, why: "a filler created after an eviction"))
        }
        try s.maps.put(.lru, key: 4, tag: 0, canary: 0)
        model.append(KptrSlot(kind: .lru, key: 4, holds: 0, why: "created again after its element was evicted"))
        findings += check(s, model)  // before the fillers go
        model.removeAll()
        for k in 1000..<filler { try s.maps.delete(.lru, key: k) }

        for kind in TimerMapKind.allCases {
            model.append(KptrSlot(kind: kind, key: 1, holds: try stashed(kind, 1), why: "left alone"))
            let tag = try stashed(kind, 3)
            if fault != .skipOverwrite { try s.maps.put(kind, key: 3, tag: tag, canary: 0xBEEF) }
            model.append(KptrSlot(kind: kind, key: 3, holds: 0, why: "overwritten by a syscall update"))
            guard kind != .array else { continue }
            let gone = try stashed(kind, 2)
            if fault != .skipDelete {
                guard try s.maps.delete(kind, key: 2) else {
                    throw BPFError(code: .syscall, operation: "BPF_MAP_DELETE_ELEM", errno: .noSuchFileOrDirectory, detail: "\(kind.rawValue) key 2")
                }
                try s.maps.put(kind, key: 2, tag: gone, canary: 0)
            }
            model.append(KptrSlot(kind: kind, key: 2, holds: 0, why: "deleted and created again"))
        }
        findings += check(s, model)
        return (model, findings)
    }

    /// Peeks at every slot of the model: one line per element whose node is not the model's.
    func check(_ s: KptrStash, _ model: [KptrSlot]) -> [String] {
        model.compactMap { slot in
            let got: UInt32
            do { got = try s.peek(slot.kind, key: slot.key) } catch { return "\(slot.kind.rawValue) key \(slot.key): peek failed: \(error)" }
            return KptrOracle.judge(slot, peeked: got)
        }
    }
}

/// The kptr oracle's one rule, apart so tests can feed it tampered peeks.
public enum KptrOracle {
    public static func judge(_ slot: KptrSlot, peeked got: UInt32) -> String? {
        guard got != slot.holds else { return nil }
        let at = "\(slot.kind.rawValue) key \(slot.key)"
        if slot.holds == 0 {
            return "\(at): holds the node of tag \(got) though it was \(slot.why); the kernel must drop a kptr when it frees the field"
        }
        return "\(at): \(slot.why), expected the node of tag \(slot.holds), peek found " + (got == 0 ? "none" : "tag \(got)")
    }
}
