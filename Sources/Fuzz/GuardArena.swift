// The guard arena: buffer slots that end at a PROT_NONE page with canaries in front (unsafe: raw placement is its job).
import BPFKit
import CBPFStress
import Foundation
import Glibc

/// Guarded slots: each ends at a PROT_NONE page and has canary bytes in front, so a kernel
/// copy past the declared end faults (EFAULT) and one in front shows in the canary. Mapped
/// once per executor (mmap per call would cost three syscalls each).
final class GuardArena {
    static let canary = 16
    static let canaryByte: UInt8 = 0xA5
    static let poison: UInt8 = 0xCC
    /// canaryByte in each of 8 bytes (canary is two such words).
    static let canaryWord: UInt64 = 0xA5A5_A5A5_A5A5_A5A5
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let slotBytes: Int
    let slots: Int
    /// Largest buffer a slot holds (requests are cut to it).
    let capacity: Int
    let base: UnsafeMutableRawPointer
    let length: Int

    init(slots: Int, capacity: Int) {
        let dataPages = (capacity + GuardArena.canary + page - 1) / page
        slotBytes = (dataPages + 1) * page
        self.slots = slots
        self.capacity = capacity
        length = slotBytes * slots
        guard let m = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), m != MAP_FAILED else {
            fatalError("bpfstress fuzz: mmap of \(length) bytes failed: errno \(errno)")
        }
        base = m
        for i in 0..<slots { mprotect(guardPage(i), page, PROT_NONE) }
    }

    deinit { munmap(base, length) }

    func guardPage(_ i: Int) -> UnsafeMutableRawPointer { base + (i + 1) * slotBytes - page }

    /// Places `n` bytes against slot i's guard page, canary in front; returns the start.
    @inline(__always)
    func place(_ i: Int, _ n0: Int) -> UnsafeMutableRawPointer {
        let n = min(n0, capacity)
        let p = guardPage(i) - n
        (p - GuardArena.canary).storeBytes(of: GuardArena.canaryWord, toByteOffset: 0, as: UInt64.self)
        (p - GuardArena.canary).storeBytes(of: GuardArena.canaryWord, toByteOffset: 8, as: UInt64.self)
        return p
    }

    @inline(__always)
    func canaryIntact(_ p: UnsafeRawPointer) -> Bool {
        let c = p - GuardArena.canary
        return c.loadUnaligned(fromByteOffset: 0, as: UInt64.self) == GuardArena.canaryWord
            && c.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == GuardArena.canaryWord
    }
}
