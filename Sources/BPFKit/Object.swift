import CBPFStress
import Glibc
import SystemPackage

/// A program found in an object file.
public struct BPFObjectProgram: Sendable {
    public let name: String
    public let section: String
    public let type: BPFProgType
    /// As libbpf derives it from the section name (0 is also a real type: cgroup ingress).
    public let expectedAttachType: BPFAttachType
    public let instructions: [BPFInstruction]
    /// (instruction index, map name) of every ld_imm64 that must receive a map fd.
    public let mapRelocations: [(index: Int, map: String)]
}

/// A map declared in an object file.
public struct BPFObjectMap: Sendable {
    public let name: String
    public let spec: MapSpec
}

/// A BPF ELF object. libbpf parses it (bpf_object__open_file: BTF-defined .maps,
/// programs and sections, without loading); the relocation sections are read with
/// libelf here, and `load(into:)` creates maps and loads programs through the
/// runtime's entry, so that a plugin runtime sees every bpf command.
public final class BPFObject {
    public let path: String
    public let license: String
    public private(set) var programs: [BPFObjectProgram]
    public private(set) var maps: [BPFObjectMap]

    private init(path: String, license: String, programs: [BPFObjectProgram], maps: [BPFObjectMap]) {
        self.path = path
        self.license = license
        self.programs = programs
        self.maps = maps
    }

    /// Parses `path`. Errors: missing/unreadable file `.io`; not an ELF or not a BPF
    /// ELF `.elf`; no programs `.loader`; relocations other than map references
    /// (global data, bpf-to-bpf calls, externs) `.unsupported`.
    public static func open(path: String) throws -> BPFObject {
        try precheck(path)
        var err: Int32 = 0
        var msg = [CChar](repeating: 0, count: 512)
        guard let obj = bpfs_obj_open(path, &err, &msg, UInt32(msg.count)) else {
            let libbpfMsg = String(cString: msg)
            throw BPFError(code: .elf, operation: "open object", errno: err < 0 && -err < 4000 ? Errno(rawValue: -err) : nil,
                           detail: "\(path): libbpf cannot parse it" + (libbpfMsg.isEmpty ? "" : " (\(libbpfMsg))"))
        }
        defer { bpfs_obj_close(obj) }

        var maps: [BPFObjectMap] = []
        for i in 0..<bpfs_obj_map_count(obj) {
            var d = bpfs_obj_map_def()
            guard bpfs_obj_map_def(obj, i, &d) == 0 else { continue }
            let name = String(cString: d.name)
            maps.append(BPFObjectMap(name: name, spec: MapSpec(
                type: BPFMapType(rawValue: d.type), keySize: d.key_size, valueSize: d.value_size,
                maxEntries: d.max_entries, flags: d.map_flags, name: name,
                numaNode: d.map_flags & BPFMapFlags.numaNode != 0 ? d.numa_node : nil)))
        }

        var programs: [BPFObjectProgram] = []
        for i in 0..<bpfs_obj_prog_count(obj) {
            var d = bpfs_obj_prog_def()
            guard bpfs_obj_prog_def(obj, i, &d) == 0 else { continue }
            let name = String(cString: d.name)
            let section = String(cString: d.section)
            var insns = [BPFInstruction](repeating: BPFInstruction(code: 0), count: Int(d.insn_cnt))
            if let src = d.insns, d.insn_cnt > 0 {
                insns.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: src, count: Int(d.insn_cnt) * 8)) }
            }
            var relocs = [bpfs_obj_reloc](repeating: bpfs_obj_reloc(), count: 256)
            var n = bpfs_obj_prog_relocs(obj, i, &relocs, Int32(relocs.count))
            if n > Int32(relocs.count) {
                relocs = [bpfs_obj_reloc](repeating: bpfs_obj_reloc(), count: Int(n))
                n = bpfs_obj_prog_relocs(obj, i, &relocs, Int32(relocs.count))
            }
            if n < 0 {
                throw BPFError(code: .elf, operation: "open object", errno: Errno(rawValue: -n),
                               detail: "\(path): cannot locate program \(name) in section \(section)")
            }
            var mapRelocs: [(index: Int, map: String)] = []
            for r in relocs.prefix(Int(n)) {
                let symbol = String(cString: r.symbol)
                let target = String(cString: r.target_section)
                let idx = Int(r.insn_index)
                guard r.map_index >= 0, idx + 1 < insns.count, insns[idx].code == 0x18 else {
                    let what: String
                    if target.hasPrefix(".data") || target.hasPrefix(".rodata") || target.hasPrefix(".bss") {
                        what = "global data is not supported"
                    } else if idx < insns.count, insns[idx].code == 0x85 {
                        what = "bpf-to-bpf calls are not supported"
                    } else if target.isEmpty {
                        what = "extern symbols are not supported"
                    } else {
                        what = "not a map reference"
                    }
                    throw BPFError(code: .unsupported, operation: "open object",
                                   detail: "\(path): program \(name) insn \(idx): relocation to '\(symbol)' in '\(target.isEmpty ? "undefined" : target)' (\(what))")
                }
                mapRelocs.append((idx, maps[Int(r.map_index)].name))
            }
            // Calls to subprograms without a relocation would point outside this program.
            if let bad = insns.firstIndex(where: { $0.code == 0x85 && $0.src == 1 }) {
                throw BPFError(code: .unsupported, operation: "open object",
                               detail: "\(path): program \(name) insn \(bad): bpf-to-bpf calls are not supported")
            }
            programs.append(BPFObjectProgram(name: name, section: section, type: BPFProgType(rawValue: d.type),
                                             expectedAttachType: BPFAttachType(rawValue: d.expected_attach_type),
                                             instructions: insns, mapRelocations: mapRelocs))
        }
        if programs.isEmpty {
            throw BPFError(code: .loader, operation: "open object", detail: "\(path): no programs (no SEC(\"...\") functions)")
        }
        return BPFObject(path: path, license: String(cString: bpfs_obj_license(obj)), programs: programs, maps: maps)
    }

    /// Existence, ELF magic and e_machine == EM_BPF, checked before libbpf so errors are precise.
    private static func precheck(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let e = Errno(rawValue: Glibc.errno)
            throw BPFError(code: .io, operation: "open object", errno: e, detail: path)
        }
        defer { _ = Glibc.close(fd) }
        var header = [UInt8](repeating: 0, count: 20)
        let n = header.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 20) }
        if n < 0 {
            throw BPFError(code: .io, operation: "open object", errno: Errno(rawValue: Glibc.errno), detail: path)
        }
        guard n >= 20, header[0] == 0x7f, header[1] == 0x45, header[2] == 0x4c, header[3] == 0x46 else {
            throw BPFError(code: .elf, operation: "open object", detail: "\(path): not an ELF file")
        }
        let bigEndian = header[5] == 2
        let machine = bigEndian ? (UInt16(header[18]) << 8 | UInt16(header[19])) : (UInt16(header[19]) << 8 | UInt16(header[18]))
        guard machine == 247 else {  // EM_BPF
            throw BPFError(code: .elf, operation: "open object", detail: "\(path): not a BPF object (e_machine \(machine))")
        }
    }

    /// Creates every map and loads every program through `runtime`'s entry.
    /// On any failure everything created so far is closed and the error rethrown.
    public func load(into runtime: Runtime) throws -> LoadedObject {
        var mapFDs: [String: MapFD] = [:]
        var progFDs: [String: ProgramFD] = [:]
        do {
            for m in maps {
                mapFDs[m.name] = try runtime.mapCreate(m.spec)
            }
            for p in programs {
                var insns = p.instructions
                for r in p.mapRelocations {
                    guard let fd = mapFDs[r.map]?.fd else { continue }
                    insns[r.index].src = 1  // BPF_PSEUDO_MAP_FD
                    insns[r.index].imm = fd
                    insns[r.index + 1].imm = 0
                }
                progFDs[p.name] = try runtime.progLoad(type: p.type, instructions: insns, license: license,
                                                       expectedAttachType: p.expectedAttachType, name: p.name)
            }
        } catch {
            progFDs.values.forEach { $0.close() }
            mapFDs.values.forEach { $0.close() }
            throw error
        }
        return LoadedObject(runtime: runtime, path: path, programs: progFDs, maps: mapFDs)
    }
}

/// The fds of a loaded object. Programs keep their maps alive in the kernel, but
/// the map fds here are what user space reads.
public final class LoadedObject {
    public let runtime: Runtime
    public let path: String
    public private(set) var programs: [String: ProgramFD]
    public private(set) var maps: [String: MapFD]

    init(runtime: Runtime, path: String, programs: [String: ProgramFD], maps: [String: MapFD]) {
        self.runtime = runtime
        self.path = path
        self.programs = programs
        self.maps = maps
    }

    public func program(_ name: String) throws -> ProgramFD {
        guard let p = programs[name] else {
            throw BPFError(code: .loader, operation: "find program", detail: "\(path): no program \(name) (have \(programs.keys.sorted().joined(separator: ", ")))")
        }
        return p
    }

    public func map(_ name: String) throws -> MapFD {
        guard let m = maps[name] else {
            throw BPFError(code: .loader, operation: "find map", detail: "\(path): no map \(name) (have \(maps.keys.sorted().joined(separator: ", ")))")
        }
        return m
    }

    /// Closes every fd (idempotent).
    public func close() {
        programs.values.forEach { $0.close() }
        maps.values.forEach { $0.close() }
    }

    deinit { close() }
}
