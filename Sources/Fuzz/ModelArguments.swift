// How a call's buffer arguments resolve for the model: copy errors, key and value bytes, output lengths.
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    /// errno of copying a key in (__bpf_copy_key), nil when it succeeds.
    static func keyCopyError(_ r: ResolvedBuf, _ keySize: Int) -> Int32? {
        if keySize == 0 { return r == .null ? nil : EINVAL }
        switch r {
        case .null, .unmapped: return EFAULT
        default: return r.length < keySize ? EFAULT : nil
        }
    }

    static func bytes(_ r: ResolvedBuf, _ n: Int) -> Bytes {
        if case let .input(b) = r { return b.count <= n ? Bytes(b) : Bytes(b.prefix(n)) }
        return Bytes()
    }

    /// keyCopyError(Layout.key(b, s)) and bytes(that, keySize) in one step; #N and auto keys
    /// (nearly all of them) are built inline without the intermediate array.
    @inline(__always)
    static func resolveKey(_ b: Buf, _ s: MapShape) -> (error: Int32?, key: Bytes) {
        let ks = s.keySize
        switch b {
        case let .int(v): return ks == 0 ? (EINVAL, Bytes()) : (nil, Bytes(int: v, count: ks))
        case .auto: return ks == 0 ? (nil, Bytes()) : (nil, Bytes(int: 0, count: ks))
        default: return resolveKeySlow(b, s)
        }
    }

    @inline(never)
    static func resolveKeySlow(_ b: Buf, _ s: MapShape) -> (error: Int32?, key: Bytes) {
        let kb = Layout.key(b, s)
        if let e = keyCopyError(kb, s.keySize) { return (e, Bytes()) }
        return (nil, bytes(kb, s.keySize))
    }

    /// An update's value argument: Layout.value(b, s), whether the kernel can copy value_size
    /// bytes of it, and those bytes. #N, @vN and auto values are built inline.
    @inline(__always)
    static func resolveValue(_ b: Buf, _ s: MapShape) -> (ok: Bool, length: Int, value: Bytes) {
        let vl = s.valueLen
        switch b {
        case .auto: return (true, vl, Bytes(pattern: 0, count: vl))
        case let .int(v): return (true, vl, Bytes(int: v, count: vl))
        case let .pattern(seed, len):
            let n = min(len ?? vl, Layout.bufferCap)
            return n < vl ? (false, n, Bytes()) : (true, n, Bytes(pattern: seed, count: vl))
        default: return resolveValueSlow(b, s)
        }
    }

    @inline(never)
    static func resolveValueSlow(_ b: Buf, _ s: MapShape) -> (ok: Bool, length: Int, value: Bytes) {
        let vl = s.valueLen
        // value_size 0 (ring buffers): the kernel copies nothing, so no pointer can fault.
        if vl == 0 { return (true, 0, Bytes()) }
        let vb = Layout.value(b, s)
        if vb.length < vl || !(vb.isPointer && vb != .unmapped) { return (false, vb.length, Bytes()) }
        return (true, vb.length, bytes(vb, vl))
    }

    /// resolveKey(c.key, s) on the plain argument: the common kinds without a Buf to destroy.
    @inline(__always)
    static func resolveKey(_ c: ElemCall, _ s: MapShape) -> (error: Int32?, key: Bytes) {
        switch c.k {
        case .auto: return resolveKey(Buf.auto, s)
        case let .int(v): return resolveKey(Buf.int(v), s)
        default: return resolveKey(c.key, s)
        }
    }

    @inline(__always)
    static func resolveValue(_ c: ElemCall, _ s: MapShape) -> (ok: Bool, length: Int, value: Bytes) {
        switch c.v {
        case .auto: return resolveValue(Buf.auto, s)
        case let .int(v): return resolveValue(Buf.int(v), s)
        case let .pattern(seed, len): return resolveValue(Buf.pattern(seed, len: len), s)
        default: return resolveValue(c.value, s)
        }
    }

    @inline(__always)
    static func outputBuf(_ c: ElemCall, need: Int) -> (length: Int, isPointer: Bool) {
        switch c.o {
        case .auto: return outputBuf(Buf.auto, need: need)
        case .null: return outputBuf(Buf.null, need: need)
        case .unmapped: return outputBuf(Buf.unmapped, need: need)
        default: return outputBuf(c.out, need: need)
        }
    }

    /// Layout.output(b, need:) as its length and whether it is a real buffer (not NULL, not
    /// the guard page), without building and comparing ResolvedBuf values.
    @inline(__always)
    static func outputBuf(_ b: Buf, need: Int) -> (length: Int, isPointer: Bool) {
        switch b {
        case .auto: return (min(need, Layout.bufferCap), true)
        case .null, .unmapped: return (0, false)
        default: return (Layout.output(b, need: need).length, true)
        }
    }
}
