// Programs for the storage maps: a storage map, pool objects as owners (right and wrong kinds), element calls, drops and closes.
import BPFKit
import Foundation

extension Generator {
    /// The pool kinds that own storage of `t` (the right kind), and the others it is given.
    static func storageOwnerKinds(_ t: BPFMapType) -> [PoolKind] {
        switch t {
        case .skStorage: return [.udp, .tcp, .unixStream, .udp6, .tcpListen]
        case .inodeStorage: return [.file, .file, .udp, .cgroup]
        case .taskStorage: return [.pidfdSelf, .pidfdChild]
        case .cgrpStorage: return [.cgroup]
        default: return []
        }
    }

    /// A create of a storage map: mostly valid (local storage: key 4, a plain or locked BTF
    /// value, NO_PREALLOC, max 0; cgroup storage: key 8 or 16, max 0), now and then not.
    mutating func storageCreate(slot: Int, type t: BPFMapType) -> Call {
        var c = Call(.create, map: slot)
        c.type = t
        c.maxEntries = 0
        if ShadowModel.localStorageTypes.contains(t) {
            c.keySize = 4; c.valueSize = pick([8, 4, 16, 1, 60]); c.mapFlags = BPFMapFlags.noPrealloc
            c.btf = chance(0.3) ? BTFValue.lock : BTFValue.plain
            if c.btf == BTFValue.lock { c.valueSize = pick([8, 16]) }
            if chance(0.2) { c.mapFlags |= BPFMapFlags.clone }
        } else {
            c.keySize = pick([8, 16]); c.valueSize = pick([8, 4, 16, 1])
            if chance(0.1) { c.mapFlags |= pick([BPFMapFlags.rdonly, BPFMapFlags.wronly, BPFMapFlags.rdonlyProg]) }
        }
        if chance(0.15) {
            switch int(6) {
            case 0: c.maxEntries = pick([1, 16])
            case 1: c.keySize = pick([0, 8, 12, 3])
            case 2: c.valueSize = pick([0, 65407, 65408, 32768, 32769])
            case 3: c.mapFlags ^= pick([BPFMapFlags.noPrealloc, BPFMapFlags.clone, BPFMapFlags.rdonly, BPFMapFlags.numaNode, BPFMapFlags.zeroSeed])
            case 4: if c.btf != 0 { c.btf = 0 }
            default: c.mapExtra = 1
            }
        }
        return c
    }

    /// A storage program: one storage map, two to four pool objects (mostly owners of the
    /// right kind), then updates, lookups and deletes keyed by them, drops and re-opens of
    /// objects, now and then a freeze, a close and an `alive` of the map.
    public mutating func storageProgram() -> Program {
        let types = ShadowModel.localStorageTypes + ShadowModel.localStorageTypes + ShadowModel.cgroupStorageTypes
        let t = pick(types)
        let create = storageCreate(slot: 0, type: t)
        var calls = [create]
        let right = Self.storageOwnerKinds(t)
        let nobj = 2 + int(3)
        func open(_ n: Int) -> Call {
            var o = Call(.open)
            o.count = UInt32(n)
            var k = right.isEmpty || chance(0.2) ? pick(PoolKind.allCases) : pick(right)
            k = Fuzzer.soleThreadKind(k, pidfds)
            o.flags = UInt64(k.ordinal)
            return o
        }
        for n in 0..<nobj { calls.append(open(n)) }
        for _ in 0..<(6 + int(18)) {
            let n = int(nobj + 1)  // nobj: an object never opened (the closed fd)
            var c: Call
            switch int(20) {
            case 0: c = Call(.drop); c.count = UInt32(int(nobj))
            case 1: c = open(int(nobj))
            case 2: c = Call(.freeze)
            case 3: c = Call(.close)
            case 4: c = Call(.alive)
            case 5: c = Call(.nextKey); c.key = .obj(n)
            case 6, 7, 8, 9: c = Call(.lookup); c.key = .obj(n); if create.btf == BTFValue.lock && chance(0.3) { c.flags = BPFUpdateFlags.lock }
            case 10, 11: c = Call(.delete); c.key = .obj(n)
            case 12: c = call(on: create, slot: 0, plain: true)
            default:
                c = Call(.update); c.key = .obj(n); c.value = .pattern(UInt32(int(16)), len: nil)
                c.flags = chance(0.9) ? pick([0, 0, 1, 2]) : pick([3, 8, 4])
                if create.btf == BTFValue.lock && chance(0.3) { c.flags |= BPFUpdateFlags.lock }
            }
            if c.op == .update || c.op == .lookup || c.op == .delete, chance(0.05) {
                c.key = pick([.int(0xFFFF_FFFF), .int(UInt64(Executor.closedFD)), .null, .len(2)])
            }
            calls.append(c)
        }
        return Program(calls)
    }
}
