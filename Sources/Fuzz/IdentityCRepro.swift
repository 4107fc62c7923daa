// The C reproducer's identity calls: the same private bpffs (fsopen + fsmount), pins, OBJ_GET, GET_FD_BY_ID, GET_NEXT_ID and GET_INFO as the executor.
import BPFKit
import Foundation

extension CReproducer {
    /// C helpers the identity calls need (declared unused where a program has none).
    static let identityPrelude = """
    #include <linux/mount.h>
    struct obj_attr { __u64 pathname; __u32 bpf_fd; __u32 file_flags; __s32 path_fd; };
    static int bpffs = -2; __attribute__((unused)) static unsigned int ids[4];
    static const char *const names[6] = {"p0", "p1", "p2", "p3", ".", "nodir/p0"};
    /* A bpffs mounted nowhere (fsopen + fsmount): it and its pins go when the program exits. */
    __attribute__((unused)) static int private_bpffs(void) {
        if (bpffs != -2) return bpffs;
        int fs = syscall(SYS_fsopen, "bpf", FSOPEN_CLOEXEC);
        if (fs < 0 || syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) { bpffs = -1; return -1; }
        bpffs = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0); close(fs);
        return bpffs;
    }
    __attribute__((unused)) static const char *obj_path(int i, int relative) {
        static char buf[64];
        if (relative) return names[i];
        snprintf(buf, sizeof buf, "/proc/self/fd/%d/%s", bpffs, names[i]); return buf;
    }
    __attribute__((unused)) static long obj_call(int cmd, int fd, int i, __u32 flags) {
        struct obj_attr a; memset(&a, 0, sizeof a);
        int relative = (flags >> 14) & 1;
        a.pathname = PTR(obj_path(i, relative)); a.bpf_fd = fd; a.file_flags = flags; a.path_fd = relative ? bpffs : 0;
        return sys(cmd, (union bpf_attr *)&a, sizeof a);
    }
    /* A new fd into slot s as a create puts one there (the old fd closed, mappings unmapped). */
    __attribute__((unused)) static long adopt(int s, long r) {
        if (fds[s] >= 0 && fds[s] != CLOSED_FD) close(fds[s]);
        while (maps_n[s] > 0) { maps_n[s]--; munmap(maps_p[s][maps_n[s]], maps_len[s][maps_n[s]]); }
        fds[s] = -1; last_len[s] = 0; ids[s] = 0;
        if (r >= 0) { fds[s] = (int)r; ids[s] = map_info(fds[s]); printf("      map id %u\\n", ids[s]); }
        return r;
    }

    """

    /// The statements of pin, unpin, obj_get, fd_by_id, next_id or info.
    static func identityBody(_ c: Call) -> String {
        let fd = fd(c), flags = UInt32(truncatingIfNeeded: c.flags), i = min(c.count, 5)
        let noFS = "        if (private_bpffs() < 0) r = -\(noPrivateBPFFS); else\n"
        switch c.op {
        case .pin:
            return "        long r;\n" + noFS + "        r = obj_call(BPF_OBJ_PIN, \(fd), \(i), 0x\(String(flags, radix: 16)));\n"
        case .unpin:
            return "        long r;\n" + noFS + "        r = unlinkat(bpffs, names[\(i)], 0) ? -errno : 0;\n"
        case .objGet:
            return "        long r;\n" + noFS + "        r = adopt(\(c.map), obj_call(BPF_OBJ_GET, 0, \(i), 0x\(String(flags, radix: 16))));\n"
        case .fdByID:
            return """
                    union bpf_attr a; memset(&a, 0, SZ(open_flags)); a.map_id = ids[\(min(Int(c.count), Executor.maxSlots - 1))]; a.open_flags = 0x\(String(flags, radix: 16));
                    long r = adopt(\(c.map), sys(BPF_MAP_GET_FD_BY_ID, &a, SZ(open_flags)));

            """
        case .nextID:
            return """
                    union bpf_attr a; memset(&a, 0, SZ(open_flags)); a.start_id = ids[\(c.map)] - 1; a.open_flags = 0x\(String(flags, radix: 16));
                    long r = sys(BPF_MAP_GET_NEXT_ID, &a, SZ(open_flags));
                    printf("      start %u next %u\\n", ids[\(c.map)] - 1, a.next_id);

            """
        default:
            let n = min(Int(c.count), 8192)
            var ptr = "place_in(2, zeros, \(n))"
            if c.out == .null { ptr = "NULL" } else if c.out == .unmapped { ptr = "guard_page(2)" }
            return """
                    static unsigned char zeros[8192]; memset(zeros, 0, sizeof zeros);\(c.flags & 1 != 0 && n > 0 ? " zeros[\(n - 1)] = 1;" : "")
                    unsigned char *info = \(ptr);
                    union bpf_attr a; memset(&a, 0, SZ(info)); a.info.bpf_fd = \(fd); a.info.info_len = \(c.count); a.info.info = PTR(info);
                    long r = sys(BPF_OBJ_GET_INFO_BY_FD, &a, SZ(info));
                    unsigned int count = a.info.info_len; (void)count;
                    printf("      info_len %u", count); if (info && !r) { printf(" info "); hex(info, count < 24 ? count : 24); } printf("\\n");

            """
        }
    }
}
