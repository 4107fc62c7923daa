// The executor's map-in-map calls: put_inner (an inner map's fd as the value), alive (GET_FD_BY_ID on a slot's map id), and the bounded wait for maps to go away.
import BPFKit
import CBPFStress
import Foundation
import Glibc

extension Executor {
    /// The fd an `inner=` argument names: the slot's map fd (-1 when the slot has none, the
    /// closed fd after a close), /dev/null's fd (-2) or a closed fd (-3).
    func innerFD(_ i: Int) -> Int32 {
        switch i {
        case -2: return devNull
        case -3: return Executor.closedFD
        default: return i >= 0 && i < Executor.maxSlots ? fds[i] : -1
        }
    }

    /// BPF_MAP_UPDATE_ELEM with the 4-byte fd of slot `inner` as the value (against a guard
    /// page, so a map whose value is longer faults). `count` carries the fd number passed:
    /// the model needs it to know the value's bytes.
    func runPutInner(_ c: Call, _ s: MapShape, _ fd: Int32, into r: inout CallResult) {
        let ifd = innerFD(c.inner)
        r.count = UInt32(bitPattern: ifd)
        if s.isDevmap, let e = devmapRefusal(c.fd, c.map) { r.errno = e; return }
        let k = placeKey(c.key, s, slot: 0)
        let v = placeInt(UInt64(UInt32(bitPattern: ifd)), 4, slot: 1)
        r.errno = err(bpfs_map_update_elem(rtp, fd, k.ptr, v.ptr, c.flags))
        r.count = UInt32(bitPattern: ifd)
        checkCanaries([("key", k), ("value", v)], into: &r)
    }

    /// BPF_MAP_GET_FD_BY_ID (open_flags 0) on the id of the slot's latest map (0 when the
    /// create failed or its info was unreadable); the fd it returns is closed at once.
    func runAlive(_ c: Call, into r: inout CallResult) {
        let rc = bpfs_map_get_fd_by_id(rtp, identity.ids[c.map], 0)
        if rc >= 0 { Glibc.close(rc) }
        r.errno = err(rc)
    }

    /// The ids among `ids` that BPF_MAP_GET_FD_BY_ID still finds after waiting up to `bound`
    /// seconds. Why a wait: a map's id goes when its last reference is put, but the inner maps
    /// of an outer map are put only when the outer map is freed, and that runs after an RCU
    /// grace period in a workqueue (bpf_map_put -> call_rcu / bpf_map_free_in_work ->
    /// fd_array_map_free / htab_map_free). Grace periods take milliseconds (43 ms measured here
    /// under load), so a map still there after `bound` is a leaked reference, not a slow free.
    func stillAlive(_ ids: [UInt32], bound: Double = 2.0) -> [UInt32] {
        var left = ids.filter { $0 != 0 }
        var pause: useconds_t = 100
        let start = DispatchTime.now().uptimeNanoseconds
        while !left.isEmpty {
            left = left.filter { id in
                let rc = bpfs_map_get_fd_by_id(rtp, id, 0)
                if rc >= 0 { Glibc.close(rc) }
                return rc >= 0
            }
            if left.isEmpty || Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 > bound { break }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
        return left
    }
}
