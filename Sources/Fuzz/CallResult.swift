// What one call did, as seen from user space: errno, output, batch count and cursor, walk, broken canaries.
import Basics
import BPFKit
import CBPFStress
import Foundation
import Glibc

/// What one call did, as seen from user space. The fields every call has are stored
/// inline (the output up to 16 bytes without allocating); the rest (batch buffers, walks,
/// broken canaries) live in a box that only calls producing them create.
public struct CallResult: Equatable {
    /// 0 on success, else the errno (ENOTSUPP is 524).
    // No default values: the inits set every field, so that building one on the hot path is
    // a few stores (with defaults plus an assignment it was built, copied and destroyed).
    public var errno: Int32
    /// Output bytes: lookup / pop value, next key.
    var outBytes: Bytes
    /// Batch count after the call.
    public var count: UInt32
    /// The errno that ended the walk (ENOENT at the end).
    public var walkEnd: Int32
    var more: More?

    final class More {
        var keysOut: [UInt8] = []
        var valuesOut: [UInt8] = []
        var token: [UInt8] = []
        var walk: [(key: [UInt8], value: [UInt8]?)] = []
        var brokenCanaries: [String] = []
        /// The call ran after fail_nth and its fault site was reached (FaultNth.swift).
        var faultInjected = false
        init() {}
        func copy() -> More {
            let m = More()
            m.keysOut = keysOut; m.valuesOut = valuesOut; m.token = token; m.walk = walk; m.brokenCanaries = brokenCanaries; m.faultInjected = faultInjected
            return m
        }
    }

    /// The box, created or unshared before a write (value semantics).
    var mutableMore: More {
        mutating get {
            if more == nil { more = More() } else if !isKnownUniquelyReferenced(&more) { more = more!.copy() }
            return more!
        }
    }

    public init() { errno = 0; outBytes = Bytes(); count = 0; walkEnd = 0; more = nil }

    init(errno: Int32, outBytes: __owned Bytes) {
        self.errno = errno; self.outBytes = outBytes; count = 0; walkEnd = 0; more = nil
    }

    /// Output bytes: lookup / pop value, next key.
    public var out: [UInt8] {
        get { outBytes.array }
        set { outBytes = Bytes(newValue) }
    }
    public var keysOut: [UInt8] {
        get { more?.keysOut ?? [] }
        set { mutableMore.keysOut = newValue }
    }
    public var valuesOut: [UInt8] {
        get { more?.valuesOut ?? [] }
        set { mutableMore.valuesOut = newValue }
    }
    /// out_batch after the call.
    public var token: [UInt8] {
        get { more?.token ?? [] }
        set { mutableMore.token = newValue }
    }
    /// A walk: each key get_next_key returned and its lookup (value, or nil with the errno).
    public var walk: [(key: [UInt8], value: [UInt8]?)] {
        get { more?.walk ?? [] }
        set { mutableMore.walk = newValue }
    }
    /// Names of buffers whose canary in front was overwritten, or that the kernel wrote
    /// although the call failed before any copy.
    public var brokenCanaries: [String] {
        get { more?.brokenCanaries ?? [] }
        set { mutableMore.brokenCanaries = newValue }
    }
    /// The call ran armed by fail_nth and its fault was injected.
    public var faultInjected: Bool { more?.faultInjected ?? false }
    var hasBrokenCanaries: Bool { more.map { !$0.brokenCanaries.isEmpty } ?? false }
    var walkIsEmpty: Bool { more.map { $0.walk.isEmpty } ?? true }

    public static func == (a: CallResult, b: CallResult) -> Bool {
        a.errno == b.errno && a.outBytes == b.outBytes && a.count == b.count && a.keysOut == b.keysOut &&
            a.valuesOut == b.valuesOut && a.token == b.token && a.walkEnd == b.walkEnd &&
            a.walk.map(\.key) == b.walk.map(\.key) && a.walk.map(\.value) == b.walk.map(\.value) &&
            a.brokenCanaries == b.brokenCanaries
    }
}
