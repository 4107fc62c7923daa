// Generation for devmap, devmap_hash, cpumap, stack_trace and arena: creates that mostly succeed, and calls with ifindexes, CPUs and qsizes at their limits.
import BPFKit
import Foundation

extension Generator {
    static let devcpuTypes: [BPFMapType] = [.devmap, .devmapHash, .cpumap, .stackTrace, .arena]

    /// Sizes and flags of a create of one of devcpuTypes.
    mutating func devcpuCreate(_ c: inout Call) {
        switch c.type {
        case .devmap, .devmapHash:
            c.keySize = 4; c.valueSize = pick([4, 8]); c.maxEntries = pick([1, 2, 4, 16])
        case .cpumap:
            c.keySize = 4; c.valueSize = pick([4, 8]); c.maxEntries = pick([1, 2, 4])
        case .stackTrace:
            c.keySize = 4; c.maxEntries = pick([1, 4, 5, 16])
            if chance(0.3) { c.mapFlags |= BPFMapFlags.stackBuildID; c.valueSize = pick([32, 64, 32 * 127]) } else { c.valueSize = pick([8, 16, 8 * 127, 8 * 128, 12]) }
        default:  // arena: pages, MMAPABLE, map_extra a user address now and then
            c.keySize = 0; c.valueSize = 0; c.maxEntries = pick([1, 4, 16]); c.mapFlags = BPFMapFlags.mmapable
            if chance(0.3) { c.mapFlags |= pick([BPFMapFlags.segvOnFault, BPFMapFlags.noUserConv]) }
            if chance(0.2) { c.mapExtra = pick([0x1_0000_0000, 0x7f00_0000_0000, 0xFFFF_F000, 0x1001]) }
        }
    }

    /// The value bytes of a devmap or cpumap update: the first word (ifindex or qsize) and,
    /// for 8-byte values, a program fd that is none (-1, 0) or no program (a closed fd).
    mutating func devcpuValue(_ t: BPFMapType, _ valueSize: UInt32) -> Buf {
        let word: UInt64 = t == .cpumap ? pick([64, 64, 1, 16384, 0, 16385, 0xFFFF_FFFF])
            : pick([UInt64(ShadowModel.loIfindex), UInt64(ShadowModel.loIfindex), UInt64(ShadowModel.loIfindex), 0, 2, 999, 0xFFFF_FFFF])
        guard valueSize == 8 else { return .int(word) }
        let fd = pick([UInt32.max, UInt32.max, 0, UInt32(bitPattern: -2), UInt32(Executor.closedFD)])
        return .bytes(Layout.intBytes(word, 4) + Layout.intBytes(UInt64(fd), 4))
    }

    /// One call on a map of devcpuTypes made by `o`.
    mutating func devcpuCall(on o: Call, slot: Int) -> Call {
        let ops: [(CallOp, Int)] = [(.update, 35), (.lookup, 20), (.delete, 14), (.nextKey, 8), (.walk, 8),
                                    (.lookupAndDelete, 4), (.lookupBatch, 3), (.freeze, 2), (.close, 2)]
        var r = int(ops.map(\.1).reduce(0, +))
        var op = CallOp.update
        for (x, w) in ops { if r < w { op = x; break }; r -= w }
        var c = Call(op, map: slot)
        let maxE = Int(Swift.min(o.maxEntries, 64))
        // Keys: indexes around max_entries (a cpumap's: CPUs 0, 1, past the possible ones), hash keys 0-7.
        let key: Buf = o.type == .arena ? .auto : o.type == .cpumap ? .int(pick([0, 0, 1, 1, 2, UInt64(maxE), 7]))
            : .int(chance(0.85) ? UInt64(int(Swift.max(maxE, 8))) : pick([UInt64(maxE), UInt64(maxE + 1), 0xFFFF_FFFF]))
        switch op {
        case .update:
            c.key = key
            c.value = o.type == .stackTrace || o.type == .arena ? .pattern(UInt32(int(16)), len: nil) : devcpuValue(o.type, o.valueSize)
            c.flags = chance(0.9) ? pick([0, 0, 0, 1, 2]) : pick([3, 4, 8])
        case .lookup, .delete, .lookupAndDelete:
            c.key = key
            if op != .delete && chance(0.05) { c.out = badBuf(Int(o.valueSize)) }
        case .nextKey:
            c.key = chance(0.4) ? .auto : key
        case .lookupBatch:
            c.count = pick([1, 4, 16])
        default: break
        }
        if chance(0.02) { c.fd = pick([.closed, .file, .negative]) }
        return c
    }
}
