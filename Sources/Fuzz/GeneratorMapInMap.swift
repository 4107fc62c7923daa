// Map-in-map programs: a template, an outer map made from it, inner maps that fit it or miss by one field, and calls that put, look up, delete and drop them.
import BPFKit
import Foundation

extension Generator {
    static let outerTypes: [BPFMapType] = [.arrayOfMaps, .hashOfMaps]

    /// A template in slot 0, an outer map made from it in slot 1, inner candidates in slots 2
    /// and 3 (the template's shape, or one field off), then calls mostly on the outer map.
    public mutating func mapInMapProgram() -> Program {
        var t = create(slot: 0, type: pick([.hash, .array, .array, .lruHash, .percpuHash, .percpuArray, .queue, .lpmTrie, .bloomFilter]))
        t.mapFlags &= ~(BPFMapFlags.rdonly | BPFMapFlags.wronly)
        if t.type == .array && chance(0.3) { t.mapFlags = (t.mapFlags | BPFMapFlags.innerMap) & ~BPFMapFlags.mmapable }
        var o = Call(.create, map: 1)
        o.type = pick(Self.outerTypes)
        o.keySize = o.type == .arrayOfMaps ? 4 : pick([4, 4, 8])
        o.valueSize = 4
        o.maxEntries = pick([1, 2, 4, 4, 8])
        o.inner = 0
        if chance(0.1) { o.mapFlags |= pick([BPFMapFlags.noPrealloc, BPFMapFlags.rdonly, BPFMapFlags.wronly, BPFMapFlags.zeroSeed, BPFMapFlags.rdonlyProg]) }
        if chance(0.08) { o.inner = pick([-1, -2, -3, 1, 2]) }
        if chance(0.08) { mutateCreate(&o) }
        var calls = [t, o]
        var creates = [t, o, t, t]
        for s in 2...3 {
            var i = t
            i.map = s
            if chance(0.4) {
                switch int(5) {
                case 0: i.maxEntries = i.maxEntries * 2
                case 1: i.valueSize += 4
                case 2: i.mapFlags ^= i.type == .hash ? BPFMapFlags.noPrealloc : BPFMapFlags.numaNode
                case 3: i.type = i.type == .hash ? .lruHash : .hash
                default: i.mapFlags |= BPFMapFlags.rdonly
                }
            }
            creates[s] = i
            calls.append(i)
        }
        for _ in 0..<(4 + int(14)) {
            let s = pick([1, 1, 1, 1, 2, 3, 0])
            calls.append(s == 1 ? innerCall(on: o, slot: 1) : (chance(0.2) ? aliveOrClose() : call(on: creates[s], slot: s)))
        }
        calls.append(Call(.walk, map: 1))
        if chance(0.5) { calls += [Call(.close, map: 1), Call(.alive, map: int(4))] }
        return Program(calls)
    }

    /// An alive check of any slot, or a close of an inner candidate or of the template.
    mutating func aliveOrClose() -> Call {
        chance(0.7) ? Call(.alive, map: int(Executor.maxSlots)) : Call(.close, map: pick([0, 2, 3, 3]))
    }

    /// A call on outer map `slot` (made by `outer`): put_inner most of all, then the element,
    /// walk and batch calls whose answers are inner map ids.
    mutating func innerCall(on outer: Call, slot: Int) -> Call {
        let maxE = Int(min(outer.maxEntries, 1 << 16))
        let ops: [(CallOp, Int)] = [(.putInner, 24), (.lookup, 14), (.delete, 6), (.alive, 8), (.nextKey, 4), (.walk, 4),
                                    (.lookupBatch, 8), (.lookupAndDeleteBatch, 4), (.updateBatch, 2), (.deleteBatch, 3),
                                    (.update, 2), (.close, 1), (.freeze, 1)]
        var r = int(ops.map(\.1).reduce(0, +))
        var op = CallOp.putInner
        for (o, w) in ops { if r < w { op = o; break }; r -= w }
        switch op {
        case .putInner:
            var c = Call(.putInner, map: slot)
            c.key = key(outer.type, Int(outer.keySize), max: maxE)
            c.inner = chance(0.9) ? pick([2, 2, 3, 3, 0]) : pick([1, -2, -3])
            if chance(0.08) { c.flags = pick([1, 2, 4, 3]) }
            if chance(0.03) { c.key = badBuf(Int(outer.keySize)) }
            return c
        case .alive: return Call(.alive, map: int(Executor.maxSlots))
        case .close: return Call(.close, map: pick([0, 2, 3, 1]))
        default: return call(on: outer, slot: slot, plain: true)
        }
    }
}
