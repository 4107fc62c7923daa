// put_prog: a devmap or cpumap entry with a program of the object pool (ifindex or qsize, and the program's fd); its text, executor, model and C.
import BPFKit
import CBPFStress
import Foundation

// Text: `put_prog map=M key=#K value=#W obj=N` is BPF_MAP_UPDATE_ELEM on slot M with the value
// {u32 W, s32 fd of pool object N} (value_size bytes of it: a 4-byte value carries only W).
// W is the ifindex (devmap) or the qsize (cpumap); N's kind decides whether the kernel takes it
// (a BPF_XDP_DEVMAP program in a devmap, a BPF_XDP_CPUMAP one in a cpumap).

enum DevCPUProg {
    /// The value bytes: W and the object's fd, little-endian, cut or zero-padded to `len`.
    static func value(_ word: UInt64, fd: Int32, len: Int) -> [UInt8] {
        Layout.intBytes(UInt64(UInt32(truncatingIfNeeded: word)) | UInt64(UInt32(bitPattern: fd)) << 32, len)
    }

    /// W of a put_prog (its `value=#W`; 0 for any other buffer).
    static func word(_ c: Call) -> UInt64 { if case let .int(w) = c.value { return w }; return 0 }

    static func format(_ c: Call) -> String? {
        guard c.op == .putProg else { return nil }
        var a = ["put_prog", "map=\(c.map)", "key=\(c.key)", "value=#\(word(c))", "obj=\(c.count)"]
        if c.flags != 0 { a.append("flags=\(ProgramText.flagText(c.flags, ProgramText.updateFlagNames, zero: "ANY"))") }
        if c.fd != .map { a.append("fd=\(c.fd.rawValue)") }
        return a.joined(separator: " ")
    }
}

extension Executor {
    /// put_prog: the update with {W, fd of pool object N}; the fd number goes into r.count.
    func runPutProg(_ c: Call, _ s: MapShape, _ fd: Int32, into r: inout CallResult) {
        let ofd = pool.fd(Int(c.count))
        r.count = UInt32(bitPattern: ofd)
        if s.isDevmap, let e = devmapRefusal(c.fd, c.map) { r.errno = e; return }
        let k = placeKey(c.key, s, slot: 0)
        let v = place(.input(DevCPUProg.value(DevCPUProg.word(c), fd: ofd, len: s.valueLen)), slot: 1)
        r.errno = err(bpfs_map_update_elem(rtp, fd, k.ptr, v.ptr, c.flags))
        checkCanaries([("key", k), ("value", v)], into: &r)
    }
}

extension ShadowModel {
    /// put_prog: the common update prefix, then the map type's update with the value the
    /// executor built from the object's fd (the model's pool record has the same fd).
    func putProg(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        guard let (m, key) = updatePrefix(&ck, c, r) else { return }
        let s = m.shape
        let value = Bytes(DevCPUProg.value(DevCPUProg.word(c), fd: pool.fd(Int(c.count)), len: s.valueLen))
        elemUpdate(&ck, m, key, value, c.flags, got: r.errno)
    }

    /// The common prefix of an update whose value the executor builds (put_inner, put_prog):
    /// fd, the devmap netns refusal, write permission, F_LOCK, the key; nil once answered.
    func updatePrefix(_ ck: inout Check, _ c: Call, _ r: CallResult) -> (MapModel, Bytes)? {
        if let e = fdError(c) { expect(&ck, [e], r.errno, "fd \(c.fd.rawValue)"); return nil }
        let m = maps[c.map]!, s = m.shape
        if let e = devmapRefusal(m) { expect(&ck, [e], r.errno, "devmap update outside the private netns (executor)"); return nil }
        if !m.canWrite { expect(&ck, [EPERM], r.errno, m.frozen ? "frozen map" : "read-only map"); return nil }
        if c.flags & BPFUpdateFlags.lock != 0 && !s.hasSpinLock { expect(&ck, [EINVAL], r.errno, "BPF_F_LOCK without a bpf_spin_lock"); return nil }
        let (keyError, key) = Self.resolveKey(c.key, s)
        if let e = keyError { expect(&ck, [e], r.errno, "key buffer \(c.key) for key_size \(s.keySize)"); return nil }
        return (m, key)
    }

    /// The program an 8-byte devmap or cpumap value names: nil for none (fd <= 0), else
    /// whether it is an open pool program of the kind the map takes and its id.
    func devcpuProgram(_ fd: Int32, for t: BPFMapType) -> (ok: Bool, id: UInt32)? {
        guard fd > 0 else { return nil }
        guard let o = pool.object(fd: fd)?.record else { return (false, 0) }
        let want: PoolKind = t == .cpumap ? .progXDPCpumap : .progXDPDevmap
        return (o.kind == want, UInt32(truncatingIfNeeded: o.fact))
    }
}

extension CReproducer {
    /// put_prog in C: the value built from obj_fd[N] at run time, as the executor builds it.
    static func putProgBody(_ c: Call, _ s: MapShape, _ fd: String) -> String {
        place("k", Layout.key(c.key, s), slot: 0) + """
                unsigned long long pv = (unsigned long long)(unsigned int)\(DevCPUProg.word(c)) | (unsigned long long)(unsigned int)obj_fd[\(c.count)] << 32;
                unsigned char pvb[8]; memcpy(pvb, &pv, 8);
                void *v = place_in(1, pvb, \(min(s.valueLen, 8)));
                long r = elem_call(BPF_MAP_UPDATE_ELEM, \(fd), k, v, \(c.flags)ULL);

        """
    }
}

extension Generator {
    /// A program around put_prog: a devmap, devmap_hash or cpumap with 8-byte values, programs
    /// of the pool (the kind the map takes and others), entries with them, lookups (the
    /// program's id), the program dropped while an entry holds it, lookups again, a walk.
    public mutating func putProgProgram() -> Program {
        let t: BPFMapType = pick([.devmap, .devmapHash, .cpumap])
        var c = create(slot: 0, type: t)
        c.valueSize = chance(0.9) ? 8 : 4; c.mapFlags = 0; c.numa = nil
        var calls = [c]
        let kinds: [PoolKind] = t == .cpumap ? [.progXDPCpumap, .progXDPCpumap, .progXDPDevmap, .progXDP, .progSocketFilter]
            : [.progXDPDevmap, .progXDPDevmap, .progXDPCpumap, .progXDP, .progSocketFilter]
        for n in 0..<(1 + int(2)) {
            var o = Call(.open); o.count = UInt32(n); o.flags = UInt64(pick(kinds).ordinal)
            calls.append(o)
        }
        let word: [UInt64] = t == .cpumap ? [64, 64, 0, 16385] : [UInt64(ShadowModel.loIfindex), UInt64(ShadowModel.loIfindex), 0, 999]
        for _ in 0..<(3 + int(6)) {
            switch int(6) {
            case 0, 1:
                var p = Call(.putProg); p.key = .int(UInt64(int(3))); p.value = .int(pick(word)); p.count = UInt32(int(4))
                if chance(0.1) { p.flags = pick([1, 2]) }
                calls.append(p)
            case 2:
                var d = Call(.drop); d.count = UInt32(int(3)); calls.append(d)
            default:
                var l = Call(.lookup); l.key = .int(UInt64(int(3))); calls.append(l)
            }
        }
        calls.append(Call(.walk, map: 0))
        return Program(calls)
    }
}
