// The executor's race call: thread A's sequence and thread B's calls on one map (bpfs_fuzz_race), what both saw, and a quiescent census walk after.
import BPFKit
import CBPFStress
import Foundation
import Glibc

/// What a race recorded, carried in a CallResult: `token` holds the header and errnos
/// (little-endian u32 words: rounds, B's calls, entries, key size, value length, then A's
/// errnos, B's errnos, and per entry its call and errno), keysOut and valuesOut the entries'
/// keys and values. The census walk after the race is the result's walk.
struct RaceRecord: Equatable {
    var aErrno: [Int32] = []
    var bErrno: [Int32] = []
    var entries: [(call: Int, key: [UInt8], errno: Int32, value: [UInt8])] = []

    static func == (a: RaceRecord, b: RaceRecord) -> Bool {
        a.aErrno == b.aErrno && a.bErrno == b.bErrno && a.entries.map(\.call) == b.entries.map(\.call) &&
            a.entries.map(\.key) == b.entries.map(\.key) && a.entries.map(\.errno) == b.entries.map(\.errno) &&
            a.entries.map(\.value) == b.entries.map(\.value)
    }

    init(aErrno: [Int32], bErrno: [Int32], entries: [(call: Int, key: [UInt8], errno: Int32, value: [UInt8])]) {
        self.aErrno = aErrno; self.bErrno = bErrno; self.entries = entries
    }

    func encode(into r: inout CallResult, keySize: Int, valueLen: Int) {
        var w: [UInt32] = [UInt32(aErrno.count), UInt32(bErrno.count), UInt32(entries.count), UInt32(keySize), UInt32(valueLen)]
        w += aErrno.map { UInt32(bitPattern: $0) } + bErrno.map { UInt32(bitPattern: $0) }
        for e in entries { w += [UInt32(e.call), UInt32(bitPattern: e.errno)] }
        r.token = w.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        r.keysOut = entries.flatMap(\.key)
        r.valuesOut = entries.flatMap(\.value)
    }

    init?(decoding r: CallResult) {
        let t = r.token
        guard t.count >= 20, t.count % 4 == 0 else { return nil }
        let w = stride(from: 0, to: t.count, by: 4).map { i in (0..<4).reduce(UInt32(0)) { $0 | UInt32(t[i + $1]) << (8 * UInt32($1)) } }
        let (na, nb, ne, ks, vl) = (Int(w[0]), Int(w[1]), Int(w[2]), Int(w[3]), Int(w[4]))
        guard w.count == 5 + na + nb + 2 * ne, r.keysOut.count == ne * ks, r.valuesOut.count == ne * vl else { return nil }
        aErrno = w[5..<(5 + na)].map { Int32(bitPattern: $0) }
        bErrno = w[(5 + na)..<(5 + na + nb)].map { Int32(bitPattern: $0) }
        let keys = r.keysOut, values = r.valuesOut
        entries = (0..<ne).map { i in
            (Int(w[5 + na + nb + 2 * i]), Array(keys[(i * ks)..<((i + 1) * ks)]), Int32(bitPattern: w[6 + na + nb + 2 * i]),
             Array(values[(i * vl)..<((i + 1) * vl)]))
        }
    }
}

/// The executor's own answer to a race it does not run (a map type or fd it cannot model).
let raceNotModelled = EOPNOTSUPP

extension Executor {
    func runRace(_ c: Call, shape s: MapShape, into r: inout CallResult) {
        guard c.fd == .map else { r.errno = raceNotModelled; return }
        let slotFD = fds[c.map]
        guard slotFD >= 0, slotFD != Executor.closedFD, shapes[c.map] != nil else { r.errno = EBADF; return }
        guard RaceOps.supported(c, s) else { r.errno = raceNotModelled; return }
        let seq = RaceOps.sequence(c, s)
        let kind = RaceOps.kind(c)
        // close races on a dup of the slot's fd: B replaces it with /dev/null (dup2, atomic, so
        // the number is never free for another thread's open) while A's calls use it.
        let fd = kind == 5 ? dup(slotFD) : slotFD
        guard fd >= 0 else { r.errno = Glibc.errno; return }
        defer { if kind == 5 { Glibc.close(fd) } }
        let ks = s.keySize, vl = s.valueLen
        let del = seq.map { UInt8($0.del ? 1 : 0) }
        let keys = seq.flatMap { Layout.intBytes($0.key, ks) }
        let values = seq.flatMap { Layout.pattern($0.seed, vl) }
        var aErr = [Int32](repeating: 0, count: seq.count)
        var bErr = [Int32](repeating: 0, count: RaceOps.bCalls)
        var obsErr = [Int32](repeating: 0, count: RaceOps.bEntries), obsCall = [UInt32](repeating: 0, count: RaceOps.bEntries)
        var obsKeys = [UInt8](repeating: 0, count: RaceOps.bEntries * ks), obsValues = [UInt8](repeating: 0, count: RaceOps.bEntries * vl)
        var race = bpfs_race()
        let rc: Int32 = del.withUnsafeBufferPointer { d in keys.withUnsafeBufferPointer { k in values.withUnsafeBufferPointer { v in
            aErr.withUnsafeMutableBufferPointer { ae in bErr.withUnsafeMutableBufferPointer { be in
                obsErr.withUnsafeMutableBufferPointer { oe in obsCall.withUnsafeMutableBufferPointer { oc in
                    obsKeys.withUnsafeMutableBufferPointer { ok in obsValues.withUnsafeMutableBufferPointer { ov in
                        race.fd = fd; race.kind = Int32(kind); race.b_cpu = -1; race.devnull = devNull
                        race.key_size = UInt32(ks); race.value_len = UInt32(vl); race.value_size = UInt32(s.valueSize)
                        race.max_entries = UInt32(s.maxEntries); race.rounds = UInt32(seq.count)
                        race.a_del = d.baseAddress; race.a_keys = k.baseAddress; race.a_values = v.baseAddress; race.a_errno = ae.baseAddress
                        race.call_cap = UInt32(RaceOps.bCalls); race.obs_cap = UInt32(RaceOps.bEntries)
                        race.batch_count = UInt32(RaceOps.batchCount)
                        race.call_errno = be.baseAddress; race.obs_errno = oe.baseAddress; race.obs_call = oc.baseAddress
                        race.obs_keys = ok.baseAddress; race.obs_values = ov.baseAddress
                        race.mmap_len = Executor.mmapLength(s)
                        return bpfs_fuzz_race(rtp, &race)
                    } }
                } }
            } }
        } } }
        guard rc == 0 else { r.errno = -rc; return }
        let n = Int(race.obs_n)
        let rec = RaceRecord(aErrno: aErr, bErrno: Array(bErr.prefix(Int(race.call_n))), entries: (0..<n).map { i in
            (Int(obsCall[i]), Array(obsKeys[(i * ks)..<((i + 1) * ks)]), obsErr[i], Array(obsValues[(i * vl)..<((i + 1) * vl)]))
        })
        rec.encode(into: &r, keySize: ks, valueLen: vl)
        // The quiescent census: both threads are done; a walk of the map with a lookup of each key.
        let census = run(Call(.walk, map: c.map))
        r.walk = census.walk
        r.walkEnd = census.walkEnd
        if census.hasBrokenCanaries { r.brokenCanaries = census.brokenCanaries }
    }
}
