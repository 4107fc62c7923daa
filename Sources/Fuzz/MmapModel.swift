// The mmap oracle: who may map a map (BPF_F_MMAPABLE arrays, ring buffers' consumer page), what the view holds, and freeze against writable mappings.
import Basics
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    /// The executor's policy, mirrored: a create on the slot unmaps the slot's mappings.
    func unmapAll(_ slot: Int) {
        for m in mappings[slot] where m.writable { m.model.writeMappings -= 1 }
        mappings[slot] = []
    }

    /// mmap(MAP_SHARED, prot) of the slot's fd: fd mode first (do_mmap: EACCES without read
    /// access, or PROT_WRITE without write access), then bpf_map_mmap: ENOTSUPP without a
    /// map_mmap op, EINVAL for a read-only fd (do_mmap made the mapping private), EPERM for
    /// PROT_WRITE on a frozen map, EACCES on RDONLY_PROG, and the array's own EINVAL without
    /// BPF_F_MMAPABLE. A readable view must equal the model.
    func mmap(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        switch c.fd {
        case .closed, .negative: expect(&ck, [EBADF], r.errno, "fd \(c.fd.rawValue)"); return
        case .file:
            // /dev/null, opened O_RDONLY: a shared writable mapping fails on the fd mode first.
            expect(&ck, [c.flags & 2 != 0 ? EACCES : ENODEV], r.errno, "/dev/null (read-only, no mmap)"); return
        case .map: break
        }
        guard let m = maps[c.map] else { expect(&ck, [EBADF], r.errno, "no map in the slot"); return }
        let s = m.shape, write = c.flags & 2 != 0
        if s.type == .arena { expect(&ck, [arenaMmapNotModelled], r.errno, "arena mmap (executor's answer: not modelled)"); return }
        if m.wronly || (write && m.rdonly) { expect(&ck, [EACCES], r.errno, "the fd's access mode"); return }
        // A value with kernel-owned fields (a BTF record) is never mapped (bpf_map_mmap).
        let hasMmap = (s.isRingbuf || s.type == .array) && s.btf & ~BTFValue.plain == 0
        if !hasMmap { expect(&ck, [ENOTSUPP], r.errno, "\(ProgramText.typeName(s.type)) has no mmap"); return }
        // A read-only fd: do_mmap drops VM_SHARED, which bpf_map_mmap requires.
        if m.rdonly { expect(&ck, [EINVAL], r.errno, "read-only fd: the mapping is not shared"); return }
        if write && m.frozen { expect(&ck, [EPERM], r.errno, "writable mmap of a frozen map"); return }
        if write && s.flags & BPFMapFlags.rdonlyProg != 0 { expect(&ck, [EACCES], r.errno, "writable mmap of a BPF_F_RDONLY_PROG map"); return }
        if s.isRingbuf {
            // One page at offset 0: the consumer page (RingMmap.swift has the page rules).
            if expect(&ck, [RingMmap.errno(s, off: 0, len: 1, write: write)], r.errno, "\(ProgramText.typeName(s.type)) consumer page, prot \(c.flags)"), r.errno == 0 {
                addMapping(c.map, m, write: write, read: c.flags & 1 != 0)
            }
            return
        }
        if s.flags & BPFMapFlags.mmapable == 0 { expect(&ck, [EINVAL], r.errno, "array without BPF_F_MMAPABLE"); return }
        guard expect(&ck, [0], r.errno, "mmap prot \(c.flags)") else { return }
        addMapping(c.map, m, write: write, read: c.flags & 1 != 0)
        if c.flags & 1 != 0 { checkView(&ck, r, m) }
    }

    func addMapping(_ slot: Int, _ m: MapModel, write: Bool, read: Bool) {
        if mappings[slot].count >= 4 {
            if mappings[slot][0].writable { mappings[slot][0].model.writeMappings -= 1 }
            mappings[slot].removeFirst()
        }
        mappings[slot].append((m, write, read))
        if write { m.writeMappings += 1 }
    }

    func munmap(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        guard let last = mappings[c.map].popLast() else { expect(&ck, [EINVAL], r.errno, "no mapping"); return }
        if last.writable { last.model.writeMappings -= 1 }
        expect(&ck, [0], r.errno, "munmap")
    }

    /// A re-read of the slot's latest mapping: its map's contents, even after the map's last fd
    /// closed (the mapping keeps the map alive).
    func view(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        guard let last = mappings[c.map].last else { expect(&ck, [EINVAL], r.errno, "no mapping"); return }
        guard last.readable else { expect(&ck, [EACCES], r.errno, "mapping without PROT_READ (not read)"); return }
        if case let .int(i) = c.key, c.value != .auto {
            // A write through the mapping: syscall lookups must see it afterwards.
            let m = last.model, s = m.shape
            guard last.writable else { expect(&ck, [EACCES], r.errno, "write through a mapping without PROT_WRITE"); return }
            guard i < UInt64(s.maxEntries) else { expect(&ck, [E2BIG], r.errno, "index \(i) past max_entries"); return }
            guard case let .input(b) = Layout.value(c.value, s) else { expect(&ck, [EINVAL], r.errno, "no value bytes"); return }
            guard expect(&ck, [0], r.errno, "write through the mapping") else { return }
            var v = (m.arr[Int(i)] ?? m.zero).array
            for (j, x) in b.prefix(s.valueSize).enumerated() { v[j] = x }
            m.arr[Int(i)] = Bytes(v)
            m.mutated()
        } else if !expect(&ck, [0], r.errno, "view") { return }
        if !last.model.shape.isRingbuf { checkView(&ck, r, last.model) }
    }

    /// An mmapable array's view: element i at i * round_up(value_size, 8) holds the model's value.
    func checkView(_ ck: inout Check, _ r: CallResult, _ m: MapModel) {
        let s = m.shape, elem = (s.valueSize + 7) & ~7, view = r.valuesOut
        for i in 0..<s.maxEntries where (i * elem + s.valueSize) <= view.count {
            let got = Bytes(Array(view[(i * elem)..<(i * elem + s.valueSize)]))
            let want = m.arr[i] ?? m.zero
            if got != want { ck.fail("value", "mmap view of index \(i) holds \(Self.hex(got)), want \(Self.hex(want))"); return }
        }
    }
}
