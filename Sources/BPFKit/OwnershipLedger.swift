// The campaign's ownership ledger (bpfs_ledger.h): what this campaign's processes created.
import CBPFStress
import Glibc
import SystemPackage

/// Records, at the moment of creation, the id of every program, map, link and BTF object the
/// shim creates (and the netns inodes and pin paths), in shared memory that every worker of
/// the campaign maps. The leak check asks it which live objects are the campaign's own.
public enum OwnershipLedger {
    public enum Kind: Sendable, CaseIterable {
        case program, map, link, btf, netns
        var raw: bpfs_ledger_kind {
            switch self {
            case .program: return BPFS_LEDGER_PROG
            case .map: return BPFS_LEDGER_MAP
            case .link: return BPFS_LEDGER_LINK
            case .btf: return BPFS_LEDGER_BTF
            case .netns: return BPFS_LEDGER_NETNS
            }
        }
    }

    /// bpfs_ledger_create: a fresh ledger for a campaign, mapped in this process; returns its fd.
    public static func create() throws(Errno) -> Int32 {
        let fd = bpfs_ledger_create()
        guard fd >= 0 else { throw Errno(rawValue: -fd) }
        return fd
    }

    /// bpfs_ledger_attach: records of this process go into the inherited ledger `fd`.
    public static func attach(fd: Int32) throws(Errno) {
        let rc = bpfs_ledger_attach(fd)
        guard rc == 0 else { throw Errno(rawValue: -rc) }
    }

    /// bpfs_ledger_detach: this process stops recording (the campaign is over).
    public static func detach() { bpfs_ledger_detach() }

    public static var isActive: Bool { bpfs_ledger_active() != 0 }

    /// bpfs_ledger_note: records an id (or a namespace inode number) made outside the shim.
    public static func note(_ kind: Kind, id: UInt64) { bpfs_ledger_note(kind.raw, id) }

    /// bpfs_ledger_note_pin.
    public static func notePin(_ path: String) { bpfs_ledger_note_pin(path) }

    /// bpfs_ledger_has: whether the campaign created `id` of `kind`.
    public static func owns(_ kind: Kind, id: UInt64) -> Bool { bpfs_ledger_has(kind.raw, id) != 0 }

    /// The pin paths recorded (BPF_OBJ_PIN through the shim).
    public static var pins: [String] {
        (0..<bpfs_ledger_pin_count()).map { String(cString: bpfs_ledger_pin($0)) }
    }

    /// Pins that did not fit the table, and creations whose id could not be read: when either
    /// is non-zero the leak check cannot vouch for everything.
    public static var pinsDropped: UInt64 { bpfs_ledger_pins_dropped() }
    public static var unidentified: UInt64 { bpfs_ledger_unidentified() }
}
