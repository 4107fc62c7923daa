// The model's record of the object pool (what each `open` returned), the oracle of open and drop, and the text of both calls.
import Basics
import BPFKit
import Foundation
import Glibc

/// What the model knows of pool object N: recorded from the `open` result, never guessed.
public struct PoolRecord: Equatable, Sendable {
    public var kind: PoolKind
    /// The fd number the executor gave it (what an `obj:N` buffer carries).
    public var fd: Int32
    /// Socket cookie, program id, cgroup id (inode), pid; 0 for perf events, files, pidfd_self's
    /// fact is the pid.
    public var fact: UInt64
    /// Unique per open in a program (0, 1, 2, ...): a model entry that stores the serial it
    /// was made with can tell that its object was dropped or replaced since.
    public var serial: Int
}

/// The model's pool: open objects by index, the serial of every open, and the kind of each
/// dropped serial (kernel lifetimes: what happens to entries whose object is gone).
public struct PoolModel {
    public private(set) var objects = [PoolRecord?](repeating: nil, count: ObjectPool.size)
    /// Kinds of objects dropped (or replaced by a new open) in this program, by serial.
    public private(set) var gone: [Int: PoolKind] = [:]
    private var nextSerial = 0

    public init() {}

    /// The fd an `obj:N` buffer carries (Executor.closedFD when N holds nothing).
    public func fd(_ n: Int) -> Int32 {
        guard n >= 0 && n < ObjectPool.size, let o = objects[n] else { return Executor.closedFD }
        return o.fd
    }

    /// The open object whose fd is `fd` (a value or key's bytes read back as an fd).
    public func object(fd: Int32) -> (index: Int, record: PoolRecord)? {
        for (i, o) in objects.enumerated() { if let o, o.fd == fd { return (i, o) } }
        return nil
    }

    /// True while the object opened as `serial` is open.
    public func isOpen(serial: Int) -> Bool { objects.contains { $0?.serial == serial } }

    mutating func opened(_ n: Int, _ kind: PoolKind, fd: Int32, fact: UInt64) {
        dropped(n)
        objects[n] = PoolRecord(kind: kind, fd: fd, fact: fact, serial: nextSerial)
        nextSerial += 1
    }

    @discardableResult
    mutating func dropped(_ n: Int) -> PoolRecord? {
        guard let o = objects[n] else { return nil }
        objects[n] = nil
        gone[o.serial] = o.kind
        return o
    }
}

extension ShadowModel {
    /// open: any errno is the kernel's answer to making the object (a kind this kernel lacks,
    /// a resource limit) and leaves N empty; success must carry an fd and, for kinds that have
    /// one, a non-zero fact. drop: 0 when N holds an object, EBADF (the executor's) when not.
    func poolCall(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        let n = Int(c.count)
        if c.op == .drop {
            let open = pool.objects[n] != nil
            guard expect(&ck, open ? [0] : [EBADF], r.errno, open ? "drop of open object \(n)" : "drop of empty object \(n)") else { return }
            if let o = pool.dropped(n) { objectDropped(n, o) }
            return
        }
        if let o = pool.dropped(n) { objectDropped(n, o) }
        guard let kind = PoolKind.at(c.flags) else { expect(&ck, [EINVAL], r.errno, "unknown pool kind \(c.flags)"); return }
        guard r.errno == 0 else { note(r.errno); return }
        let fd = Int32(bitPattern: r.count)
        let fact = r.out.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        if fd < 0 { ck.fail("pool", "open \(kind.rawValue) succeeded without an fd") }
        let hasFact = kind.isSocket || kind.isProgram || kind == .pidfdSelf || kind == .pidfdChild || kind == .cgroup
        if hasFact && fact == 0 { ck.fail("pool", "open \(kind.rawValue): no socket cookie / program id / pid / cgroup id") }
        pool.opened(n, kind, fd: fd, fact: fact)
    }

    /// Called when object `n` is dropped or replaced: map models whose entries hold it apply
    /// the kernel's lifetime rule here (each map type adds its own line).
    func objectDropped(_ n: Int, _ o: PoolRecord) {}
}

/// The text form of open and drop: `open obj=N kind=K`, `drop obj=N` (obj in count, the kind's
/// ordinal in flags).
enum PoolOps {
    static func format(_ c: Call) -> String? {
        switch c.op {
        case .open: return "open obj=\(c.count) kind=\(PoolKind.at(c.flags)?.rawValue ?? String(c.flags))"
        case .drop: return "drop obj=\(c.count)"
        default: return nil
        }
    }

    static func parse(_ c: inout Call, _ k: String, _ v: String, fail: (String) -> ProgramParseError) throws {
        switch (c.op, k) {
        case (_, "obj"):
            guard let n = UInt32(v), n < UInt32(ObjectPool.size) else { throw fail("obj=\(v): object must be 0...\(ObjectPool.size - 1)") }
            c.count = n
        case (.open, "kind"):
            guard let kind = PoolKind(rawValue: v) else {
                throw fail("kind=\(v): unknown pool kind (expected one of: \(PoolKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            c.flags = UInt64(kind.ordinal)
        default:
            throw fail("\(c.op.rawValue) has no argument '\(k)' (expected: obj\(c.op == .open ? ", kind" : ""))")
        }
    }

    /// What a parsed call still lacks, or an obj:N buffer where only element keys and values take it.
    static func check(_ c: Call, seen: Set<String>) -> String? {
        if c.op == .open && !seen.contains("kind") { return "open needs kind=K" }
        if (c.op == .open || c.op == .drop) && !seen.contains("obj") { return "\(c.op.rawValue) needs obj=N" }
        let elem = ElemCall.isElem(c.op)
        for (name, b) in [("key", c.key), ("value", c.value), ("out", c.out), ("kbuf", c.keysBuf), ("vbuf", c.valuesBuf)] {
            guard case .obj = b else { continue }
            if !elem || name == "out" || name == "kbuf" || name == "vbuf" { return "\(name)=\(b): obj:N is a key or value of update, lookup, delete, next_key and lookup_and_delete only" }
        }
        return nil
    }
}

extension PlainBuf {
    @inline(__always) var isObj: Bool {
        if case .obj = self { return true }
        return false
    }
}

extension ShadowModel {
    /// `c` with its obj:N key and value replaced by #fd, the fd the model recorded at open (the
    /// executor places the same bytes: Executor.objInt).
    @inline(never)
    func resolvingObjs(_ c: ElemCall) -> ElemCall {
        var c = c
        if case let .obj(n) = c.k { c.k = .int(UInt64(UInt32(bitPattern: pool.fd(n)))) }
        if case let .obj(n) = c.v { c.v = .int(UInt64(UInt32(bitPattern: pool.fd(n)))) }
        return c
    }
}
