// The shadow state of one map (known and maybe-present entries, array values, queue contents, LPM keys) and lookup candidates.
import BPFKit
import Foundation
import Glibc

/// One shadow map: what the kernel must hold. `maybe` keys are the one nondeterminism
/// (an LRU map evicting when it is full; entries lost to an EFAULT mid-batch): each is
/// present with its value or absent, and the next observation settles it.
final class MapModel {
    let shape: MapShape
    var known = BytesDict()
    var maybe = BytesDict()
    /// Array values written so far (others are zero).
    var arr: [Int: Bytes] = [:]
    /// Queue/stack contents, oldest first.
    var deque: [Bytes] = []
    /// Writable mmaps of this map still mapped (freeze is EBUSY while there are any).
    var writeMappings = 0
    /// Bloom filter: every value pushed (a peek of one of them must hit).
    var pushed = Set<Bytes>()
    /// LPM: identity (prefixlen + masked data) -> the full key last written.
    var lpmKey: [Bytes: Bytes] = [:]
    var frozen = false
    /// The BTF fields its create asked for (shape.btf: those the kernel owns); the blob's type ids follow these.
    var btfAsked: UInt8 = 0
    /// An outer map (array_of_maps, hash_of_maps): its template and the inner maps it holds.
    var outer: OuterState? = nil
    /// The access of the fd the current call uses (ShadowModel.applyFDPerms sets it per slot
    /// when two slots share one map).
    var rdonly: Bool, wronly: Bool
    /// Keys returned so far by the batch walk that started at in=NULL (nil: none, or state changed).
    var walkSeen: Set<Bytes>? = nil
    var walkStart: (known: Set<Bytes>, maybe: Set<Bytes>)? = nil

    /// `fdFlags`: the create flags; RDONLY/WRONLY belong to the fd, map info does not show them.
    init(_ s: MapShape, fdFlags: UInt32) {
        shape = s
        rdonly = fdFlags & BPFMapFlags.rdonly != 0
        wronly = fdFlags & BPFMapFlags.wronly != 0
    }

    var canRead: Bool { !wronly }
    var canWrite: Bool { !rdonly && !frozen }
    var zero: Bytes { Bytes(int: 0, count: shape.valueLen) }
    var countLow: Int { shape.isLPM ? lpmKey.count - maybeLPM : known.count }
    var countHigh: Int { known.count + maybe.count }
    private var maybeLPM: Int { maybe.count }

    /// How many entries an LRU map holds before it may evict. This thread is pinned to one
    /// CPU. Common LRU (6.16+): a CPU whose local free list runs dry pulls free nodes from the
    /// global list and shrinks (evicts) up to target_free = clamp(max/ncpus/2, 1, 128) of them,
    /// so eviction starts once fewer than target_free nodes are free (verified on 6.18: a
    /// 16-entry lru_percpu_hash with 15 entries evicted 3). BPF_F_NO_COMMON_LRU: each CPU owns
    /// max/ncpus nodes and evicts when its share is used up. Kernels with the fixed
    /// LOCAL_FREE_TARGET (fact lru_free_target=fixed-128, e.g. 6.1) shrink to 128 free nodes, so
    /// a map of fewer than 128 entries may evict as soon as it holds one.
    var lruCapacity: Int {
        let cpus = max(1, shape.cpus)
        if shape.flags & BPFMapFlags.noCommonLRU != 0 { return shape.maxEntries / cpus }
        let target = lruFixedFreeTarget ? 128 : min(max((shape.maxEntries / cpus) / 2, 1), 128)
        return max(1, shape.maxEntries - target + 1)
    }
    /// The kernel fact lru_free_target (KernelFacts.lruFixedFreeTarget), set at create.
    var lruFixedFreeTarget = false

    /// Any state change invalidates a batch walk in progress.
    @inline(__always)
    func mutated() { if walkSeen.isSome || walkStart.isSome { walkSeen = nil; walkStart = nil } }

    /// An LRU update on a full map may evict any entries (even the key being updated).
    func allowEviction() {
        guard shape.isLRU, countHigh >= lruCapacity else { return }
        for (k, v) in known { maybe[k] = v }
        known = [:]
    }

    /// All entries become uncertain (entries lost without being reported).
    func blur() {
        for (k, v) in known { maybe[k] = v }
        known = [:]
    }
}

/// What a lookup may find (up to three answers: a value or nothing), without an array.
struct Candidates {
    private var v0 = Bytes(), v1 = Bytes(), v2 = Bytes()
    /// Bit i set: answer i is a value (v_i); clear: nothing.
    private var isValue: UInt8 = 0
    private(set) var count = 0

    @inline(__always)
    mutating func append(_ x: Bytes?) {
        if let x {
            switch count {
            case 0: v0 = x
            case 1: v1 = x
            case 2: v2 = x
            default: preconditionFailure("more than three lookup candidates")
            }
            isValue |= 1 << UInt8(count)
        } else if count > 2 {
            preconditionFailure("more than three lookup candidates")
        }
        count += 1
    }

    @inline(__always)
    subscript(i: Int) -> Bytes? {
        guard isValue & (1 << UInt8(i)) != 0 else { return nil }
        switch i {
        case 0: return v0
        case 1: return v1
        default: return v2
        }
    }

    @inline(__always)
    func contains(_ v: Bytes) -> Bool {
        for i in 0..<count where self[i] == v { return true }
        return false
    }

    /// The values among the answers.
    var values: [Bytes] { (0..<count).compactMap { self[$0] } }
}
