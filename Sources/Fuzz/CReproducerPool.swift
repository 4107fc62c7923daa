// The C reproducer's object pool: one C function per pool kind (loopback only), open/drop bodies, obj:N buffers, and the cleanup at exit.
import BPFKit
import Foundation

extension CReproducer {
    /// A key argument: obj:N as the object's fd at run time, else Layout.key's bytes.
    static func placeKey(_ name: String, _ b: Buf, _ s: MapShape, slot: Int) -> String {
        if case let .obj(n) = b { return placeObj(name, n, s.keySize == 0 ? 4 : s.keySize, slot: slot) }
        return place(name, Layout.key(b, s), slot: slot)
    }

    /// A value argument the kernel reads: obj:N as the object's fd, else Layout.value's bytes.
    static func placeValue(_ name: String, _ b: Buf, _ s: MapShape, slot: Int) -> String {
        if case let .obj(n) = b { return placeObj(name, n, s.valueLen, slot: slot) }
        return place(name, Layout.value(b, s), slot: slot)
    }

    /// `size` bytes holding obj_fd[n] little-endian (x86_64), zero beyond 4 bytes.
    static func placeObj(_ name: String, _ n: Int, _ size: Int, slot: Int) -> String {
        let len = min(size, Layout.bufferCap)
        return """
                static unsigned char \(name)_in[\(max(len, 1))]; memset(\(name)_in, 0, sizeof \(name)_in);
                { unsigned int ofd = (unsigned int)obj_fd[\(n)]; memcpy(\(name)_in, &ofd, \(min(len, 4))); }
                void *\(name) = place_in(\(slot), \(name)_in, \(len));

        """
    }

    /// open: drop, then the kind's function; drop: the pool's drop (EBADF when empty, as the executor).
    static func poolBody(_ c: Call) -> String {
        let n = c.count
        if c.op == .drop {
            return "        long r = obj_fd[\(n)] != CLOSED_FD ? 0 : -EBADF;\n        pool_drop(\(n));\n"
        }
        let kind = PoolKind.at(c.flags)?.rawValue ?? "none"
        return """
                pool_drop(\(n));
                unsigned long long fact = 0;
                long r = pool_\(kind)(\(n), &fact);
                if (r >= 0) { obj_fd[\(n)] = (int)r; r = 0; }
                printf("      obj %d fd %d fact %llu\\n", \(n), obj_fd[\(n)], fact);

        """
    }

    /// The pool's C side: every object in obj_fd[], the extra fd, child and cgroup of each.
    static let poolPrelude = """
    /* ---- the object pool: sockets on loopback only, minimal programs, perf events, files,
     * pidfds, a sleeping child, a private cgroup; all dropped at exit ---- */
    #include <arpa/inet.h>
    #include <linux/perf_event.h>
    #include <netinet/in.h>
    #include <signal.h>
    #include <spawn.h>
    #include <sys/socket.h>
    #include <sys/stat.h>
    #include <sys/wait.h>
    #ifndef AF_XDP
    #define AF_XDP 44
    #endif
    #ifndef SO_COOKIE
    #define SO_COOKIE 57
    #endif
    extern char **environ;
    static int obj_fd[8] = {CLOSED_FD, CLOSED_FD, CLOSED_FD, CLOSED_FD, CLOSED_FD, CLOSED_FD, CLOSED_FD, CLOSED_FD};
    __attribute__((unused)) static int obj_peer[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    __attribute__((unused)) static pid_t obj_pid[8]; __attribute__((unused)) static char obj_cg[8][512];
    static void pool_drop(int n) {
        if (obj_fd[n] != CLOSED_FD) close(obj_fd[n]);
        if (obj_peer[n] >= 0) close(obj_peer[n]);
        if (obj_pid[n] > 0) { kill(obj_pid[n], SIGKILL); while (waitpid(obj_pid[n], NULL, 0) < 0 && errno == EINTR) {} }
        if (obj_cg[n][0]) rmdir(obj_cg[n]);
        obj_fd[n] = CLOSED_FD; obj_peer[n] = -1; obj_pid[n] = 0; obj_cg[n][0] = 0;
    }
    static void pool_reset(void) { for (int n = 0; n < 8; n++) pool_drop(n); }
    __attribute__((unused)) static long sock_done(int fd, unsigned long long *fact) {
        socklen_t len = sizeof *fact;
        if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, fact, &len)) { long e = -errno; close(fd); return e; }
        return fd;
    }
    __attribute__((unused)) static long inet_sock(int type, int v6, int bound, int reuse, int lst, unsigned long long *fact) {
        int fd = socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0), one = 1;
        if (fd < 0) return -errno;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        if ((reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) ||
            (bound && (v6 ? bind(fd, (struct sockaddr *)&a6, sizeof a6) : bind(fd, (struct sockaddr *)&a, sizeof a))) ||
            (lst && listen(fd, 4))) { long e = -errno; close(fd); return e; }
        return sock_done(fd, fact);
    }
    __attribute__((unused)) static long pool_udp(int n, unsigned long long *f) { (void)n; return inet_sock(SOCK_DGRAM, 0, 1, 0, 0, f); }
    __attribute__((unused)) static long pool_udp6(int n, unsigned long long *f) { (void)n; return inet_sock(SOCK_DGRAM, 1, 1, 0, 0, f); }
    __attribute__((unused)) static long pool_udp_unbound(int n, unsigned long long *f) { (void)n; return inet_sock(SOCK_DGRAM, 0, 0, 0, 0, f); }
    __attribute__((unused)) static long pool_udp_reuseport(int n, unsigned long long *f) { (void)n; return inet_sock(SOCK_DGRAM, 0, 1, 1, 0, f); }
    __attribute__((unused)) static long pool_tcp_listen(int n, unsigned long long *f) { (void)n; return inet_sock(SOCK_STREAM, 0, 1, 0, 1, f); }
    __attribute__((unused)) static long pool_tcp_reuseport_listen(int n, unsigned long long *f) { (void)n; return inet_sock(SOCK_STREAM, 0, 1, 1, 1, f); }
    __attribute__((unused)) static long pool_tcp_unconnected(int n, unsigned long long *f) { (void)n; return inet_sock(SOCK_STREAM, 0, 0, 0, 0, f); }
    __attribute__((unused)) static long pool_tcp(int n, unsigned long long *f) {
        unsigned long long lf; long l = inet_sock(SOCK_STREAM, 0, 1, 0, 1, &lf);
        if (l < 0) return l;
        struct sockaddr_in a; socklen_t len = sizeof a;
        getsockname((int)l, (struct sockaddr *)&a, &len);
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0 || connect(c, (struct sockaddr *)&a, len)) { long e = -errno; if (c >= 0) close(c); close((int)l); return e; }
        int s = accept4((int)l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        close((int)l);
        if (s < 0) { long e = -errno; close(c); return e; }
        obj_peer[n] = s;
        return sock_done(c, f);
    }
    __attribute__((unused)) static long unix_pair(int n, int type, unsigned long long *f) {
        int sv[2];
        if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv)) return -errno;
        obj_peer[n] = sv[1];
        return sock_done(sv[0], f);
    }
    __attribute__((unused)) static long pool_unix_stream(int n, unsigned long long *f) { return unix_pair(n, SOCK_STREAM, f); }
    __attribute__((unused)) static long pool_unix_dgram(int n, unsigned long long *f) { return unix_pair(n, SOCK_DGRAM, f); }
    __attribute__((unused)) static long pool_xsk(int n, unsigned long long *f) {
        (void)n; int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
        return fd < 0 ? -errno : sock_done(fd, f);
    }
    /* r0 = verdict; exit, as the executor loads it (name bpfs_fuzz_obj); fact: the program id. */
    __attribute__((unused)) static long prog(unsigned type, unsigned attach, int verdict, unsigned long long *f) {
        struct bpf_insn insns[2] = {{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = verdict}, {.code = BPF_JMP | BPF_EXIT}};
        union bpf_attr a; memset(&a, 0, sizeof a);
        a.prog_type = type; a.insns = PTR(insns); a.insn_cnt = 2; a.license = PTR("GPL");
        a.expected_attach_type = attach; strcpy(a.prog_name, "bpfs_fuzz_obj");
        long fd = sys(BPF_PROG_LOAD, &a, sizeof a);
        if (fd < 0) return fd;
        struct bpf_prog_info info; union bpf_attr ia;
        memset(&info, 0, sizeof info); memset(&ia, 0, SZ(info));
        ia.info.bpf_fd = (unsigned)fd; ia.info.info_len = sizeof info; ia.info.info = PTR(&info);
        long rc = sys(BPF_OBJ_GET_INFO_BY_FD, &ia, SZ(info));
        if (rc < 0) { close((int)fd); return rc; }
        *f = info.id;
        return fd;
    }
    __attribute__((unused)) static long pool_prog_socket_filter(int n, unsigned long long *f) { (void)n; return prog(BPF_PROG_TYPE_SOCKET_FILTER, 0, 0, f); }
    __attribute__((unused)) static long pool_prog_xdp(int n, unsigned long long *f) { (void)n; return prog(BPF_PROG_TYPE_XDP, 0, 2, f); }
    __attribute__((unused)) static long pool_prog_xdp_devmap(int n, unsigned long long *f) { (void)n; return prog(BPF_PROG_TYPE_XDP, BPF_XDP_DEVMAP, 2, f); }
    __attribute__((unused)) static long pool_prog_xdp_cpumap(int n, unsigned long long *f) { (void)n; return prog(BPF_PROG_TYPE_XDP, BPF_XDP_CPUMAP, 2, f); }
    __attribute__((unused)) static long pool_prog_sk_skb(int n, unsigned long long *f) { (void)n; return prog(BPF_PROG_TYPE_SK_SKB, 0, 1, f); }
    __attribute__((unused)) static long pool_perf(int n, unsigned long long *f) {
        (void)n; (void)f;
        struct perf_event_attr a; memset(&a, 0, sizeof a);
        a.type = PERF_TYPE_SOFTWARE; a.size = sizeof a; a.config = PERF_COUNT_SW_BPF_OUTPUT;
        a.sample_type = PERF_SAMPLE_RAW; a.sample_period = 1; a.wakeup_events = 1;
        long fd = syscall(__NR_perf_event_open, &a, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
        return fd < 0 ? -errno : fd;
    }
    __attribute__((unused)) static long pool_file(int n, unsigned long long *f) {
        (void)n; (void)f; int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        return fd < 0 ? -errno : fd;
    }
    __attribute__((unused)) static long pool_pidfd_self(int n, unsigned long long *f) {
        (void)n; long fd = syscall(SYS_pidfd_open, getpid(), 0);
        *f = (unsigned long long)getpid();
        return fd < 0 ? -errno : fd;
    }
    __attribute__((unused)) static long pool_pidfd_child(int n, unsigned long long *f) {
        char *argv[] = {"sleep", "600", NULL}; pid_t pid; posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa); posix_spawn_file_actions_addclosefrom_np(&fa, 3);
        int rc = posix_spawnp(&pid, "sleep", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc) return -rc;
        obj_pid[n] = pid; *f = (unsigned long long)pid;
        long fd = syscall(SYS_pidfd_open, pid, 0);
        return fd < 0 ? -errno : fd;
    }
    /* A private child of the cgroup2 mount (never the root itself); fact: its id (inode). */
    __attribute__((unused)) static long pool_cgroup(int n, unsigned long long *f) {
        static int serial; char line[4096], root[400] = "";
        FILE *m = fopen("/proc/self/mountinfo", "r");
        if (!m) return -errno;
        while (fgets(line, sizeof line, m)) {
            char *dash = strstr(line, " - cgroup2 "); char mp[400];
            if (dash && sscanf(line, "%*s %*s %*s %*s %399s", mp) == 1) { strcpy(root, mp); break; }
        }
        fclose(m);
        if (!root[0]) return -ENOENT;
        snprintf(obj_cg[n], sizeof obj_cg[n], "%s/bpfstress-fuzz-%d-c%d", root, (int)getpid(), serial++);
        if (mkdir(obj_cg[n], 0755)) { obj_cg[n][0] = 0; return -errno; }
        int fd = open(obj_cg[n], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) { long e = -errno; rmdir(obj_cg[n]); obj_cg[n][0] = 0; return e; }
        struct stat st; if (!fstat(fd, &st)) *f = st.st_ino;
        return fd;
    }

    """
}
