// The storage maps' element oracle: local storage keyed by an owner's fd, cgroup storage with no program attached.
import BPFKit
import Foundation
import Glibc

/// Who a local storage key (a 4-byte fd) names, as far as the model knows.
enum StorageOwner: Equatable {
    /// No open fd (-1, the executor's closed fd, past fs.nr_open, a dropped pool object): EBADF.
    case closed
    /// An fd number the model cannot name: it may be any open fd of this process.
    case raw
    /// A pool object: its identity (object and generation), and the errno of a kind the map
    /// type does not take (sk_storage: ENOTSOCK; task and cgrp storage: EBADF).
    case object(id: Bytes, wrongKind: Int32?)
    /// An object whose inode other objects share (anon inodes of programs and perf events,
    /// pidfds): inode storage on it is not tracked.
    case shared
}

extension ShadowModel {
    /// An fd at or above fs.nr_open is never open (the default 1 << 20 when unreadable).
    static let nrOpen: Int = {
        guard let s = try? String(contentsOfFile: "/proc/sys/fs/nr_open", encoding: .utf8),
              let n = Int(s.trimmingCharacters(in: .whitespacesAndNewlines)) else { return 1 << 20 }
        return n
    }()

    /// The owner of `key` for storage map `s`: the open pool object whose fd it is (obj:N
    /// arrives here as that fd), else an fd the model cannot name. Identities: a pool object's
    /// serial (a dropped owner's storage goes with it, and no later object shares its serial),
    /// except pidfd_self, whose task (the executor's own) is one owner however many pidfds
    /// name it. No fd outside the pool names a pool object's socket, file, cgroup or child,
    /// so an unknown fd never aliases a tracked owner.
    func storageOwner(_ key: Bytes, _ s: MapShape) -> StorageOwner {
        let fd = Int32(bitPattern: key.u32)
        if fd < 0 || fd == Executor.closedFD || Int(fd) >= Self.nrOpen { return .closed }
        guard let (_, o) = pool.object(fd: fd) else { return .raw }
        let id = o.kind == .pidfdSelf ? Bytes(int: 1 << 63 | o.fact, count: 8) : Bytes(int: UInt64(o.serial), count: 8)
        switch s.type {
        case .skStorage: return .object(id: id, wrongKind: o.kind.isSocket ? nil : ENOTSOCK)
        case .taskStorage: return .object(id: id, wrongKind: o.kind == .pidfdSelf || o.kind == .pidfdChild ? nil : EBADF)
        case .cgrpStorage: return .object(id: id, wrongKind: o.kind == .cgroup ? nil : EBADF)
        default:
            // inode_storage takes any file. Programs, perf events and (before pidfs, 6.9)
            // pidfds are anon inodes that every such fd shares.
            return o.kind.isSocket || o.kind == .file || o.kind == .cgroup ? .object(id: id, wrongKind: nil) : .shared
        }
    }

    /// The errnos of a key the model cannot name, before the element's own answer.
    func rawOwnerErrors(_ s: MapShape, _ more: Int32...) -> ErrSet {
        var e: ErrSet = s.type == .skStorage ? [EBADF, ENOTSOCK] : [EBADF]
        for x in more { e.insert(x) }
        return e
    }

    /// Update of a storage map, after the common prefix (fd, access, F_LOCK, key and value
    /// copies; the value masked, F_LOCK taken off where the value has a lock).
    func storageUpdate(_ ck: inout Check, _ m: MapModel, _ key: Bytes, _ value: Bytes, _ flags: UInt64, got: Int32) {
        let s = m.shape
        let f = flags & ~BPFUpdateFlags.lock
        if s.isCgroupStorage {
            // cgroup_storage_update_elem: flags other than F_LOCK and EXIST are EINVAL (NOEXIST
            // too), then no element exists without an attached program.
            expect(&ck, [f & ~BPFUpdateFlags.exist != 0 ? EINVAL : ENOENT], got, "cgroup storage without an attached program, flags=\(flags)")
            return
        }
        let flagsError: Int32? = f > BPFUpdateFlags.exist ? EINVAL : nil
        switch storageOwner(key, s) {
        case .closed: expect(&ck, [EBADF], got, "owner fd \(Int32(bitPattern: key.u32)) is not open")
        case let .object(_, wrong?): expect(&ck, [wrong], got, "owner of the wrong kind for \(ProgramText.typeName(s.type))")
        case .raw, .shared:
            var allowed: ErrSet = storageOwner(key, s) == .raw ? rawOwnerErrors(s) : []
            if let e = flagsError { allowed.insert(e) } else {
                allowed.insert(0)
                if f == BPFUpdateFlags.noExist { allowed.insert(EEXIST) }
                if f == BPFUpdateFlags.exist { allowed.insert(ENOENT) }
            }
            expect(&ck, allowed, got, "owner fd \(Int32(bitPattern: key.u32)) unknown to the model")
        case let .object(id, nil):
            if let e = flagsError { expect(&ck, [e], got, "update flags \(flags)"); return }
            let want: Int32 = m.known.contains(id) ? (f == BPFUpdateFlags.noExist ? EEXIST : 0) : (f == BPFUpdateFlags.exist ? ENOENT : 0)
            guard expect(&ck, [want], got, "storage of owner \(Self.hex(id)) \(m.known.contains(id) ? "present" : "absent"), flags=\(flags)") else { return }
            if got == 0 { m.known[id] = value }
        }
    }

    /// Lookup of a storage map, after the common prefix (flags, fd, access, key copy).
    func storageLookup(_ ck: inout Check, _ r: CallResult, _ m: MapModel, _ key: Bytes, outLength: Int, outOK: Bool) {
        let s = m.shape
        if s.isCgroupStorage { expect(&ck, [ENOENT], r.errno, "cgroup storage without an attached program"); return }
        let okErr: Int32 = outOK ? 0 : EFAULT
        switch storageOwner(key, s) {
        case .closed: expect(&ck, [EBADF], r.errno, "owner fd \(Int32(bitPattern: key.u32)) is not open")
        case let .object(_, wrong?): expect(&ck, [wrong], r.errno, "owner of the wrong kind for \(ProgramText.typeName(s.type))")
        case .raw: expect(&ck, rawOwnerErrors(s, ENOENT, okErr), r.errno, "owner fd \(Int32(bitPattern: key.u32)) unknown to the model")
        case .shared: expect(&ck, [ENOENT, okErr], r.errno, "owner with a shared inode")
        case let .object(id, nil):
            let v = m.known[id]
            // The value is copied out last: an absent owner is ENOENT whatever the buffer.
            guard expect(&ck, [v == nil ? ENOENT : okErr], r.errno, "storage of owner \(Self.hex(id)), out buffer \(outLength) of \(s.valueLen) bytes") else { return }
            let gotValue = r.outBytes.prefixBytes(s.valueLen)
            if r.errno == 0, let v, gotValue != v {
                ck.fail("value", "storage of owner \(Self.hex(id)) returned \(Self.hex(gotValue)), model has \(Self.hex(v))")
            }
        }
    }

    /// Delete of a storage map, after the common prefix (fd, access, key copy).
    func storageDelete(_ ck: inout Check, _ m: MapModel, _ key: Bytes, got: Int32) {
        let s = m.shape
        if s.isCgroupStorage { expect(&ck, [EINVAL], got, "cgroup storage has no delete"); return }
        switch storageOwner(key, s) {
        case .closed: expect(&ck, [EBADF], got, "owner fd \(Int32(bitPattern: key.u32)) is not open")
        case let .object(_, wrong?): expect(&ck, [wrong], got, "owner of the wrong kind for \(ProgramText.typeName(s.type))")
        case .raw:
            expect(&ck, rawOwnerErrors(s, 0, ENOENT), got, "owner fd \(Int32(bitPattern: key.u32)) unknown to the model")
        case .shared: expect(&ck, [0, ENOENT], got, "owner with a shared inode")
        case let .object(id, nil):
            guard expect(&ck, [m.known.contains(id) ? 0 : ENOENT], got, "storage of owner \(Self.hex(id))") else { return }
            m.known[id] = nil
        }
    }
}
