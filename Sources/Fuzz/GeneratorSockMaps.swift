// Socket-map programs: sockets of every kind from the pool put into sockmap, sockhash, reuseport_sockarray and xskmap, looked up, deleted, dropped and the maps closed.
import BPFKit
import Foundation

extension Generator {
    static let sockMapTypes: [BPFMapType] = [.sockmap, .sockhash, .reuseportSockarray, .xskmap]

    /// A create of a socket map: mostly valid sizes, sometimes a wrong one (the create rules).
    mutating func sockMapCreate(slot: Int, type t: BPFMapType) -> Call {
        var c = Call(.create, map: slot)
        c.type = t
        c.keySize = t == .sockhash ? pick([4, 4, 8, 1, 512]) : 4
        c.valueSize = t == .xskmap ? 4 : pick([8, 8, 4])
        c.maxEntries = pick([1, 2, 4, 8])
        if chance(0.05) { c.mapFlags = pick([BPFMapFlags.rdonly, BPFMapFlags.wronly, BPFMapFlags.numaNode, BPFMapFlags.rdonlyProg, BPFMapFlags.noPrealloc]) }
        if chance(0.06) {
            switch int(4) {
            case 0: c.keySize = pick([0, 8, 513])
            case 1: c.valueSize = pick([0, 1, 12, 8])
            // 2^27 + 1 only for sockhash, which refuses it before allocating (EINVAL): a
            // sockmap, xskmap or reuseport_sockarray allocates max_entries pointers up front, 1 GiB
            // here, seconds of in-kernel work that overran op deadlines as false hangs.
            case 2: c.maxEntries = t == .sockhash ? pick([0, (1 << 27) + 1]) : 0
            default: c.mapFlags = pick([BPFMapFlags.mmapable, BPFMapFlags.innerMap, BPFMapFlags.preserveElems, 1 << 5])
            }
        }
        return c
    }

    /// The socket kinds a map of type `t` takes, and the rest (refused with their errnos).
    static func sockKinds(for t: BPFMapType) -> (good: [PoolKind], other: [PoolKind]) {
        switch t {
        case .xskmap: return ([.xsk], [.udp, .unixStream, .file])
        case .reuseportSockarray: return ([.udpReuseport, .tcpReuseportListen], [.udp, .tcpListen, .tcp, .unixDgram, .xsk, .udpUnbound, .file])
        default: return ([.udp, .udp6, .udpReuseport, .tcpListen, .tcpReuseportListen, .tcp, .unixStream, .unixDgram],
                         [.udpUnbound, .tcpUnconnected, .xsk, .file, .pidfdSelf, .progSocketFilter])
        }
    }

    /// Slot 0 (and maybe slot 1) socket maps, up to six pool objects, then updates with obj:N
    /// values, lookups, deletes, walks, drops and re-opens of objects, and closes of the maps.
    public mutating func sockMapProgram() -> Program {
        let t0 = pick(Self.sockMapTypes)
        var creates = [sockMapCreate(slot: 0, type: t0)]
        if chance(0.5) { creates.append(sockMapCreate(slot: 1, type: pick(Self.sockMapTypes))) }
        var calls = creates
        let kinds = creates.map { Self.sockKinds(for: $0.type) }
        func kind() -> PoolKind {
            let k = kinds[int(kinds.count)]
            return chance(0.75) ? pick(k.good) : pick(k.other)
        }
        let nobj = 2 + int(5)
        for n in 0..<nobj { calls.append(open(n, kind())) }
        for _ in 0..<(6 + int(20)) {
            let s = int(creates.count), cr = creates[s]
            let maxE = Int(cr.maxEntries)
            var c: Call
            switch int(20) {
            case 0..<8:
                c = Call(.update, map: s)
                c.key = .int(UInt64(chance(0.9) ? int(maxE) : maxE + int(2)))
                c.value = chance(0.9) ? .obj(int(nobj + 1)) : pick([.int(UInt64(Executor.closedFD)), .pattern(UInt32(int(4)), len: nil), .int(0xFFFF_FFFF)])
                c.flags = chance(0.8) ? pick([0, 0, 1, 2]) : pick([3, 4])
            case 8..<11:
                c = Call(.lookup, map: s)
                c.key = .int(UInt64(int(maxE + 1)))
                if chance(0.05) { c.out = pick([.null, .len(4)]) }
            case 11, 12:
                c = Call(.delete, map: s)
                c.key = .int(UInt64(int(maxE + 1)))
            case 13: c = Call(.nextKey, map: s); c.key = chance(0.5) ? .auto : .int(UInt64(int(maxE + 1)))
            case 14: c = Call(.walk, map: s)
            case 15, 16: c = Call(.drop); c.count = UInt32(int(nobj))
            case 17: c = open(int(nobj), kind())
            case 18: c = chance(0.6) ? Call(.close, map: s) : creates[s]
            default:
                c = call(on: cr, slot: s, plain: true)
            }
            calls.append(c)
        }
        calls.append(Call(.walk, map: 0))
        return Program(calls)
    }

    /// `open obj=n kind=k`.
    func open(_ n: Int, _ k: PoolKind) -> Call {
        var c = Call(.open)
        c.count = UInt32(n); c.flags = UInt64((Fuzzer.soleThreadKind(k, pidfds)).ordinal)
        return c
    }
}
