// Kernel facts of the storage maps: which storage types exist and their value size limits, probed at fuzzer start.
import BPFKit
import CBPFStress
import Foundation
import Glibc

extension KernelFacts {
    /// The create of a minimal map of each storage type (StorageFacts.probeStorage): the
    /// errno of a type the kernel lacks (cgrp_storage came in 6.2: EINVAL on 6.1), 0 where it exists.
    public var storageTypeErrno: [UInt32: Int32] {
        get { storageFacts.typeErrno }
        set { storageFacts.typeErrno = newValue }
    }
    /// BPF_LOCAL_STORAGE_MAX_VALUE_SIZE: the largest value_size of a local storage map (above: E2BIG).
    public var storageMaxValue: Int {
        get { storageFacts.maxValue }
        set { storageFacts.maxValue = newValue }
    }
    /// The largest value_size of a cgroup_storage map (above: E2BIG).
    public var cgroupStorageMaxValue: Int {
        get { storageFacts.cgroupMaxValue }
        set { storageFacts.cgroupMaxValue = newValue }
    }

    var storageProperties: [(name: String, value: String)] {
        var p: [(name: String, value: String)] = [("fact.storage_max_value", String(storageMaxValue)),
                                                  ("fact.cgroup_storage_max_value", String(cgroupStorageMaxValue))]
        for t in ShadowModel.localStorageTypes + ShadowModel.cgroupStorageTypes {
            p.append(("fact.type_\(ProgramText.typeName(t))", Self.name(storageTypeErrno[t.rawValue] ?? 0)))
        }
        return p
    }

    /// Probes the storage facts: per type a minimal create (local storage with a plain BTF
    /// value), then binary searches of value_size for the two limits (at most 17 creates each).
    static func probeStorage(_ rt: inout bpfs_rt, _ facts: inout KernelFacts, _ unprobed: inout [String]) {
        func create(_ t: BPFMapType, value: Int) -> Int32 {
            if ShadowModel.localStorageTypes.contains(t) {
                let b = BTFValue(fields: BTFValue.plain).blob(keySize: 4, valueSize: value, intKey: true)
                let btf = b.bytes.withUnsafeBytes { bpfs_fuzz_btf_load(&rt, $0.baseAddress, UInt32($0.count)) }
                if btf < 0 { return btf }
                defer { close(btf) }
                return "bpfs_fuzz_probe".withCString {
                    bpfs_map_create_btf(&rt, t.rawValue, 4, UInt32(value), 0, BPFMapFlags.noPrealloc, $0, 0, 0, 0, btf, b.keyType, b.valueType)
                }
            }
            return "bpfs_fuzz_probe".withCString { bpfs_map_create(&rt, t.rawValue, 8, UInt32(value), 0, 0, $0, 0) }
        }
        for t in ShadowModel.localStorageTypes + ShadowModel.cgroupStorageTypes {
            let fd = create(t, value: 8)
            facts.storageTypeErrno[t.rawValue] = fd < 0 ? -fd : 0
            if fd >= 0 { close(fd) }
        }
        func largest(_ t: BPFMapType, _ name: String) -> Int? {
            guard facts.storageTypeErrno[t.rawValue] == 0 else { unprobed.append("fact.\(name) (no \(ProgramText.typeName(t)))"); return nil }
            var lo = 1, hi = 1 << 17
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                let fd = create(t, value: mid)
                if fd >= 0 { close(fd); lo = mid } else { hi = mid - 1 }
            }
            return lo
        }
        if let v = largest(.skStorage, "storage_max_value") { facts.storageMaxValue = v }
        if let v = largest(.cgroupStorage, "cgroup_storage_max_value") { facts.cgroupStorageMaxValue = v }
    }
}

/// The storage facts' values (KernelFacts holds one; 6.18's as defaults).
public struct StorageFacts: Sendable, Equatable {
    public var typeErrno: [UInt32: Int32] = [:]
    public var maxValue = 65407
    public var cgroupMaxValue = 65407
    public init() {}
}
