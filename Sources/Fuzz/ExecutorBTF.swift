// The executor's create of a map with a BTF-defined value: BPF_BTF_LOAD of the value's blob, then BPF_MAP_CREATE with its type ids.
import BPFKit
import CBPFStress
import Foundation
import Glibc

extension Executor {
    /// Loads the BTF of `c`'s value (BTFValue) and creates the map with btf_fd and the key and
    /// value type ids; the BTF fd is closed after (the map holds the BTF). -errno of the load
    /// when the blob is refused.
    func createWithBTF(_ c: Call, _ flags: UInt32, _ innerFD: UInt32) -> Int32 {
        let b = BTFValue(fields: c.btf).blob(keySize: Int(c.keySize), valueSize: Int(c.valueSize), intKey: c.type == .array || c.type == .percpuArray || ShadowModel.localStorageTypes.contains(c.type))
        let btf = b.bytes.withUnsafeBytes { bpfs_fuzz_btf_load(rtp, $0.baseAddress, UInt32($0.count)) }
        if btf < 0 { return btf }
        defer { Glibc.close(btf) }
        return mapName.withCString { name in
            bpfs_map_create_btf(rtp, c.type.rawValue, c.keySize, c.valueSize, c.maxEntries, flags, name, c.numa ?? 0, innerFD,
                                c.mapExtra, btf, b.keyType, b.valueType)
        }
    }
}
