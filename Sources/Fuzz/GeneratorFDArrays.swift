// fd-array programs: programs, perf events and cgroups from the pool put into prog_array, perf_event_array and cgroup_array, through a second map fd too.
import BPFKit
import Foundation

extension Generator {
    static let fdArrayTypes: [BPFMapType] = [.progArray, .perfEventArray, .cgroupArray]

    /// The kinds an fd array of type `t` takes first, then others (refused).
    static func fdArrayKinds(for t: BPFMapType) -> (good: [PoolKind], other: [PoolKind]) {
        switch t {
        case .progArray: return ([.progSocketFilter, .progXDP, .progXDPDevmap, .progXDPCpumap, .progSkSkb], [.perf, .udp, .file])
        case .perfEventArray: return ([.perf], [.progXDP, .file, .udp, .pidfdSelf])
        default: return ([.cgroup], [.file, .perf, .udp])
        }
    }

    /// Slot 0 an fd array, slot 1 sometimes a second fd of it (fd_by_id: perf entries added
    /// through it go when it closes), pool objects, then updates, lookups, deletes, walks,
    /// drops and closes.
    public mutating func fdArrayProgram() -> Program {
        var cr = Call(.create, map: 0)
        cr.type = pick(Self.fdArrayTypes)
        cr.keySize = 4; cr.valueSize = 4; cr.maxEntries = pick([1, 2, 4, 8])
        if chance(0.06) {
            switch int(4) {
            case 0: cr.keySize = 8
            case 1: cr.valueSize = pick([8, 0])
            case 2: cr.maxEntries = 0
            default: cr.mapFlags = pick([BPFMapFlags.preserveElems, BPFMapFlags.rdonlyProg, BPFMapFlags.mmapable, BPFMapFlags.rdonly])
            }
        }
        var calls = [cr]
        var second = false
        if chance(0.5) { var f = Call(.fdByID, map: 1); f.count = 0; calls.append(f); second = true }
        let k = Self.fdArrayKinds(for: cr.type)
        let nobj = 2 + int(3)
        for n in 0..<nobj { calls.append(open(n, chance(0.8) ? pick(k.good) : pick(k.other))) }
        let maxE = Int(cr.maxEntries)
        for _ in 0..<(5 + int(16)) {
            let s = second && chance(0.4) ? 1 : 0
            var c: Call
            switch int(18) {
            case 0..<7:
                c = Call(.update, map: s)
                c.key = .int(UInt64(chance(0.9) ? int(maxE) : maxE + int(2)))
                c.value = chance(0.9) ? .obj(int(nobj + 1)) : pick([.int(UInt64(Executor.closedFD)), .pattern(UInt32(int(4)), len: nil)])
                if chance(0.1) { c.flags = pick([1, 2, 4]) }
            case 7..<10:
                c = Call(.lookup, map: s); c.key = .int(UInt64(int(maxE + 1)))
                if chance(0.05) { c.out = .len(3) }
            case 10, 11: c = Call(.delete, map: s); c.key = .int(UInt64(int(maxE + 1)))
            case 12: c = Call(.walk, map: s)
            case 13: c = Call(.drop); c.count = UInt32(int(nobj))
            case 14: c = open(int(nobj), chance(0.8) ? pick(k.good) : pick(k.other))
            case 15: c = Call(.close, map: second ? 1 : 0)
            case 16: c = Call(.nextKey, map: s); c.key = chance(0.5) ? .auto : .int(UInt64(int(maxE + 1)))
            default: c = call(on: cr, slot: 0, plain: true)
            }
            calls.append(c)
        }
        calls.append(Call(.walk, map: 0))
        return Program(calls)
    }
}
