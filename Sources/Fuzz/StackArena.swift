// stack_trace and arena: the element oracles of an empty stack trace map and of an arena (no element commands), and their kernel facts.
import Basics
import BPFKit
import CBPFStress
import Foundation
import Glibc

/// The kernel facts of DevCPU.swift and StackArena.swift, probed at fuzzer start.
public struct DevCPUFacts: Sendable, Equatable {
    /// errno of creating a one-page arena (0: the kernel has BPF_MAP_TYPE_ARENA, 6.9+; 6.1: EINVAL).
    public var arenaErrno: Int32 = 0
    /// The largest max_entries a cpumap takes (NR_CPUS; larger is E2BIG): 256 on this 6.18
    /// host kernel's config, 8192 in Debian's.
    public var cpumapMaxEntries = 256
    /// errno of BPF_MAP_LOOKUP_AND_DELETE_ELEM on an empty stack trace map (6.18: ENOENT, the
    /// command is implemented; ENOTSUPP where it is not).
    public var stackLookupAndDeleteErrno: Int32 = ENOENT
    /// /proc/sys/kernel/perf_event_max_stack: the most frames a stack trace value holds.
    public var perfMaxStack = 127

    public init() {}

    var properties: [(name: String, value: String)] {
        [("fact.arena", KernelFacts.name(arenaErrno)), ("fact.cpumap_max_entries", String(cpumapMaxEntries)),
         ("fact.stack_lookup_and_delete", KernelFacts.name(stackLookupAndDeleteErrno)), ("fact.perf_max_stack", String(perfMaxStack))]
    }

    /// Small creates and one lookup_and_delete; a probe that cannot run keeps the 6.18 value.
    static func probe(_ rt: inout bpfs_rt) -> (DevCPUFacts, [String]) {
        var f = DevCPUFacts(), unprobed: [String] = []
        func create(_ t: BPFMapType, _ k: UInt32, _ v: UInt32, _ max: UInt32, _ flags: UInt32) -> Int32 {
            "bpfs_fuzz_probe".withCString { bpfs_map_create(&rt, t.rawValue, k, v, max, flags, $0, 0) }
        }
        let a = create(.arena, 0, 0, 1, BPFMapFlags.mmapable)
        if a >= 0 { close(a); f.arenaErrno = 0 } else { f.arenaErrno = -a }
        // Binary search of max_entries between 1 (taken) and 65536.
        var lo: UInt32 = 1, hi: UInt32 = 1 << 16
        let one = create(.cpumap, 4, 4, 1, 0)
        if one >= 0 {
            close(one)
            while lo < hi {
                let mid = lo + (hi - lo + 1) / 2
                let fd = create(.cpumap, 4, 4, mid, 0)
                if fd >= 0 { close(fd); lo = mid } else if fd == -E2BIG { hi = mid - 1 } else { unprobed.append("fact.cpumap_max_entries (errno \(-fd) at \(mid))"); break }
            }
            if !unprobed.contains(where: { $0.hasPrefix("fact.cpumap") }) { f.cpumapMaxEntries = Int(lo) }
        } else { unprobed.append("fact.cpumap_max_entries (probe map: errno \(-one))") }
        if let s = try? String(contentsOfFile: "/proc/sys/kernel/perf_event_max_stack", encoding: .utf8),
           let n = Int(s.trimmingCharacters(in: .whitespacesAndNewlines)) { f.perfMaxStack = n } else { unprobed.append("fact.perf_max_stack (unreadable)") }
        let st = create(.stackTrace, 4, 8, 1, 0)
        if st >= 0 {
            var key: UInt32 = 0
            var value: UInt64 = 0
            let rc = bpfs_map_lookup_and_delete_elem(&rt, st, &key, &value, 0)
            f.stackLookupAndDeleteErrno = rc < 0 ? -rc : 0
            close(st)
        } else { unprobed.append("fact.stack_lookup_and_delete (probe map: errno \(-st))") }
        return (f, unprobed)
    }
}

extension MapShape {
    /// A stack trace map's buckets: roundup_pow_of_two(max_entries), the ids delete takes.
    var stackBuckets: Int {
        var n = 1
        while n < maxEntries { n <<= 1 }
        return n
    }
}

extension ShadowModel {
    /// Update of a stack trace map (EINVAL from syscall: only bpf_get_stackid fills one) or
    /// an arena (EOPNOTSUPP: its pages are allocated by programs or faulted in through mmap).
    func stackArenaUpdate(_ ck: inout Check, _ m: MapModel, got: Int32) {
        if m.shape.type == .arena { expect(&ck, [EOPNOTSUPP], got, "an arena has no update"); return }
        expect(&ck, [EINVAL], got, "a stack trace map takes no update from user space")
    }

    /// Lookup: an empty stack trace map has no id (ENOENT); an arena's lookup is EINVAL.
    func stackArenaLookup(_ ck: inout Check, _ r: CallResult, _ m: MapModel) {
        if m.shape.type == .arena { expect(&ck, [EINVAL], r.errno, "an arena has no lookup"); return }
        expect(&ck, [ENOENT], r.errno, "the fuzzer never fills a stack trace map")
    }

    /// Delete: an id below the buckets is ENOENT (empty), past them E2BIG; an arena EOPNOTSUPP.
    func stackArenaDelete(_ ck: inout Check, _ m: MapModel, _ key: Bytes, got: Int32) {
        let s = m.shape
        if s.type == .arena { expect(&ck, [EOPNOTSUPP], got, "an arena has no delete"); return }
        let id = Int(key.u32)
        expect(&ck, [id >= s.stackBuckets ? E2BIG : ENOENT], got, "stack id \(id) of \(s.stackBuckets) buckets (all empty)")
    }

    /// lookup_and_delete on an empty stack trace map: the probed fact (ENOENT on 6.18).
    func stackLookupAndDelete(_ ck: inout Check, _ r: CallResult) {
        expect(&ck, [facts.devcpu.stackLookupAndDeleteErrno], r.errno, "empty stack trace map; kernel fact stack_lookup_and_delete")
    }
}
