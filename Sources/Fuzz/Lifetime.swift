// The one lifetime model of the maps a program makes: fds, mappings, pins and outer-map entries hold a map; alive, fd_by_id, next_id and the sweep after a program ask it.
import BPFKit
import Foundation
import Glibc

extension ShadowModel {
    /// Where a map stands: alive (found by id for sure), dying (a reference whose put the
    /// kernel defers may still hold it: found or not), gone (ENOENT for sure).
    enum Life { case alive, dying, gone }

    /// Whether something holds the map for sure: a slot's fd, a mapping, a pin, or an entry of
    /// an open outer map.
    func holds(_ rec: IdentityModel.Record) -> Bool {
        let m = rec.map
        if maps.contains(where: { $0 === m }) || mappings.contains(where: { $0.contains { $0.model === m } }) { return true }
        if identity.pins.contains(where: { $0 === rec }) { return true }
        if xskHolds(m) { return true }
        for o in mim.outers where maps.contains(where: { $0 === o }) {
            guard let st = o.outer else { continue }
            for (k, inner) in st.held where inner === m && o.known[k].isSome { return true }
        }
        return false
    }

    /// Why a map nothing holds for sure may still be there, nil when nothing defers its put:
    /// an unpin (bpffs frees the inode after an RCU grace period), a hash-of-maps element
    /// removed (the element and its map reference go after a grace period), or an entry of a
    /// closed outer map (the outer map's free, and with it the put of its inner maps, runs in
    /// a workqueue after a grace period) or one that a batch made uncertain.
    func deferredWhy(_ rec: IdentityModel.Record) -> String? {
        if rec.dying { return "an unpin" }
        let m = rec.map
        if sock.xskHeld.contains(ObjectIdentifier(m)) { return "an AF_XDP socket that held it was closed" }
        if m.shape.type == .progArray { return "a prog_array's last user reference clears it in a work item, which holds it" }
        if mim.asyncReleased.contains(ObjectIdentifier(m)) { return "a hash-of-maps element removed" }
        for o in mim.outers {
            guard let st = o.outer else { continue }
            if st.held.values.contains(where: { $0 === m }) { return "an entry of a closed or uncertain outer map" }
        }
        return nil
    }

    func life(_ rec: IdentityModel.Record) -> Life {
        if holds(rec) { return .alive }
        return !rec.dead && deferredWhy(rec) != nil ? .dying : .gone
    }

    /// alive: GET_FD_BY_ID on the id of the slot's latest map (the executor closes the fd at
    /// once). Found while something holds it, ENOENT once nothing does and no put is deferred,
    /// either in between; an ENOENT marks it gone for good.
    func alive(_ ck: inout Check, _ c: Call, _ r: CallResult) {
        guard let rec = identity.last[c.map] else { expect(&ck, [ENOENT], r.errno, "no map was created in the slot (id 0)"); return }
        if rec.id == 0 { expect(&ck, [ENOENT], r.errno, "the map's id could not be read (the executor asks for id 0)"); return }
        let l = life(rec)
        let allowed: ErrSet = l == .alive ? [0] : l == .dying ? [0, ENOENT] : [ENOENT]
        let why = l == .alive ? "map id \(rec.id) is still referenced"
            : l == .dying ? "map id \(rec.id) may be waiting for a deferred put (\(deferredWhy(rec) ?? ""))"
            : "nothing references map id \(rec.id) any more"
        guard expect(&ck, allowed, r.errno, why) else { return }
        if r.errno == ENOENT { rec.dead = true }
    }

    /// The maps the sweep after a program checks: every map whose lifetime a deferred put
    /// decides (outer maps, inner maps put into them, maps that were pinned). Maps held only by
    /// fds and mappings go at their last close (bpf_map_put frees the id at once); the campaign's
    /// ledger leak check covers those.
    var sweepMaps: [MapModel] {
        var out = mim.watched
        for rec in identity.all where rec.pinned && !out.contains(where: { $0 === rec.map }) { out.append(rec.map) }
        out.removeAll { $0.shape.type == .progArray }  // FDArrays.swift: its last-uref clear is one more work item
        return out
    }
}
