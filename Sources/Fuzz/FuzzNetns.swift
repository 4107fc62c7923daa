// The fuzz thread's private network namespace: devmap ifindexes resolve there, where only its loopback exists.
import BPFKit
import CBPFStress
import Foundation
import Glibc

/// The executor's answer to an mmap of an arena: arena mappings (one VMA at map_extra, pages
/// faulted in) are not modelled yet, so the call is not made.
let arenaMmapNotModelled = EOPNOTSUPP

extension Executor {
    /// Moves the calling thread into a new network namespace with its lo up
    /// (bpfs_fuzz_netns_enter: unshare(CLONE_NEWNET) on this thread only; threads it starts
    /// later, such as the race thread, inherit it). Returns nil, or the reason it failed.
    /// Call it on the thread that runs this executor, once, before fuzzing.
    public func enterPrivateNetns() -> String? {
        let rc = bpfs_fuzz_netns_enter()
        if rc != 0 { return "unshare(CLONE_NEWNET) or lo up: \(String(cString: strerror(-rc)))" }
        let lo = bpfs_fuzz_netns_lo_index()
        guard lo == ShadowModel.loIfindex else { return "lo has ifindex \(lo) in the new netns, want \(ShadowModel.loIfindex)" }
        privateNetns = bpfs_fuzz_netns_current()
        netnsTid = 0
        return privateNetns == 0 ? "/proc/thread-self/ns/net unreadable" : nil
    }

    /// The executor's refusal of a devmap update: nil when the slot's fd is not passed (the
    /// kernel answers for the fd) or the calling thread is in the private netns; else
    /// devmapNoNetns, and no syscall (an ifindex could name a real interface of the host).
    func devmapRefusal(_ mode: FDMode, _ slot: Int) -> Int32? {
        let f = fd(mode, slot)
        guard mode == .map, f >= 0, f != Executor.closedFD else { return nil }
        guard privateNetns != 0 else { return devmapNoNetns }
        let tid = bpfs_gettid()
        if tid != netnsTid { netnsTid = tid; netnsMatch = bpfs_fuzz_netns_current() == privateNetns }
        return netnsMatch ? nil : devmapNoNetns
    }
}

extension Fuzzer {
    /// Enters the executor's private netns on the calling thread and tells the model (devmap
    /// updates with ifindex 1 are then made); nil, or the reason they are skipped.
    @discardableResult
    public func enterPrivateNetns() -> String? {
        let why = executor.enterPrivateNetns()
        model.devcpu.netnsPrivate = why == nil
        // Every interface of the new netns: lo, and on kernels with built-in tunnels their
        // fallback devices (sit0, tunl0, ...), which exist in each netns.
        var buf = [UInt32](repeating: 0, count: 64)
        let n = bpfs_fuzz_netns_ifindexes(&buf, 64)
        if why == nil && n > 0 { model.devcpu.ifindexes = Set(buf.prefix(Int(n))) }
        // Each interface but lo that the generator may name: the errno of putting it in a
        // devmap and a devmap_hash here (a tunnel's fallback device has no XDP xmit: EOPNOTSUPP).
        if why == nil {
            for t in [BPFMapType.devmap, .devmapHash] {
                let m = "bpfs_fuzz_probe".withCString { bpfs_map_create_ex(executor.rtp, t.rawValue, 4, 4, 4, 0, $0, 0, 0, 0) }
                guard m >= 0 else { continue }
                for ifindex in model.devcpu.ifindexes where ifindex != ShadowModel.loIfindex {
                    var key: UInt32 = 0, value = ifindex
                    let rc = bpfs_map_update_elem(executor.rtp, m, &key, &value, 0)
                    model.devcpu.ifindexErrno[DevCPUState.probeKey(t, ifindex)] = rc < 0 ? -rc : 0
                }
                close(m)
            }
        }
        netnsSkip = why.map { "devmap updates skipped (the executor answers EOPNOTSUPP): no private netns: \($0)" }
        return why
    }
}
