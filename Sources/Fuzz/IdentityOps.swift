// The text form, generation and signature outcome of the permission and identity calls (pin, unpin, obj_get, fd_by_id, next_id, info).
import BPFKit
import Foundation

// Text form (arguments that are at their defaults are left out):
//
//     pin map=0 path=1 flags=PATH_FD     OBJ_PIN slot 0's fd as p1 (relative to the bpffs fd)
//     unpin path=1                       unlinkat of p1
//     obj_get map=1 path=1 flags=RDONLY  OBJ_GET of p1 into slot 1, read-only
//     fd_by_id map=2 from=0 flags=WRONLY MAP_GET_FD_BY_ID of slot 0's map id into slot 2
//     next_id map=0                      MAP_GET_NEXT_ID from slot 0's map id minus one
//     info map=0 len=120 tail=1 out=NULL OBJ_GET_INFO_BY_FD, info_len 120, last byte non-zero
//
// path=0...3 are pin names, 4 the bpffs root, 5 a name in a directory that does not exist.
// The fields they use: count (path, from, len), flags (file_flags, open_flags; tail for info).
enum IdentityOps {
    static func isIdentity(_ op: CallOp) -> Bool {
        switch op {
        case .pin, .unpin, .objGet, .fdByID, .nextID, .info: return true
        default: return false
        }
    }

    static let fileFlagNames: [(String, UInt64)] = [("RDONLY", 1 << 3), ("WRONLY", 1 << 4), ("PATH_FD", 1 << 14)]

    /// The call's text, nil for other ops.
    static func format(_ c: Call) -> String? {
        guard isIdentity(c.op) else { return nil }
        var a: [String] = [c.op.rawValue, "map=\(c.map)"]
        switch c.op {
        case .pin, .unpin, .objGet: a.append("path=\(c.count)")
        case .fdByID: a.append("from=\(c.count)")
        case .info: a.append("len=\(c.count)")
        default: break
        }
        if c.op == .info {
            if c.flags != 0 { a.append("tail=\(c.flags)") }
            if c.out != .auto { a.append("out=\(c.out)") }
        } else if c.flags != 0 {
            a.append("flags=" + ProgramText.flagText(c.flags, fileFlagNames, zero: "0"))
        }
        if c.fd != .map { a.append("fd=\(c.fd.rawValue)") }
        return a.joined(separator: " ")
    }

    /// One name=value argument of an identity call (map is parsed by the caller).
    static func parse(_ c: inout Call, _ k: String, _ v: String, fail: (String) -> ProgramParseError) throws {
        func num() throws -> UInt32 {
            guard let x = v.hasPrefix("0x") ? UInt32(v.dropFirst(2), radix: 16) : UInt32(v) else { throw fail("\(k)=\(v): not a number") }
            return x
        }
        switch (c.op, k) {
        case (.pin, "path"), (.unpin, "path"), (.objGet, "path"):
            c.count = try num()
            guard c.count <= 5 else { throw fail("path=\(v): expected 0...5 (p0-p3, the bpffs root, a missing directory)") }
        case (.fdByID, "from"):
            c.count = try num()
            guard c.count < UInt32(Executor.maxSlots) else { throw fail("from=\(v): slot must be 0...\(Executor.maxSlots - 1)") }
        case (.info, "len"):
            c.count = try num()
            guard c.count <= 8192 else { throw fail("len=\(v): info_len must be 0...8192") }
        case (.info, "tail"):
            c.flags = UInt64(try num())
            guard c.flags <= 1 else { throw fail("tail=\(v): expected 0 or 1") }
        case (.info, "out"):
            guard let b = Buf.parse(v), b == .auto || b == .null || b == .unmapped else { throw fail("out=\(v): expected auto, NULL or BAD") }
            c.out = b
        case (_, "flags") where c.op != .info && c.op != .unpin:
            guard let f = ProgramText.parseFlags(v, fileFlagNames, zero: "0") else { throw fail("flags=\(v): unknown flag") }
            c.flags = f
        case (_, "fd"):
            guard let m = FDMode(rawValue: v) else { throw fail("fd=\(v): expected map, closed, file or -1") }
            c.fd = m
        default:
            throw fail("\(c.op.rawValue) has no argument '\(k)'")
        }
    }

    /// The signature outcome: the info_len class, the access asked for, the path kind.
    static func outcome(_ c: Call) -> Int32 {
        switch c.op {
        case .info:
            let size = 104
            let len: Int32 = c.count == 0 ? 0 : c.count < 40 ? 1 : c.count < UInt32(size) ? 2 : c.count == UInt32(size) ? 3 : c.count <= 4096 ? 4 : 5
            return len << 2 | Int32(c.flags & 1) << 1 | (c.out == .auto ? 0 : 1)
        case .pin, .objGet, .unpin: return Int32(min(c.count, 4)) << 3 | Int32(truncatingIfNeeded: (c.flags >> 3) & 3) << 1 | Int32(truncatingIfNeeded: (c.flags >> 14) & 1)
        default: return Int32(truncatingIfNeeded: min(c.flags, 0x7FFF))
        }
    }
}

extension Generator {
    /// Fills in an identity call made on `slot`: fds it opens go into slots up to one past it
    /// (calls on lower slots then use them), ids come from slots up to it.
    mutating func identityCall(_ c: inout Call, slot: Int) {
        let slots = slot + 1
        switch c.op {
        case .pin, .unpin:
            c.count = chance(0.9) ? UInt32(int(3)) : pick([4, 5])
            if c.op == .pin { c.flags = chance(0.5) ? 1 << 14 : chance(0.9) ? 0 : pick([1 << 3, 1 << 14 | 1 << 4, 1 << 2]) }
        case .objGet:
            c.count = chance(0.9) ? UInt32(int(3)) : pick([4, 5])
            c.map = int(min(slots + 1, Executor.maxSlots))
            c.flags = (chance(0.5) ? 1 << 14 : 0) | pick([0, 0, 1 << 3, 1 << 4, 1 << 3 | 1 << 4, 1 << 5, 1 << 2, 1 << 15])
        case .fdByID:
            c.count = UInt32(int(slots))
            c.map = int(min(slots + 1, Executor.maxSlots))
            c.flags = pick([0, 0, 1 << 3, 1 << 4, 1 << 3 | 1 << 4, 1 << 14, 1])
        case .nextID:
            c.flags = chance(0.9) ? 0 : pick([1, 1 << 3])
        default:
            c.count = pick([0, 4, 24, 40, 88, 103, 104, 105, 112, 256, 4096, 4097, 8192])
            if c.count > 104 && chance(0.4) { c.flags = 1 }
            if chance(0.08) { c.out = pick([.null, .unmapped]) }
        }
    }
}
