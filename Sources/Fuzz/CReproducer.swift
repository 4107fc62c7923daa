// Standalone C reproducers: a fuzz program as the same bpf() calls, attrs, sizes and guard-paged buffers the executor uses.
import BPFKit
import Basics
import Foundation
import Glibc

/// `bpfstress fuzz --emit-c` and the `repro-*.c` beside every `repro-*.prog`. The C file needs
/// only libc and linux/bpf.h: it maps the executor's guard arena (slots ending at a PROT_NONE
/// page, 16 canary bytes in front), places every buffer exactly where the executor does, issues
/// the same commands with the same attr sizes, prints each call's result, and exits 1 when the
/// call named by the finding gives the answer that disagreed with the model (same errno, and
/// the same output bytes or count), 0 when it does not.
public enum CReproducer {
    /// "0x00" ... "0xff".
    static let hexByte: [String] = (0..<256).map { n in
        let digits = Array("0123456789abcdef")
        return "0x" + String(digits[n >> 4]) + String(digits[n & 15])
    }

    /// Runs `p` on `fuzzer` (every call's result kept) and renders it with its first finding.
    public static func source(_ p: Program, fuzzer: Fuzzer, title: String = "") -> String {
        let rep = fuzzer.execute(p, all: true)
        return source(p, results: rep.results, finding: rep.findings.first, cpus: fuzzer.executor.cpus, title: title)
    }

    /// Renders `p`; `results` are what the calls returned when the finding was made (the
    /// recorded answer of the finding's call is what the C program compares with).
    public static func source(_ p: Program, results: [CallResult], finding: OracleFinding?, cpus: Int, title: String = "") -> String {
        var out = prelude(title: title, finding: finding) + (p.calls.contains { $0.op == .failNth } ? FaultNth.cMainSetup : "") + devcpuPrologue(p)
        var shapes = [MapShape?](repeating: nil, count: Executor.maxSlots)
        for (i, c) in p.calls.enumerated() {
            guard i < results.count else { break }
            let s = shapes[c.map] ?? MapShape(type: .hash, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, cpus: cpus)
            out += "\n    /* call \(i + 1): \(c.description.replacingOccurrences(of: "*/", with: "* /")) */\n    {\n"
            // After fail_nth: an armable call runs armed and reads fail-nth back after it; any
            // other call is disarmed first, as the executor does.
            let armed = i > 0 && p.calls[i - 1].op == .failNth && c.op != .failNth
            if armed && !FaultNth.armable.contains(c.op) { out += "        fail_nth_done();\n" }
            out += devcpuBody(c, s, p) ?? body(c, s)
            if armed && FaultNth.armable.contains(c.op) { out += "        fail_nth_done();\n" }
            out += "        report(\(i + 1), \"\(c.op.rawValue)\", r);\n"
            if let f = finding, f.call == i, !sweepKinds.contains(f.kind) { out += poolCheck(p, results, i) ?? check(c, results[i]) }
            out += "    }\n"
            if c.op == .create {
                shapes[c.map] = results[i].errno == 0 ? MapShape(type: c.type, keySize: Int(c.keySize), valueSize: Int(c.valueSize),
                                                                 maxEntries: Int(c.maxEntries), flags: c.mapFlags, cpus: cpus) : nil
            }
        }
        out += sweep(p, finding: finding)
        out += "\n    printf(\"%s\\n\", reproduced ? \"REPRODUCED: the finding's call gave the answer the model disagrees with\" : \"not reproduced\");\n"
        out += "    pool_reset();\n    return reproduced ? 1 : 0;\n}\n"
        return out
    }

    static func bytes(_ b: [UInt8]) -> String {
        // A byte table, not String(format:) per byte: that took 17.7 s for one reproducer under TCG.
        b.isEmpty ? "{0}" : "{" + b.map { hexByte[Int($0)] }.joined(separator: ",") + "}"
    }

    /// C statements placing `r` in arena slot `slot` into `name` (a void *).
    static func place(_ name: String, _ r: ResolvedBuf, slot: Int) -> String {
        switch r {
        case .null: return "        void *\(name) = NULL;\n"
        case .unmapped: return "        void *\(name) = guard_page(\(slot));\n"
        case let .input(b):
            let n = min(b.count, Layout.bufferCap)
            return "        static const unsigned char \(name)_in[] = \(bytes(Array(b.prefix(n))));\n" +
                "        void *\(name) = place_in(\(slot), \(name)_in, \(n));\n"
        case let .output(n): return "        void *\(name) = place_out(\(slot), \(min(n, Layout.bufferCap)));\n"
        }
    }

    static func fd(_ c: Call) -> String {
        switch c.fd {
        case .map: return "fds[\(c.map)]"
        case .closed: return "CLOSED_FD"
        case .file: return "devnull"
        case .negative: return "-1"
        }
    }

    static func body(_ c: Call, _ s: MapShape) -> String {
        let fd = fd(c)
        switch c.op {
        case .create:
            let flags = c.numa != nil ? c.mapFlags | BPFMapFlags.numaNode : c.mapFlags
            return """
                    if (fds[\(c.map)] >= 0 && fds[\(c.map)] != CLOSED_FD) close(fds[\(c.map)]);
                    while (maps_n[\(c.map)] > 0) { maps_n[\(c.map)]--; munmap(maps_p[\(c.map)][maps_n[\(c.map)]], maps_len[\(c.map)][maps_n[\(c.map)]]); }
                    fds[\(c.map)] = -1; last_len[\(c.map)] = 0; ids[\(c.map)] = 0;
                    union bpf_attr a; memset(&a, 0, \(c.mapExtra != 0 || c.inner != -1 || c.btf != 0 ? "SZ(map_extra)" : "SZ(map_name)"));
                    a.map_type = \(c.type.rawValue); a.key_size = \(c.keySize); a.value_size = \(c.valueSize);
                    a.max_entries = \(c.maxEntries); a.map_flags = 0x\(String(flags, radix: 16));
                    \(flags & BPFMapFlags.numaNode != 0 ? "a.numa_node = \(c.numa ?? 0);" : "")
                    strcpy(a.map_name, "bpfs_fuzz");\(c.mapExtra != 0 ? " a.map_extra = \(c.mapExtra)ULL;" : "")\(c.inner != -1 ? " a.inner_map_fd = (__u32)\(innerFD(c.inner));" : "")
                    \(btfAttr(c))long r = \(c.btf != 0 ? "btf < 0 ? btf : " : "")sys(BPF_MAP_CREATE, &a, \(c.mapExtra != 0 || c.inner != -1 || c.btf != 0 ? "SZ(map_extra)" : "SZ(map_name)"));
                    \(c.btf != 0 ? "if (a.btf_fd) close((int)a.btf_fd);" : "/* no BTF: btf_fd lies past the attr set */")
                    ids[\(c.map)] = 0; if (r >= 0) { fds[\(c.map)] = (int)r; ids[\(c.map)] = map_info(fds[\(c.map)]); if (n_ids < 256) all_ids[n_ids++] = ids[\(c.map)]; }

            """
        case .close:
            return "        long r = 0;\n        if (fds[\(c.map)] >= 0 && fds[\(c.map)] != CLOSED_FD) { close(fds[\(c.map)]); fds[\(c.map)] = CLOSED_FD; } else r = -EBADF;\n"
        case .freeze where c.attrSize != 0:
            return """
                    static unsigned char a[8192] __attribute__((aligned(8))); memset(a, 0, sizeof a);
                    int fd = \(fd); memcpy(a, &fd, 4); a[\(c.attrSize - 1)] = 1;
                    long r = sys(BPF_MAP_FREEZE, (union bpf_attr *)a, \(c.attrSize));

            """
        case .freeze:
            return "        union bpf_attr a; memset(&a, 0, SZ(map_fd)); a.map_fd = \(fd);\n        long r = sys(BPF_MAP_FREEZE, &a, SZ(map_fd));\n"
        case .update, .lookup, .lookupAndDelete, .delete, .nextKey:
            return elem(c, s, fd)
        case .putInner, .alive:
            return mapInMap(c, s, fd)
        case .open, .drop:
            return poolBody(c)
        case .putProg:
            return putProgBody(c, s, fd)
        case .lookupBatch, .lookupAndDeleteBatch:
            var t = ""
            switch c.inBatch {
            case .last: t += "        void *in_b = last_len[\(c.map)] ? place_in(3, last_tok[\(c.map)], last_len[\(c.map)]) : NULL;\n"
            default: t += place("in_b", Layout.inBatch(c.inBatch, last: nil), slot: 3)
            }
            t += place("out_b", .output(Layout.tokenLen(s)), slot: 4)
            t += place("ks", Layout.batchKeysOut(c, s), slot: 5) + place("vs", Layout.batchValuesOut(c, s), slot: 6)
            let cmd = c.op == .lookupBatch ? "BPF_MAP_LOOKUP_BATCH" : "BPF_MAP_LOOKUP_AND_DELETE_BATCH"
            t += batchAttr(c, fd, inB: "in_b", outB: "out_b", keys: "ks", values: "vs", cmd: cmd)
            t += "        if (\(c.fd == .map ? 1 : 0) && (r == 0 || r == -ENOENT || r == -ENOSPC)) { last_len[\(c.map)] = \(min(Layout.tokenLen(s), Layout.bufferCap)); memcpy(last_tok[\(c.map)], out_b, last_len[\(c.map)]); }\n"
            return t
        case .updateBatch:
            return place("ks", Layout.batchKeysIn(c, s), slot: 5) + place("vs", Layout.batchValuesIn(c, s), slot: 6) +
                batchAttr(c, fd, inB: "NULL", outB: "NULL", keys: "ks", values: "vs", cmd: "BPF_MAP_UPDATE_BATCH")
        case .deleteBatch:
            return place("ks", Layout.batchKeysIn(c, s), slot: 5) +
                batchAttr(c, fd, inB: "NULL", outB: "NULL", keys: "ks", values: "NULL", cmd: "BPF_MAP_DELETE_BATCH")
        case .mmap:
            return """
                    if (maps_n[\(c.map)] >= 4) { munmap(maps_p[\(c.map)][0], maps_len[\(c.map)][0]); memmove(&maps_p[\(c.map)][0], &maps_p[\(c.map)][1], 3 * sizeof(void *)); memmove(&maps_len[\(c.map)][0], &maps_len[\(c.map)][1], 3 * sizeof(long)); memmove(&maps_rd[\(c.map)][0], &maps_rd[\(c.map)][1], 3 * sizeof(int)); memmove(&maps_wr[\(c.map)][0], &maps_wr[\(c.map)][1], 3 * sizeof(int)); maps_n[\(c.map)]--; }
                    void *p = mmap(NULL, \(Executor.mmapLength(s)), \(c.flags), MAP_SHARED, \(fd), 0);
                    long r = p == MAP_FAILED ? -errno : 0;
                    if (!r) { int n = maps_n[\(c.map)]++; maps_p[\(c.map)][n] = p; maps_len[\(c.map)][n] = \(Executor.mmapLength(s)); maps_rd[\(c.map)][n] = \(c.flags & 1); maps_wr[\(c.map)][n] = \((c.flags >> 1) & 1);
                              if (\(c.flags & 1)) { printf("      view "); hex(p, 24); printf("\\n"); } }

            """
        case .munmap:
            return "        long r = -EINVAL;\n        if (maps_n[\(c.map)] > 0) { int n = --maps_n[\(c.map)]; r = munmap(maps_p[\(c.map)][n], maps_len[\(c.map)][n]) ? -errno : 0; }\n"
        case .view where c.value != .auto && { if case .int = c.key { return true }; return false }():
            guard case let .int(i) = c.key, case let .input(b) = Layout.value(c.value, s) else { return "        long r = -EINVAL;\n" }
            let elem = (s.valueSize + 7) & ~7
            return """
                    static const unsigned char w_in[] = \(bytes(Array(b.prefix(s.valueSize))));
                    long r = -EINVAL;
                    if (maps_n[\(c.map)] > 0) { int n = maps_n[\(c.map)] - 1; r = maps_rd[\(c.map)][n] && maps_wr[\(c.map)][n] ? 0 : -EACCES;
                        if (!r && (\(i) >= \(s.maxEntries) || \(Int(min(i, 1 << 40)) * elem + s.valueSize) > maps_len[\(c.map)][n])) r = -E2BIG;
                        if (!r) { memcpy((unsigned char *)maps_p[\(c.map)][n] + \(Int(min(i, 1 << 40)) * elem), w_in, sizeof w_in);
                                  printf("      view "); hex(maps_p[\(c.map)][n], 24); printf("\\n"); } }

            """
        case .view:
            return """
                    long r = -EINVAL;
                    if (maps_n[\(c.map)] > 0) { int n = maps_n[\(c.map)] - 1; r = maps_rd[\(c.map)][n] ? 0 : -EACCES;
                                              if (!r) { printf("      view "); hex(maps_p[\(c.map)][n], 24); printf("\\n"); } }

            """
        case .pin, .unpin, .objGet, .fdByID, .nextID, .info:
            return identityBody(c)
        case .race:
            return raceBody(c, s)
        case .ringMmap:
            return ringMmapBody(c, s)
        case .failNth:
            return "        long r = fail_nth_arm(\(c.count));\n"
        case .walk:
            guard s.keySize > 0, s.keySize <= Layout.bufferCap else {
                return place("o", .output(8), slot: 2) + "        long r = next_key(\(fd), NULL, o);\n"
            }
            let limit = min(s.maxEntries, Layout.walkCap) + 2
            return place("cur", .output(s.keySize), slot: 0) + place("nxt", .output(s.keySize), slot: 2) +
                place("v", .output(min(s.valueLen, Layout.bufferCap)), slot: 1) + """
                        long r = 0; int steps = 0;
                        while (steps < \(limit)) {
                            r = next_key(\(fd), steps ? cur : NULL, nxt);
                            if (r < 0) break;
                            long l = elem_call(BPF_MAP_LOOKUP_ELEM, \(fd), nxt, v, 0);
                            printf("      key "); hex(nxt, \(s.keySize)); printf(" lookup %s\\n", errname(l));
                            memcpy(cur, nxt, \(s.keySize)); steps++;
                        }
                        printf("      walk: %d key(s)\\n", steps);

                """
        }
    }

    static func elem(_ c: Call, _ s: MapShape, _ fd: String) -> String {
        switch c.op {
        case .update:
            return placeKey("k", c.key, s, slot: 0) + placeValue("v", c.value, s, slot: 1) +
                "        long r = elem_call(BPF_MAP_UPDATE_ELEM, \(fd), k, v, \(c.flags)ULL);\n"
        case .lookup, .lookupAndDelete:
            let cmd = c.op == .lookup ? "BPF_MAP_LOOKUP_ELEM" : "BPF_MAP_LOOKUP_AND_DELETE_ELEM"
            // A bloom filter's peek reads the value buffer, as the executor places it.
            let o = c.op == .lookup && s.isBloom ? Layout.value(c.value, s) : Layout.output(c.out, need: s.valueLen)
            return placeKey("k", c.key, s, slot: 0) + place("o", o, slot: 2) +
                "        long r = elem_call(\(cmd), \(fd), k, o, \(c.flags)ULL);\n"
        case .delete:
            return placeKey("k", c.key, s, slot: 0) +
                "        union bpf_attr a; memset(&a, 0, SZ(key)); a.map_fd = \(fd); a.key = PTR(k);\n        long r = sys(BPF_MAP_DELETE_ELEM, &a, SZ(key));\n"
        default:
            return (c.key == .auto ? place("k", .null, slot: 0) : placeKey("k", c.key, s, slot: 0)) +
                place("o", Layout.output(c.out, need: s.keySize), slot: 2) + "        long r = next_key(\(fd), k, o);\n"
        }
    }

    static func batchAttr(_ c: Call, _ fd: String, inB: String, outB: String, keys: String, values: String, cmd: String) -> String {
        """
                union bpf_attr a; memset(&a, 0, SZ(batch));
                a.batch.map_fd = \(fd); a.batch.in_batch = PTR(\(inB)); a.batch.out_batch = PTR(\(outB));
                a.batch.keys = PTR(\(keys)); a.batch.values = PTR(\(values)); a.batch.count = \(c.count);
                a.batch.elem_flags = \(c.elemFlags)ULL; a.batch.flags = \(c.flags)ULL;
                long r = sys(\(cmd), &a, SZ(batch));
                unsigned int count = a.batch.count; (void)count;
                printf("      count %u\\n", count);

        """
    }

    /// The comparison at the finding's call: the recorded errno, plus the output bytes
    /// (lookup, lookup_and_delete, next_key) or count (batches) it came with.
    static func check(_ c: Call, _ r: CallResult) -> String {
        let errno = c.op == .walk ? r.walkEnd : r.errno
        var cond = "r == \(errno == 0 ? "0" : "-\(errno)")"
        if c.op == .create && errno == 0 { cond = "r >= 0" }
        switch c.op {
        case .lookup, .lookupAndDelete, .nextKey:
            if errno == 0 && !r.out.isEmpty {
                cond += " && memcmp(o, (const unsigned char[])\(bytes(r.out)), \(r.out.count)) == 0"
            }
        case .lookupBatch, .lookupAndDeleteBatch, .updateBatch, .deleteBatch, .info: cond += " && count == \(r.count)"
        default: break
        }
        return "        /* the finding's call: the kernel answered \(ErrnoName.name(errno)) here when the model disagreed */\n" +
            "        if (\(cond)) reproduced = 1;\n"
    }

    static func prelude(title: String, finding: OracleFinding?) -> String {
        let what = (finding.map { "\($0)" } ?? "no finding").replacingOccurrences(of: "*/", with: "* /")
        return """
        /* bpfstress fuzz C reproducer\(title.isEmpty ? "" : ": " + title.replacingOccurrences(of: "*/", with: "* /"))
         * finding: \(what)
         * build: gcc -O1 -o repro repro.c; run as root: ./repro (exit 1: reproduced, 0: not)
         * Buffers sit where bpfstress's executor puts them: each ends at a PROT_NONE guard page,
         * with 16 canary bytes (0xa5) in front; outputs are filled with 0xcc first. */
        #define _GNU_SOURCE
        #include <errno.h>
        #include <fcntl.h>
        #include <linux/bpf.h>
        #include <stddef.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/mman.h>
        #include <sys/syscall.h>
        #include <unistd.h>

        #define SZ(f) (offsetof(union bpf_attr, f) + sizeof(((union bpf_attr *)0)->f))
        #define PTR(p) ((__u64)(unsigned long)(p))
        #define CAP \(Layout.bufferCap)
        #define CLOSED_FD \(Executor.closedFD)
        static unsigned char *arena; static long page, slot_bytes;
        __attribute__((unused)) static void *maps_p[4][4]; __attribute__((unused)) static long maps_len[4][4];
        __attribute__((unused)) static int maps_rd[4][4], maps_wr[4][4], maps_n[4];
        static int fds[\(Executor.maxSlots)] = {-1, -1, -1, -1}, devnull = -1, reproduced = 0;
        __attribute__((unused)) static unsigned char last_tok[\(Executor.maxSlots)][CAP > 4096 ? 4096 : CAP]; static unsigned int last_len[\(Executor.maxSlots)];

        static long sys(int cmd, union bpf_attr *a, unsigned int size) {
            long r = syscall(__NR_bpf, cmd, a, size);
            return r < 0 ? -errno : r;
        }
        static void *guard_page(int slot) { return arena + (slot + 1) * slot_bytes - page; }
        static unsigned char *place(int slot, long n) {
            unsigned char *p = (unsigned char *)guard_page(slot) - n;
            memset(p - 16, 0xa5, 16);
            return p;
        }
        __attribute__((unused)) static void *place_in(int slot, const void *b, long n) { unsigned char *p = place(slot, n); memcpy(p, b, n); return p; }
        __attribute__((unused)) static void *place_out(int slot, long n) { unsigned char *p = place(slot, n); memset(p, 0xcc, n); return p; }
        __attribute__((unused)) static long elem_call(int cmd, int fd, void *k, void *v, __u64 flags) {
            union bpf_attr a; memset(&a, 0, SZ(flags));
            a.map_fd = fd; a.key = PTR(k); a.value = PTR(v); a.flags = flags;
            return sys(cmd, &a, SZ(flags));
        }
        __attribute__((unused)) static long next_key(int fd, void *k, void *n) {
            union bpf_attr a; memset(&a, 0, SZ(next_key));
            a.map_fd = fd; a.key = PTR(k); a.next_key = PTR(n);
            return sys(BPF_MAP_GET_NEXT_KEY, &a, SZ(next_key));
        }
        __attribute__((unused)) static unsigned map_info(int fd) {
            struct bpf_map_info info; union bpf_attr a;
            memset(&info, 0, sizeof(info)); memset(&a, 0, SZ(info));
            a.info.bpf_fd = fd; a.info.info_len = sizeof(info); a.info.info = PTR(&info);
            return sys(BPF_OBJ_GET_INFO_BY_FD, &a, SZ(info)) == 0 ? info.id : 0;
        }
        /* Ids of the slots' latest maps and of every map made (map-in-map lifetimes). */
        __attribute__((unused)) static unsigned ids[\(Executor.maxSlots)], all_ids[256]; __attribute__((unused)) static int n_ids;
        __attribute__((unused)) static long get_fd_by_id(unsigned id) {
            union bpf_attr a; memset(&a, 0, SZ(open_flags)); a.map_id = id;
            long r = sys(BPF_MAP_GET_FD_BY_ID, &a, SZ(open_flags));
            if (r >= 0) close((int)r);
            return r;
        }
        static const char *errname(long r) {
            static char buf[32];
            if (r >= 0) { snprintf(buf, sizeof buf, "ok (%ld)", r); return buf; }
            switch (-r) {
            case EPERM: return "EPERM"; case ENOENT: return "ENOENT"; case E2BIG: return "E2BIG";
            case EBADF: return "EBADF"; case ENOMEM: return "ENOMEM"; case EFAULT: return "EFAULT";
            case EBUSY: return "EBUSY"; case EEXIST: return "EEXIST"; case EINVAL: return "EINVAL";
            case ENOSPC: return "ENOSPC"; case EOPNOTSUPP: return "EOPNOTSUPP"; case 524: return "ENOTSUPP";
            case EACCES: return "EACCES"; case ENODEV: return "ENODEV"; case EAGAIN: return "EAGAIN"; case ENOTSOCK: return "ENOTSOCK";
            }
            snprintf(buf, sizeof buf, "errno %ld", -r); return buf;
        }
        __attribute__((unused)) static void hex(const void *p, int n) { for (int i = 0; i < n && i < 24; i++) printf("%02x", ((const unsigned char *)p)[i]); }
        static void report(int i, const char *op, long r) { printf("%3d  %-24s -> %s\\n", i, op, errname(r)); }

        \(identityPrelude)\(racePrelude)\(poolPrelude)\(FaultNth.cPrelude)int main(void) {
            page = sysconf(_SC_PAGESIZE);
            slot_bytes = ((CAP + 16 + page - 1) / page + 1) * page;
            arena = mmap(NULL, slot_bytes * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (arena == MAP_FAILED) { perror("mmap"); return 2; }
            for (int i = 0; i < 8; i++) mprotect(guard_page(i), page, PROT_NONE);
            devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

        """
    }
}
