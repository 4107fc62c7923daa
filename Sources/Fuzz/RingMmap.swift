// Ring buffer pages over mmap: which pages a ringbuf or user_ringbuf maps writable, the mappable range, and the data pages mapped twice.
import BPFKit
import Foundation
import Glibc

// Text form:
//
//     ring_mmap map=0 off=1 len=5 prot=3 write=#4660
//
// mmap(len pages, prot, MAP_SHARED) at page offset `off` of a ring buffer's fd; with `write=#V`
// (and PROT_WRITE) the u64 V goes to offset 0 of one page (ringbuf: the consumer page;
// user_ringbuf: the first data page mapped, else the producer page); then the first u64 of
// every mapped page is read, and the mapping unmapped. Page 0 is consumer_pos, page 1
// producer_pos, then the data pages, mapped twice in a row (a record may wrap). Fields: count
// (off), vals (len), flags (prot), key (write).
enum RingMmap {
    static var page: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }
    /// Most pages one ring_mmap maps (the generator stays below; the parser refuses more).
    static let maxPages: UInt32 = 64

    static func dataPages(_ s: MapShape) -> Int { max(1, s.maxEntries / page) }

    /// The page the write lands on, for a mapping of `len` pages at `off`.
    static func target(_ s: MapShape, off: Int, len: Int) -> Int {
        if s.type == .ringbuf { return 0 }
        return off + len > 2 ? max(off, 2) : off
    }

    /// The errno of the kernel's ring buffer mmap rules (the fd and frozen checks come first):
    /// len 0 EINVAL; ringbuf: PROT_WRITE only for the consumer page alone (EPERM);
    /// user_ringbuf: PROT_WRITE never from page 0 (EPERM); then the range, 2 + 2 x data pages
    /// (EINVAL past it).
    static func errno(_ s: MapShape, off: Int, len: Int, write: Bool) -> Int32 {
        if len == 0 { return EINVAL }
        if write && s.type == .ringbuf && !(off == 0 && len == 1) { return EPERM }
        if write && s.type == .userRingbuf && off == 0 { return EPERM }
        return off + len > 2 + 2 * dataPages(s) ? EINVAL : 0
    }

    /// The signature outcome, by the rule the call meets (not its raw numbers): where the
    /// mapping starts (consumer page, producer page, data), whether it fits the mappable range,
    /// its length (0, one page, more), prot, and a write.
    static func outcome(_ c: Call, _ s: MapShape?) -> Int32 {
        let start: Int32 = c.count == 0 ? 0 : c.count == 1 ? 1 : 2
        let fits: Int32 = s.map { Int(c.count) + Int(c.vals) <= 2 + 2 * dataPages($0) } ?? true ? 0 : 1
        let len: Int32 = c.vals == 0 ? 0 : c.vals == 1 ? 1 : 2
        return start << 6 | fits << 5 | len << 3 | Int32(c.flags & 3) << 1 | (c.key == .auto ? 0 : 1)
    }

    static func format(_ c: Call) -> String {
        var a = ["ring_mmap", "map=\(c.map)", "off=\(c.count)", "len=\(c.vals)", "prot=\(c.flags)"]
        if case let .int(v) = c.key { a.append("write=#\(v)") }
        if c.fd != .map { a.append("fd=\(c.fd.rawValue)") }
        return a.joined(separator: " ")
    }

    static func parse(_ c: inout Call, _ k: String, _ v: String, fail: (String) -> ProgramParseError) throws {
        switch k {
        case "off", "len", "prot":
            guard let n = UInt32(v) else { throw fail("\(k)=\(v): not a number") }
            switch k {
            case "off": guard n <= 1024 else { throw fail("off=\(v): at most 1024 pages") }; c.count = n
            case "len": guard n <= maxPages else { throw fail("len=\(v): at most \(maxPages) pages") }; c.vals = n
            default: guard n <= 3 else { throw fail("prot=\(v): expected 0...3 (PROT_READ 1 | PROT_WRITE 2)") }; c.flags = UInt64(n)
            }
        case "write":
            guard v.hasPrefix("#"), let n = UInt64(v.dropFirst()) else { throw fail("write=\(v): expected #N") }
            c.key = .int(n)
        case "fd":
            guard let m = FDMode(rawValue: v) else { throw fail("fd=\(v): expected map, closed, file or -1") }
            c.fd = m
        default: throw fail("ring_mmap has no argument '\(k)' (expected: map, off, len, prot, write, fd)")
        }
    }
}

extension Generator {
    mutating func ringMmapCall(_ c: inout Call, on create: Call?) {
        let data = max(1, Int(create?.maxEntries ?? 4096) / 4096)
        let total = UInt32(min(2 + 2 * data, 40))
        c.count = pick([0, 0, 1, 2, UInt32(2 + data), total - 1, total])
        c.vals = pick([1, 1, 2, 3, total, total - c.count, total - c.count + 1, 0])
        c.vals = min(c.vals, RingMmap.maxPages)
        c.flags = pick([1, 1, 3, 3, 2])
        if c.flags & 2 != 0 && chance(0.8) { c.key = .int(UInt64(1 + int(1 << 16))) }
    }
}

extension Executor {
    func runRingMmap(_ c: Call, fd: Int32, shape s: MapShape, into r: inout CallResult) {
        if c.fd == .map, fds[c.map] >= 0, fds[c.map] != Executor.closedFD, let sh = shapes[c.map], !sh.isRingbuf { r.errno = ringMmapNotRing; return }
        let page = RingMmap.page, off = Int(c.count), len = Int(min(c.vals, RingMmap.maxPages))
        guard let p = mmap(nil, len * page, Int32(c.flags), MAP_SHARED, fd, off_t(off * page)), p != MAP_FAILED else { r.errno = Glibc.errno; return }
        defer { munmap(p, len * page) }
        if case let .int(v) = c.key, c.flags & 2 != 0 {
            let t = RingMmap.target(s, off: off, len: len) - off
            if t >= 0 && t < len { p.storeBytes(of: v.littleEndian, toByteOffset: t * page, as: UInt64.self) }
        }
        if c.flags & 1 != 0 {
            r.valuesOut = (0..<len).flatMap { i in Layout.intBytes(UInt64(littleEndian: p.load(fromByteOffset: i * page, as: UInt64.self)), 8) }
        }
    }
}

/// The executor's own answer to ring_mmap on a map that is no ring buffer (not issued).
let ringMmapNotRing = EOPNOTSUPP

extension ShadowModel {
    /// The first u64 of a ring buffer page as the model knows it: page 0, 1, or data page i
    /// (pages 2 + i and 2 + data + i are one page).
    func ringWord(_ m: MapModel, _ p: Int) -> UInt64 {
        identity.ringWords[ObjectIdentifier(m)]?[p < 2 ? p : 2 + (p - 2) % RingMmap.dataPages(m.shape)] ?? 0
    }

    func ringMmap(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        let write = c.flags & 2 != 0
        switch c.fd {
        case .closed, .negative: expect(&ck, [EBADF], r.errno, "fd \(c.fd.rawValue)"); return
        case .file: expect(&ck, [c.vals == 0 ? EINVAL : write ? EACCES : ENODEV], r.errno, "/dev/null (read-only, no mmap), len \(c.vals)"); return
        case .map: break
        }
        guard let m = maps[c.map] else { expect(&ck, [EBADF], r.errno, "no map in the slot"); return }
        let s = m.shape, off = Int(c.count), len = Int(c.vals)
        guard s.isRingbuf else { expect(&ck, [ringMmapNotRing], r.errno, "ring_mmap of a \(ProgramText.typeName(s.type)) (executor's answer)"); return }
        if len == 0 { expect(&ck, [EINVAL], r.errno, "mmap of 0 bytes"); return }
        if m.wronly || (write && m.rdonly) { expect(&ck, [EACCES], r.errno, "the fd's access mode"); return }
        if m.rdonly { expect(&ck, [EINVAL], r.errno, "read-only fd: the mapping is not shared"); return }
        if write && m.frozen { expect(&ck, [EPERM], r.errno, "writable mmap of a frozen map"); return }
        let e = RingMmap.errno(s, off: off, len: len, write: write)
        guard expect(&ck, [e], r.errno, "\(ProgramText.typeName(s.type)) pages \(off)..<\(off + len) of \(2 + 2 * RingMmap.dataPages(s)), prot \(c.flags)"), e == 0 else { return }
        if case let .int(v) = c.key, write {
            let t = RingMmap.target(s, off: off, len: len)
            if t >= off && t < off + len {
                identity.ringWords[ObjectIdentifier(m), default: [:]][t < 2 ? t : 2 + (t - 2) % RingMmap.dataPages(s)] = v
            }
        }
        guard c.flags & 1 != 0 else { return }
        for i in 0..<len {
            let got = Array(r.valuesOut.dropFirst(i * 8).prefix(8)), want = Layout.intBytes(ringWord(m, off + i), 8)
            if got != want {
                ck.fail("value", "page \(off + i) of the \(ProgramText.typeName(s.type)) starts \(Self.hex(got)), want \(Self.hex(want))\(off + i >= 2 ? " (data pages are mapped twice)" : "")"); return
            }
        }
    }
}

extension CReproducer {
    static func ringMmapBody(_ c: Call, _ s: MapShape) -> String {
        guard s.isRingbuf || c.fd != .map else { return "        long r = fds[\(c.map)] < 0 || fds[\(c.map)] == CLOSED_FD ? -EBADF : -\(ringMmapNotRing);\n" }
        let off = Int(c.count), len = Int(min(c.vals, RingMmap.maxPages))
        var w = ""
        if case let .int(v) = c.key, c.flags & 2 != 0 {
            let t = RingMmap.target(s, off: off, len: len) - off
            if t >= 0 && t < len { w = "*(unsigned long long *)((char *)p + \(t) * page) = \(v)ULL; " }
        }
        return """
                void *p = mmap(NULL, \(len) * page, \(c.flags), MAP_SHARED, \(fd(c)), \(off) * page);
                long r = p == MAP_FAILED ? -errno : 0;
                if (!r) { \(w)\(c.flags & 1 != 0 ? "for (int i = 0; i < \(len); i++) printf(\"      page %d: %llx\\n\", \(off) + i, *(unsigned long long *)((char *)p + i * page)); " : "")munmap(p, \(len) * page); }

        """
    }
}
