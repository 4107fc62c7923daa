// Fuzz programs: calls, buffers, fd modes, cursors, and ElemCall (an element op read in place).
import BPFKit
import Foundation

// A fuzz program is a list of typed map calls. Its text form is one call per line:
//
//     create map=0 type=hash key=4 value=8 max=16 flags=NO_PREALLOC
//     update map=0 key=#1 value=@v3 flags=NOEXIST
//     lookup map=0 key=0x01000000
//     lookup_batch map=0 in=NULL count=8
//
// Only arguments that differ from the defaults are printed, so `print(parse(x))` is canonical.

/// The map calls a program can make.
public enum CallOp: String, CaseIterable, Sendable {
    case create, update, lookup, delete
    case nextKey = "next_key"
    case lookupAndDelete = "lookup_and_delete"
    case freeze
    case lookupBatch = "lookup_batch"
    case lookupAndDeleteBatch = "lookup_and_delete_batch"
    case updateBatch = "update_batch"
    case deleteBatch = "delete_batch"
    /// A whole get_next_key walk plus a lookup of every key: checks each key comes once.
    case walk
    /// close(2) of the map's fd; later calls on the slot use the closed fd (EBADF).
    case close
    /// mmap(2) of the map's data (MAP_SHARED, `prot=` PROT_READ 1 | PROT_WRITE 2), read back
    /// when readable; munmap(2) of the slot's latest mapping; a re-read of it (even after close).
    case mmap, munmap, view
    /// Permissions and identity (IdentityOps.swift): OBJ_PIN into the fuzzer's private bpffs,
    /// unlink of a pin, OBJ_GET with file_flags, MAP_GET_FD_BY_ID with open_flags,
    /// MAP_GET_NEXT_ID, and OBJ_GET_INFO_BY_FD with a fuzzed info_len.
    case pin, unpin
    case objGet = "obj_get"
    case fdByID = "fd_by_id"
    case nextID = "next_id"
    case info
    /// One map raced by two threads (RaceOps.swift): updates and deletes against walks,
    /// batches, batch deletes, freeze, mmap or close.
    case race
    /// mmap of a ring buffer's pages at an offset (RingMmap.swift).
    case ringMmap = "ring_mmap"
    /// Map-in-map: update of an outer map's element with the fd of slot `inner` as the value;
    /// and BPF_MAP_GET_FD_BY_ID on the id of the slot's latest map (is it still alive?).
    case putInner = "put_inner"
    case alive
    /// Fault injection (FaultNth.swift): the next call runs with the n-th fault site of this
    /// thread failing (/proc/thread-self/fail-nth).
    case failNth = "fail_nth"
    /// The object pool (Pool.swift): make object `obj=N` of `kind=K`; close it.
    case open, drop
    /// A devmap or cpumap entry with pool object N's fd as its program (DevCPUProg.swift).
    case putProg = "put_prog"

    /// Position in the declaration (a cheap hash input; the raw value is a String).
    var ordinal: UInt8 {
        switch self {
        case .create: return 0
        case .update: return 1
        case .lookup: return 2
        case .delete: return 3
        case .nextKey: return 4
        case .lookupAndDelete: return 5
        case .freeze: return 6
        case .lookupBatch: return 7
        case .lookupAndDeleteBatch: return 8
        case .updateBatch: return 9
        case .deleteBatch: return 10
        case .walk: return 11
        case .close: return 12
        case .mmap: return 13
        case .munmap: return 14
        case .view: return 15
        case .pin: return 16
        case .unpin: return 17
        case .objGet: return 18
        case .fdByID: return 19
        case .nextID: return 20
        case .info: return 21
        case .race: return 22
        case .ringMmap: return 23
        case .putInner: return 24
        case .alive: return 25
        case .open: return 26
        case .drop: return 27
        case .putProg: return 28
        case .failNth: return 29
        }
    }
}

/// A user buffer argument. Every buffer the executor builds ends right before a PROT_NONE
/// guard page with canary bytes in front, so its length is exactly what the text says.
public enum Buf: Hashable, Sendable, CustomStringConvertible {
    /// The size the call needs (key size, value size, per-CPU stride × CPUs, …).
    case auto
    /// A NULL pointer.
    case null
    /// A pointer to the guard page itself (unmapped for the kernel).
    case unmapped
    /// Exactly these bytes (a key or a value literal).
    case bytes([UInt8])
    /// A little-endian integer filling the map's key size (`#5`).
    case int(UInt64)
    /// A value generated from a seed (`@v3`), of the needed size or `len` bytes.
    case pattern(UInt32, len: Int?)
    /// An output buffer of exactly `n` bytes (`len:12`).
    case len(Int)
    /// The fd number of pool object N (`obj:N`) as a little-endian integer of the buffer's
    /// natural size (Executor.closedFD when N holds nothing): keys and values of element ops.
    case obj(Int)

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .null: return "NULL"
        case .unmapped: return "BAD"
        case let .bytes(b): return "0x" + b.map { String(format: "%02x", $0) }.joined()
        case let .int(v): return "#\(v)"
        case let .pattern(s, nil): return "@v\(s)"
        case let .pattern(s, len?): return "@v\(s):\(len)"
        case let .len(n): return "len:\(n)"
        case let .obj(n): return "obj:\(n)"
        }
    }

    static func parse(_ s: String) -> Buf? {
        switch s {
        case "auto": return .auto
        case "NULL": return .null
        case "BAD": return .unmapped
        default: break
        }
        if s.hasPrefix("0x") {
            let hex = Array(s.dropFirst(2))
            guard hex.count % 2 == 0 else { return nil }
            var out: [UInt8] = []
            var i = 0
            while i < hex.count {
                guard let b = UInt8(String(hex[i...i + 1]), radix: 16) else { return nil }
                out.append(b); i += 2
            }
            return .bytes(out)
        }
        if s.hasPrefix("#") { return UInt64(s.dropFirst()).map { .int($0) } }
        if s.hasPrefix("obj:") { return Int(s.dropFirst(4)).flatMap { (0..<ObjectPool.size).contains($0) ? .obj($0) : nil } }
        if s.hasPrefix("len:") { return Int(s.dropFirst(4)).flatMap { $0 >= 0 ? .len($0) : nil } }
        if s.hasPrefix("@v") {
            let body = s.dropFirst(2).split(separator: ":", maxSplits: 1)
            guard let seed = body.first.flatMap({ UInt32($0) }) else { return nil }
            if body.count == 2 {
                guard let n = Int(body[1]), n >= 0 else { return nil }
                return .pattern(seed, len: n)
            }
            return .pattern(seed, len: nil)
        }
        return nil
    }
}

/// Which descriptor a call passes.
public enum FDMode: String, Hashable, Sendable, CaseIterable {
    /// The slot's map fd.
    case map
    /// An fd number that is not open.
    case closed
    /// An open fd that is not a map (/dev/null).
    case file
    /// -1.
    case negative = "-1"

    /// Position in the declaration (a cheap hash input; the raw value is a String).
    var ordinal: UInt8 {
        switch self {
        case .map: return 0
        case .closed: return 1
        case .file: return 2
        case .negative: return 3
        }
    }
}

/// The in_batch cursor of a batch lookup.
public enum Token: Hashable, Sendable, CustomStringConvertible {
    case null
    /// The out_batch the previous batch call on the same map wrote.
    case last
    case unmapped
    case value(UInt32)

    public var description: String {
        switch self {
        case .null: return "NULL"
        case .last: return "last"
        case .unmapped: return "BAD"
        case let .value(v): return "#\(v)"
        }
    }

    static func parse(_ s: String) -> Token? {
        switch s {
        case "NULL": return .null
        case "last": return .last
        case "BAD": return .unmapped
        default: return s.hasPrefix("#") ? UInt32(s.dropFirst()).map { .value($0) } : nil
        }
    }
}

/// One call with all of its arguments; each op reads the fields it needs.
public struct Call: Hashable, Sendable, CustomStringConvertible {
    // The fields every element op reads come first: they share the first cache lines of a
    // Call (a long program streams its calls through the cache once per execution).
    public var op: CallOp
    /// Which descriptor the call passes.
    public var fd: FDMode = .map
    /// Map slot (0...3) the call works on.
    public var map: Int = 0
    /// flags (update, lookup), or batch.flags.
    public var flags: UInt64 = 0
    // element ops: each Buf is stored as its PlainBuf (and the bytes of a `.bytes` apart), so
    // that ElemCall reads them with plain loads (converting three Bufs per call cost ~70
    // instructions, twice per element op).
    var keyPlain: PlainBuf = .auto
    var valuePlain: PlainBuf = .auto
    var outPlain: PlainBuf = .auto
    /// The bytes of key, value and out when they are `.bytes` (their PlainBuf is `.inCall`).
    var keyLiteral: [UInt8] = [], valueLiteral: [UInt8] = [], outLiteral: [UInt8] = []
    public var key: Buf {
        get { keyPlain.buf ?? .bytes(keyLiteral) }
        set { (keyPlain, keyLiteral) = PlainBuf.split(newValue) }
    }
    public var value: Buf {
        get { valuePlain.buf ?? .bytes(valueLiteral) }
        set { (valuePlain, valueLiteral) = PlainBuf.split(newValue) }
    }
    /// Output buffer (lookup value, next_key key).
    public var out: Buf {
        get { outPlain.buf ?? .bytes(outLiteral) }
        set { (outPlain, outLiteral) = PlainBuf.split(newValue) }
    }
    // create
    public var type: BPFMapType = .hash
    public var keySize: UInt32 = 4
    public var valueSize: UInt32 = 8
    public var maxEntries: UInt32 = 16
    public var mapFlags: UInt32 = 0
    public var numa: UInt32? = nil
    /// map_extra (bloom filter: the hash count in bits 0-3; any other type: must be 0).
    public var mapExtra: UInt64 = 0
    /// freeze: the attr size passed (0: the wrapper's own), its last byte non-zero.
    public var attrSize: UInt32 = 0
    /// create: the slot whose map is inner_map_fd (the template); put_inner: the slot whose fd
    /// is the value. -1: none (create passes 0), -2: /dev/null's fd, -3: a closed fd.
    public var inner: Int = -1
    /// create: the value is a BTF struct with these kernel-owned fields (BTFValue bits; 0: no BTF).
    public var btf: UInt8 = 0
    // batch ops
    public var elemFlags: UInt64 = 0
    public var count: UInt32 = 0
    public var keys: [UInt64] = []
    /// Seed of the first value of update_batch (value i has seed vals+i).
    public var vals: UInt32 = 0
    public var inBatch: Token = .null
    /// Keys / values buffer sizes of a batch (auto = count × element size).
    public var keysBuf: Buf = .auto
    public var valuesBuf: Buf = .auto

    public init(_ op: CallOp, map: Int = 0) { self.op = op; self.map = map }

    public var description: String { ProgramText.format(self) }
}

/// A Buf argument of an element op without the `.bytes` payload, so that ElemCall is
/// trivially copyable (copying a Buf is an outlined switch plus a retain for `.bytes`).
enum PlainBuf: Hashable, Sendable {
    case auto, null, unmapped
    case int(UInt64)
    case pattern(UInt32, len: Int?)
    case len(Int)
    /// `.obj`: resolved to the object's fd by executor and model, off the hot path.
    case obj(Int)
    /// `.bytes`: the Buf is read from the call itself (ElemCall.src).
    case inCall

    @inline(__always)
    init(_ b: Buf) {
        switch b {
        case .auto: self = .auto
        case .null: self = .null
        case .unmapped: self = .unmapped
        case let .int(v): self = .int(v)
        case let .pattern(s, len): self = .pattern(s, len: len)
        case let .len(n): self = .len(n)
        case let .obj(n): self = .obj(n)
        case .bytes: self = .inCall
        }
    }

    /// `b` as stored in a Call: its PlainBuf and the bytes of a `.bytes` (else none).
    @inline(__always)
    static func split(_ b: Buf) -> (PlainBuf, [UInt8]) {
        if case let .bytes(x) = b { return (.inCall, x) }
        return (PlainBuf(b), [])
    }

    /// The Buf, nil for `.inCall`.
    var buf: Buf? {
        switch self {
        case .auto: return .auto
        case .null: return .null
        case .unmapped: return .unmapped
        case let .int(v): return .int(v)
        case let .pattern(s, len): return .pattern(s, len: len)
        case let .len(n): return .len(n)
        case let .obj(n): return .obj(n)
        case .inCall: return nil
        }
    }
}

/// The arguments of an element op (update, lookup, delete, next_key, lookup_and_delete),
/// read out of a Call in place. The executor and the model take this on the hot path
/// instead of the whole Call: copying a Call (5 Bufs, a keys array, ~220 bytes) per call
/// cost more than the model's own work. Trivially copyable.
struct ElemCall {
    var op: CallOp
    var map: Int
    var fd: FDMode
    var k: PlainBuf
    var v: PlainBuf
    var o: PlainBuf
    var flags: UInt64
    /// The call the arguments come from, read only for `.bytes` buffers (rare). An unsafe
    /// pointer keeps ElemCall trivially copyable; an ElemCall lives only inside the scope
    /// that holds the call (one runElem / checkElem), and is never stored.
    let src: UnsafePointer<Call>

    @inline(__always)
    static func isElem(_ op: CallOp) -> Bool {
        switch op {
        case .update, .lookup, .delete, .nextKey, .lookupAndDelete: return true
        default: return false
        }
    }

    /// Field by field from the call at `p` (no copy of the whole Call).
    @inline(__always)
    init(_ p: UnsafePointer<Call>) {
        src = p
        op = p.pointee.op; map = p.pointee.map; fd = p.pointee.fd
        k = p.pointee.keyPlain; v = p.pointee.valuePlain; o = p.pointee.outPlain
        flags = p.pointee.flags
    }

    /// The full Buf arguments (messages, rare buffer kinds).
    var key: Buf { k.buf ?? src.pointee.key }
    var value: Buf { v.buf ?? src.pointee.value }
    var out: Buf { o.buf ?? src.pointee.out }
}

/// A program: calls run in order, on fresh maps.
public struct Program: Hashable, Sendable {
    public var calls: [Call]
    public init(_ calls: [Call]) { self.calls = calls }
    public var text: String { ProgramText.format(self) }
}
