import CBPFCapture
import Foundation

/// The fixed-size record the C crash handler (bpfs_crash_install) writes to its notify fd.
public struct CrashRecord: Sendable, Equatable {
    public var signo: Int32
    public var code: Int32
    /// si_addr: the faulting address for SEGV/BUS (0 when the signal was sent, not a fault).
    public var address: UInt64
    public var pid: Int32
    public var tid: Int32
    /// si_pid of a signal sent with kill(2)/tgkill(2) (si_code <= 0); nil for a real fault.
    public var senderPID: Int32?
    /// rip rsp rbp rax rbx rcx rdx rsi rdi r8-r15 eflags, by name.
    public var registers: [String: UInt64]

    public static let size = MemoryLayout<bpfs_crash_record>.size
    public static let registerNames = ["rip", "rsp", "rbp", "rax", "rbx", "rcx", "rdx", "rsi", "rdi",
                                       "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "eflags"]

    public init(signo: Int32, code: Int32, address: UInt64, pid: Int32, tid: Int32, registers: [String: UInt64],
                senderPID: Int32? = nil) {
        self.signo = signo; self.code = code; self.address = address; self.pid = pid; self.tid = tid
        self.registers = registers; self.senderPID = senderPID
    }

    /// Parses one record (little-endian, layout of struct bpfs_crash_record); nil if the
    /// bytes are short or the magic/size do not match.
    public static func parse(_ bytes: [UInt8]) -> CrashRecord? {
        guard bytes.count >= size else { return nil }
        func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[o + $1]) << (8 * $1) } }
        func u64(_ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[o + $1]) << (8 * $1) } }
        guard u32(0) == BPFS_CRASH_MAGIC, Int(u32(4)) == size else { return nil }
        var regs: [String: UInt64] = [:]
        for (i, n) in registerNames.enumerated() { regs[n] = u64(32 + 8 * i) }
        let code = Int32(bitPattern: u32(12))
        return CrashRecord(signo: Int32(bitPattern: u32(8)), code: code, address: u64(16),
                           pid: Int32(bitPattern: u32(24)), tid: Int32(bitPattern: u32(28)), registers: regs,
                           senderPID: code <= 0 ? Int32(bitPattern: u32(176)) : nil)
    }
}
