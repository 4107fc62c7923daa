// The map-in-map oracle: outer maps made from a template, inner maps checked against it, fds in and ids out, and which inner maps must (or may) still be alive.
import BPFKit
import Foundation
import Glibc

/// An outer map's model beside its MapModel: known[key] holds the inner map's id (4 bytes).
final class OuterState {
    /// The inner map template (inner_map_meta) as the template map was when the outer was made.
    let template: MapShape
    /// key -> the inner map the entry holds (kept after a generic removal; see Lifetime.swift).
    var held: [Bytes: MapModel] = [:]
    /// Keys set from an fd the model cannot name (an `update` whose value is a small fd
    /// number): present, with an id the model does not know.
    var unknownKeys = Set<Bytes>()
    init(template: MapShape) { self.template = template }
}

/// Map-in-map state of one program.
final class MapInMapState {
    /// Every outer map of the program, open or not.
    var outers: [MapModel] = []
    /// Maps to sweep after the program: inner maps put into outer maps, and the outer maps.
    var watched: [MapModel] = []
    var createIndex: [ObjectIdentifier: Int] = [:]
    /// Inner maps that lost a reference whose put the kernel may defer (hash-of-maps elements).
    var asyncReleased = Set<ObjectIdentifier>()

    func watch(_ m: MapModel) { if !watched.contains(where: { $0 === m }) { watched.append(m) } }
}

/// What an fd passed as an outer map's value names.
enum InnerRef {
    case map(MapModel)
    /// The fd cannot be resolved to a map: EBADF (not open) or EINVAL (not a map).
    case errno(Int32, String)
    /// A small fd number: it may be open in this process (the model tracks only its slots).
    case unknown(UInt32)
}

extension ShadowModel {
    /// No fd of this process is at or above the hard RLIMIT_NOFILE (nothing in bpfstress
    /// lowers it after opening fds), so such a value is EBADF for sure.
    static let fdLimit: UInt32 = {
        var rl = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return 1 << 20 }
        return UInt32(min(UInt64(rl.rlim_max), UInt64(UInt32.max)))
    }()

    /// inner_map_fd's errors for an outer map (bpf_map_meta_alloc); every other type ignores it.
    func templateErrors(_ c: Call) -> Set<Int32> {
        guard c.type == .arrayOfMaps || c.type == .hashOfMaps else { return [] }
        switch c.inner {
        // No template: inner_map_fd 0 is stdin, which is not a map (EINVAL) or closed (EBADF).
        case -1: return [EINVAL, EBADF]
        case -2: return [EINVAL]
        case -3: return [EBADF]
        default:
            guard let t = maps[c.inner] else { return [EBADF] }
            if t.shape.isOuter { return [EINVAL] }  // one level of nesting only
            // A template whose value has a field the kernel keeps out of inner maps (fact btf_inner).
            if let e = facts.innerErrno(btf: t.shape.btf) { return [e] }
            return []
        }
    }

    /// After a create: the slot's latest map, and an outer map's template.
    func noteCreate(_ index: Int, _ c: Call, _ r: CallResult) {
        guard r.errno == 0, let m = maps[c.map] else { return }
        mim.createIndex[ObjectIdentifier(m)] = index
        if m.shape.isOuter, c.inner >= 0, c.inner != c.map, let t = maps[c.inner] {
            m.outer = OuterState(template: t.shape)
            mim.outers.append(m)
            mim.watch(m)
        }
    }

    /// Why `inner` does not fit `template` (map_meta_equal), nil when it does: type, sizes and
    /// permanent flags; an array also max_entries unless the template has BPF_F_INNER_MAP.
    static func metaMismatch(_ t: MapShape, _ i: MapShape) -> String? {
        let fdOnly = BPFMapFlags.rdonly | BPFMapFlags.wronly
        if t.type != i.type { return "type \(ProgramText.typeName(i.type)), template \(ProgramText.typeName(t.type))" }
        if t.keySize != i.keySize || t.valueSize != i.valueSize { return "key/value \(i.keySize)/\(i.valueSize), template \(t.keySize)/\(t.valueSize)" }
        if t.flags & ~fdOnly != i.flags & ~fdOnly { return "flags 0x\(String(i.flags, radix: 16)), template 0x\(String(t.flags, radix: 16))" }
        if t.btf & ~BTFValue.plain != i.btf & ~BTFValue.plain { return "BTF fields \(BTFValue(fields: i.btf).text), template \(BTFValue(fields: t.btf).text)" }
        if t.type == .array && t.flags & BPFMapFlags.innerMap == 0 && t.maxEntries != i.maxEntries {
            return "max_entries \(i.maxEntries), template \(t.maxEntries) (no BPF_F_INNER_MAP)"
        }
        return nil
    }

    /// The map a plain update's value names: an fd number.
    func fdRef(_ value: Bytes) -> InnerRef {
        let fd = value.count >= 4 ? value.u32 : 0
        return fd >= Self.fdLimit ? .errno(EBADF, "fd \(fd) is above RLIMIT_NOFILE") : .unknown(fd)
    }

    /// The map an `inner=` argument names.
    func innerRef(_ i: Int) -> InnerRef {
        switch i {
        case -2: return .errno(EINVAL, "/dev/null is not a map")
        case -1, -3: return .errno(EBADF, "a closed fd")
        default: return maps[i].map { .map($0) } ?? .errno(EBADF, "slot \(i) has no open map")
        }
    }

    /// put_inner: BPF_MAP_UPDATE_ELEM with slot `inner`'s fd (count says which number) as a
    /// 4-byte value. On other maps it is an update with those 4 bytes.
    func putInner(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        guard let (m, key) = updatePrefix(&ck, c, r) else { return }
        let s = m.shape
        if s.valueLen > 4 { expect(&ck, [EFAULT], r.errno, "a 4-byte fd buffer, value needs \(s.valueLen)"); return }
        let fdBytes = Bytes(int: UInt64(r.count), count: 4).prefixBytes(s.valueLen)
        if !s.isOuter { elemUpdate(&ck, m, key, fdBytes, c.flags, got: r.errno); return }
        outerUpdate(&ck, m, key, innerRef(c.inner), c.flags, got: r.errno)
    }

    /// An update of an outer map: bpf_fd_array_map_update_elem (BPF_ANY only, index, then the
    /// fd) or bpf_fd_htab_map_update_elem (the fd first, then the hash rules).
    func outerUpdate(_ ck: inout Check, _ m: MapModel, _ key: Bytes, _ ref: InnerRef, _ flags: UInt64, got: Int32) {
        guard let o = m.outer else { expect(&ck, [0, EBADF, EINVAL], got, "outer map without a known template"); return }
        let s = m.shape, array = s.type == .arrayOfMaps
        if array {
            if flags != 0 { expect(&ck, [EINVAL], got, "an array of maps takes only BPF_ANY"); return }
            if Int(key.u32) >= s.maxEntries { expect(&ck, [E2BIG], got, "index \(key.u32) >= max_entries \(s.maxEntries)"); return }
        }
        switch ref {
        case let .errno(e, why): expect(&ck, [e], got, why)
        case let .unknown(fd):
            // The fd may be any open file of this process: a map that fits, one that does not,
            // or no map at all; after it the entry is present with an id the model cannot know.
            var allowed: ErrSet = [0, EBADF, EINVAL]
            if !array { allowed.formUnion([EEXIST, ENOENT, E2BIG]) }
            guard expect(&ck, allowed, got, "value names fd \(fd), which may be open in this process") else { return }
            if got == 0 { replaceInner(m, key, nil); o.unknownKeys.insert(key); m.known[key] = Bytes(int: 0, count: 4); m.maybe[key] = nil; m.mutated() }
        case let .map(inner):
            if let why = Self.metaMismatch(o.template, inner.shape) { expect(&ck, [EINVAL], got, "inner map differs from the template: \(why)"); return }
            let id = Bytes(int: UInt64(inner.shape.id), count: 4)
            if array {
                guard expect(&ck, [0], got, "put inner map id \(inner.shape.id) at index \(key.u32)") else { return }
                m.known[key] = id
                m.mutated()
            } else {
                if flags > BPFUpdateFlags.exist { expect(&ck, [EINVAL], got, "flags=\(flags)"); return }
                let before = ck.findings.count
                lpmOrHashUpdate(&ck, m, key, key, id, flags, got: got, fullErrno: E2BIG)
                guard got == 0 && ck.findings.count == before else { return }
            }
            replaceInner(m, key, inner)
            o.unknownKeys.remove(key)
            // An inner map whose id could not be read: its lookups cannot be checked.
            if inner.shape.id == 0 { o.unknownKeys.insert(key) }
        }
    }

    /// The entry at `key` now holds `inner` (nil: an unknown map). The old inner map loses a
    /// reference: at once for an array of maps (xchg, then bpf_map_put in the caller), maybe
    /// later for a hash of maps (its element may be freed after a grace period).
    func replaceInner(_ m: MapModel, _ key: Bytes, _ inner: MapModel?) {
        guard let o = m.outer else { return }
        if let old = o.held.removeValue(forKey: key), m.shape.type == .hashOfMaps { mim.asyncReleased.insert(ObjectIdentifier(old)) }
        if let inner { o.held[key] = inner; mim.watch(inner) }
    }

    /// A lookup of an outer map returns the inner map's id (map_fd_sys_lookup_elem).
    func outerLookup(_ ck: inout Check, _ c: ElemCall, _ r: CallResult, _ m: MapModel, _ key: Bytes) {
        let s = m.shape
        let ob = Self.outputBuf(c, need: s.valueLen)
        let outOK = ob.length >= s.valueLen && ob.isPointer
        if let o = m.outer, o.unknownKeys.contains(key) {
            expect(&ck, [outOK ? 0 : EFAULT], r.errno, "key \(Self.hex(key)) holds a map the model cannot name")
            return
        }
        lookupHash(&ck, r, m, key, ob.length, outOK)
    }

    /// A delete from an outer map: an array of maps answers E2BIG past max_entries and ENOENT
    /// for an empty index; a hash of maps is a hash.
    func outerDelete(_ ck: inout Check, _ m: MapModel, _ key: Bytes, got: Int32) {
        let s = m.shape
        if s.type == .arrayOfMaps {
            if Int(key.u32) >= s.maxEntries { expect(&ck, [E2BIG], got, "index \(key.u32) >= max_entries \(s.maxEntries)"); return }
            guard expect(&ck, [m.known[key].isSome ? 0 : ENOENT], got, "delete index \(key.u32)") else { return }
        } else {
            elemDelete(&ck, m, key, got: got)
        }
        if got == 0 {
            m.known[key] = nil
            m.outer?.unknownKeys.remove(key)
            replaceInner(m, key, nil)
            m.mutated()
        }
    }
}
