/* bpfstress fuzz C reproducer: fuzz seed 7
 * finding: call 2 (create): [errno] got EEXIST, model expects {ENOMEM,EOPNOTSUPP} (create lru_percpu_hash key=3 value=28 max=1 flags=0x0)
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
#define CAP 262144
#define CLOSED_FD 999999
static unsigned char *arena; static long page, slot_bytes;
__attribute__((unused)) static void *maps_p[4][4]; __attribute__((unused)) static long maps_len[4][4];
__attribute__((unused)) static int maps_rd[4][4], maps_wr[4][4], maps_n[4];
static int fds[4] = {-1, -1, -1, -1}, devnull = -1, reproduced = 0;
__attribute__((unused)) static unsigned char last_tok[4][CAP > 4096 ? 4096 : CAP]; static unsigned int last_len[4];

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
__attribute__((unused)) static unsigned ids[4], all_ids[256]; __attribute__((unused)) static int n_ids;
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
static void report(int i, const char *op, long r) { printf("%3d  %-24s -> %s\n", i, op, errname(r)); }

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
    if (r >= 0) { fds[s] = (int)r; ids[s] = map_info(fds[s]); printf("      map id %u\n", ids[s]); }
    return r;
}
#include <pthread.h>
#include <sched.h>
struct race { int fd, kind, ready, a_done; unsigned int ks, vl, vs, max, rounds, progress, calls, entries;
              const unsigned char *del, *keys, *vals; int a_err[64], b_err[256]; long mlen; };
static void race_note(struct race *r, const void *k, int err, const void *v) {
    if (r->entries++ >= 1024) return;
    printf("      B call %u: key ", r->calls + 1); hex(k, r->ks); printf(" %s", errname(-err));
    if (!err) { printf(" value "); hex(v, r->vl); } printf("\n");
}
static void race_half(struct race *r) {
    while (!__atomic_load_n(&r->a_done, __ATOMIC_ACQUIRE) && __atomic_load_n(&r->progress, __ATOMIC_ACQUIRE) < r->rounds / 2) sched_yield();
}
static int race_b_call(struct race *r, unsigned char *k, unsigned char *nk, unsigned char *v, unsigned char *tok, int *tv) {
    long e;
    switch (r->kind) {
    case 0: { int first = 1; e = 0;
        for (unsigned int s = 0; s < r->max + 16; s++) {
            e = next_key(r->fd, first ? NULL : k, nk); if (e) break; first = 0;
            long l = elem_call(BPF_MAP_LOOKUP_ELEM, r->fd, nk, v, 0); race_note(r, nk, -l, v); memcpy(k, nk, r->ks);
        }
        return -e; }
    case 1: case 2: { static unsigned char keys[64 * 16]; union bpf_attr a; memset(&a, 0, SZ(batch));
        a.batch.map_fd = r->fd; a.batch.in_batch = *tv ? PTR(tok) : 0; a.batch.out_batch = PTR(nk); a.batch.keys = PTR(keys);
        a.batch.values = PTR(v); a.batch.count = 16;
        e = sys(r->kind == 1 ? BPF_MAP_LOOKUP_BATCH : BPF_MAP_LOOKUP_AND_DELETE_BATCH, &a, SZ(batch));
        if (!e || e == -ENOENT) for (unsigned int i = 0; i < a.batch.count && i < 16; i++) race_note(r, keys + i * r->ks, 0, v + i * r->vl);
        *tv = !e; if (!e) memcpy(tok, nk, r->ks > 4 ? r->ks : 4);
        return -e; }
    case 3: { race_half(r); union bpf_attr a; memset(&a, 0, SZ(map_fd)); a.map_fd = r->fd; return -sys(BPF_MAP_FREEZE, &a, SZ(map_fd)); }
    case 4: { void *p = mmap(NULL, r->mlen, PROT_READ, MAP_SHARED, r->fd, 0); if (p == MAP_FAILED) return errno;
        unsigned int el = (r->vs + 7) & ~7u;
        for (unsigned int i = 0; i < r->max && (long)i * el + r->vs <= r->mlen; i++) race_note(r, &i, 0, (unsigned char *)p + (long)i * el);
        munmap(p, r->mlen); return 0; }
    default: race_half(r); return dup2(devnull, r->fd) < 0 ? errno : 0;
    }
}
static void *race_b(void *arg) {
    struct race *r = arg; static unsigned char k[64], nk[64], tok[64], v[4096 * 16]; int tv = 0;
    __atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
    do { int e = race_b_call(r, k, nk, v, tok, &tv); r->b_err[r->calls++] = e;
         if ((r->kind == 3 && e != EBUSY) || r->kind == 5) break;
    } while (!__atomic_load_n(&r->a_done, __ATOMIC_ACQUIRE) && r->calls < 256 && r->entries + r->max + 16 <= 1024);
    return NULL;
}
/* Thread A (this thread) and thread B (a new one, on CPU b_cpu) race on r->fd. */
__attribute__((unused)) static long race_run(struct race *r, int b_cpu) {
    pthread_t b; pthread_attr_t at; cpu_set_t set; CPU_ZERO(&set); CPU_SET(b_cpu, &set);
    pthread_attr_init(&at); pthread_attr_setaffinity_np(&at, sizeof set, &set);
    if (pthread_create(&b, &at, race_b, r)) return -EAGAIN;
    for (long spin = 0; spin < 1000000 && !__atomic_load_n(&r->ready, __ATOMIC_ACQUIRE); spin++) sched_yield();
    for (unsigned int j = 0; j < r->rounds; j++) {
        long e = r->del[j] ? ({ union bpf_attr a; memset(&a, 0, SZ(key)); a.map_fd = r->fd; a.key = PTR(r->keys + j * r->ks); sys(BPF_MAP_DELETE_ELEM, &a, SZ(key)); })
                           : elem_call(BPF_MAP_UPDATE_ELEM, r->fd, (void *)(r->keys + j * r->ks), (void *)(r->vals + j * r->vl), 0);
        r->a_err[j] = (int)-e; __atomic_store_n(&r->progress, j + 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&r->a_done, 1, __ATOMIC_RELEASE);
    pthread_join(b, NULL);
    for (unsigned int j = 0; j < r->rounds; j++) printf("      A call %u: %s%s", j + 1, r->del[j] ? "delete " : "update ", errname(-r->a_err[j])), printf("\n");
    for (unsigned int i = 0; i < r->calls; i++) printf("      B call %u: %s\n", i + 1, errname(-r->b_err[i]));
    return 0;
}
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
__attribute__((unused)) static unsigned long long obj_fact[8];
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
static int fnth_fd = -1;
__attribute__((unused)) static long fail_nth_arm(unsigned n) {
    char b[16]; int len = snprintf(b, sizeof b, "%u", n);
    fflush(stdout);
    if (fnth_fd >= 0) close(fnth_fd);
    fnth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
    if (fnth_fd < 0) return -errno;
    if (write(fnth_fd, b, len) != len) { long e = -errno; close(fnth_fd); fnth_fd = -1; return e; }
    return 0;
}
__attribute__((unused)) static void fail_nth_done(void) {
    char b[16] = {0};
    if (fnth_fd < 0) return;
    long n = pread(fnth_fd, b, sizeof b - 1, 0);
    printf("      fault injected: %s\n", n > 0 && atoi(b) == 0 ? "yes" : "no");
    if (write(fnth_fd, "0", 1) != 1) perror("fail-nth");
    close(fnth_fd); fnth_fd = -1;
}
int main(void) {
    page = sysconf(_SC_PAGESIZE);
    slot_bytes = ((CAP + 16 + page - 1) / page + 1) * page;
    arena = mmap(NULL, slot_bytes * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (arena == MAP_FAILED) { perror("mmap"); return 2; }
    for (int i = 0; i < 8; i++) mprotect(guard_page(i), page, PROT_NONE);
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    { static char outbuf[1 << 16]; setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf); }
    {
        char k[8] = {0}; int kfd = open("/sys/kernel/debug/failslab/ignore-gfp-wait", O_RDONLY | O_CLOEXEC);
        if (kfd >= 0 && read(kfd, k, sizeof k - 1) > 0 && k[0] == 'Y')
            printf("note: /sys/kernel/debug/failslab/ignore-gfp-wait is Y, so fail-nth skips sleeping allocations; bpfstress sets it to N in its guests\n");
        if (kfd >= 0) close(kfd);
    }

    /* call 1: fail_nth n=4 */
    {
        long r = fail_nth_arm(4);
        report(1, "fail_nth", r);
    }

    /* call 2: create map=0 type=lru_percpu_hash key=3 value=28 max=1 btf=timer */
    {
        if (fds[0] >= 0 && fds[0] != CLOSED_FD) close(fds[0]);
        while (maps_n[0] > 0) { maps_n[0]--; munmap(maps_p[0][maps_n[0]], maps_len[0][maps_n[0]]); }
        fds[0] = -1; last_len[0] = 0; ids[0] = 0;
        union bpf_attr a; memset(&a, 0, SZ(map_extra));
        a.map_type = 10; a.key_size = 3; a.value_size = 28;
        a.max_entries = 1; a.map_flags = 0x0;
        
        strcpy(a.map_name, "bpfs_fuzz");
                static const unsigned char btf_blob[] = {0x9f,0xeb,0x01,0x00,0x18,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0xf0,0x00,0x00,0x00,0xf0,0x00,0x00,0x00,0x7a,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x00,0x00,0x00,0x01,0x04,0x00,0x00,0x00,0x20,0x00,0x00,0x01,0x05,0x00,0x00,0x00,0x00,0x00,0x00,0x01,0x01,0x00,0x00,0x00,0x08,0x00,0x00,0x00,0x13,0x00,0x00,0x00,0x00,0x00,0x00,0x01,0x08,0x00,0x00,0x00,0x40,0x00,0x00,0x00,0x2a,0x00,0x00,0x00,0x01,0x00,0x00,0x04,0x04,0x00,0x00,0x00,0x38,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x02,0x00,0x00,0x00,0x3c,0x00,0x00,0x00,0x01,0x00,0x00,0x04,0x10,0x00,0x00,0x00,0x46,0x00,0x00,0x00,0x05,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x4f,0x00,0x00,0x00,0x00,0x00,0x00,0x04,0x00,0x00,0x00,0x00,0x5b,0x00,0x00,0x00,0x00,0x00,0x00,0x12,0x07,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x02,0x08,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x00,0x02,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x00,0x02,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x0c,0x00,0x00,0x00,0x6a,0x00,0x00,0x00,0x02,0x00,0x00,0x04,0x1c,0x00,0x00,0x00,0x73,0x00,0x00,0x00,0x06,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x75,0x00,0x00,0x00,0x0b,0x00,0x00,0x00,0x80,0x00,0x00,0x00,0x00,0x69,0x6e,0x74,0x00,0x75,0x6e,0x73,0x69,0x67,0x6e,0x65,0x64,0x20,0x63,0x68,0x61,0x72,0x00,0x6c,0x6f,0x6e,0x67,0x20,0x6c,0x6f,0x6e,0x67,0x20,0x75,0x6e,0x73,0x69,0x67,0x6e,0x65,0x64,0x20,0x69,0x6e,0x74,0x00,0x62,0x70,0x66,0x5f,0x73,0x70,0x69,0x6e,0x5f,0x6c,0x6f,0x63,0x6b,0x00,0x76,0x61,0x6c,0x00,0x62,0x70,0x66,0x5f,0x74,0x69,0x6d,0x65,0x72,0x00,0x5f,0x5f,0x6f,0x70,0x61,0x71,0x75,0x65,0x00,0x74,0x61,0x73,0x6b,0x5f,0x73,0x74,0x72,0x75,0x63,0x74,0x00,0x6b,0x70,0x74,0x72,0x5f,0x75,0x6e,0x74,0x72,0x75,0x73,0x74,0x65,0x64,0x00,0x62,0x70,0x66,0x73,0x5f,0x76,0x61,0x6c,0x00,0x74,0x00,0x64,0x61,0x74,0x61,0x00};
        union bpf_attr ba; memset(&ba, 0, SZ(btf_log_level)); ba.btf = PTR(btf_blob); ba.btf_size = sizeof btf_blob;
        long btf = sys(BPF_BTF_LOAD, &ba, SZ(btf_log_level));
        printf("      btf_load %s\n", errname(btf));
        if (btf >= 0) { a.btf_fd = (__u32)btf; a.btf_key_type_id = 10; a.btf_value_type_id = 12; }
long r = btf < 0 ? btf : sys(BPF_MAP_CREATE, &a, SZ(map_extra));
        if (a.btf_fd) close((int)a.btf_fd);
        ids[0] = 0; if (r >= 0) { fds[0] = (int)r; ids[0] = map_info(fds[0]); if (n_ids < 256) all_ids[n_ids++] = ids[0]; }
        fail_nth_done();
        report(2, "create", r);
        /* the finding's call: the kernel answered EEXIST here when the model disagreed */
        if (r == -17) reproduced = 1;
    }

    /* call 3: create map=1 type=stack_trace key=4 value=64 max=16 flags=STACK_BUILD_ID */
    {
        if (fds[1] >= 0 && fds[1] != CLOSED_FD) close(fds[1]);
        while (maps_n[1] > 0) { maps_n[1]--; munmap(maps_p[1][maps_n[1]], maps_len[1][maps_n[1]]); }
        fds[1] = -1; last_len[1] = 0; ids[1] = 0;
        union bpf_attr a; memset(&a, 0, SZ(map_name));
        a.map_type = 7; a.key_size = 4; a.value_size = 64;
        a.max_entries = 16; a.map_flags = 0x20;
        
        strcpy(a.map_name, "bpfs_fuzz");
        long r = sys(BPF_MAP_CREATE, &a, SZ(map_name));
        /* no BTF: btf_fd lies past the attr set */
        ids[1] = 0; if (r >= 0) { fds[1] = (int)r; ids[1] = map_info(fds[1]); if (n_ids < 256) all_ids[n_ids++] = ids[1]; }
        report(3, "create", r);
    }

    /* call 4: update map=0 key=#3 value=@v3 */
    {
        static const unsigned char k_in[] = {0x03,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0x38,0x40,0xc1,0xd7,0x14,0xbf,0xe7,0xe9};
        void *v = place_in(1, v_in, 8);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[0], k, v, 0ULL);
        report(4, "update", r);
    }

    /* call 5: lookup_and_delete map=1 key=#0 */
    {
        static const unsigned char k_in[] = {0x00,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        void *o = place_out(2, 64);
        long r = elem_call(BPF_MAP_LOOKUP_AND_DELETE_ELEM, fds[1], k, o, 0ULL);
        report(5, "lookup_and_delete", r);
    }

    /* call 6: lookup_batch map=1 count=16 */
    {
        void *in_b = NULL;
        void *out_b = place_out(4, 4);
        void *ks = place_out(5, 64);
        void *vs = place_out(6, 1024);
        union bpf_attr a; memset(&a, 0, SZ(batch));
        a.batch.map_fd = fds[1]; a.batch.in_batch = PTR(in_b); a.batch.out_batch = PTR(out_b);
        a.batch.keys = PTR(ks); a.batch.values = PTR(vs); a.batch.count = 16;
        a.batch.elem_flags = 0ULL; a.batch.flags = 0ULL;
        long r = sys(BPF_MAP_LOOKUP_BATCH, &a, SZ(batch));
        unsigned int count = a.batch.count; (void)count;
        printf("      count %u\n", count);
        if (1 && (r == 0 || r == -ENOENT || r == -ENOSPC)) { last_len[1] = 4; memcpy(last_tok[1], out_b, last_len[1]); }
        report(6, "lookup_batch", r);
    }

    /* call 7: lookup_and_delete map=0 key=#6 */
    {
        static const unsigned char k_in[] = {0x06,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        void *o = place_out(2, 8);
        long r = elem_call(BPF_MAP_LOOKUP_AND_DELETE_ELEM, fds[0], k, o, 0ULL);
        report(7, "lookup_and_delete", r);
    }

    /* call 8: walk map=0 */
    {
        void *cur = place_out(0, 4);
        void *nxt = place_out(2, 4);
        void *v = place_out(1, 8);
        long r = 0; int steps = 0;
        while (steps < 18) {
            r = next_key(fds[0], steps ? cur : NULL, nxt);
            if (r < 0) break;
            long l = elem_call(BPF_MAP_LOOKUP_ELEM, fds[0], nxt, v, 0);
            printf("      key "); hex(nxt, 4); printf(" lookup %s\n", errname(l));
            memcpy(cur, nxt, 4); steps++;
        }
        printf("      walk: %d key(s)\n", steps);
        report(8, "walk", r);
    }

    /* call 9: lookup map=0 key=#4 */
    {
        static const unsigned char k_in[] = {0x04,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        void *o = place_out(2, 8);
        long r = elem_call(BPF_MAP_LOOKUP_ELEM, fds[0], k, o, 0ULL);
        report(9, "lookup", r);
    }

    /* call 10: freeze map=0 */
    {
        union bpf_attr a; memset(&a, 0, SZ(map_fd)); a.map_fd = fds[0];
        long r = sys(BPF_MAP_FREEZE, &a, SZ(map_fd));
        report(10, "freeze", r);
    }

    /* call 11: fd_by_id map=1 from=0 flags=0x1 */
    {
        union bpf_attr a; memset(&a, 0, SZ(open_flags)); a.map_id = ids[0]; a.open_flags = 0x1;
        long r = adopt(1, sys(BPF_MAP_GET_FD_BY_ID, &a, SZ(open_flags)));
        report(11, "fd_by_id", r);
    }

    /* call 12: lookup map=1 key=#17 */
    {
        static const unsigned char k_in[] = {0x11,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        void *o = place_out(2, 64);
        long r = elem_call(BPF_MAP_LOOKUP_ELEM, fds[1], k, o, 0ULL);
        report(12, "lookup", r);
    }

    /* call 13: update map=1 key=#12 value=@v13 */
    {
        static const unsigned char k_in[] = {0x0c,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0x7c,0x0b,0x5f,0xa4,0x7c,0x82,0xf6,0x57,0x6c,0x73,0x6e,0x26,0x66,0xce,0x81,0x8f,0x4e,0x39,0x84,0x27,0x38,0x0a,0xfd,0x3a,0x8c,0x0f,0x13,0xf8,0x3f,0xb0,0x82,0x3c,0x58,0x94,0x58,0x5b,0x48,0x5c,0xbf,0x49,0xc2,0xea,0xe5,0x26,0x93,0xc1,0x1b,0xeb,0x55,0x2c,0x57,0xe1,0xf1,0x42,0x34,0xec,0x1f,0x13,0xd9,0x74,0x04,0xaa,0x28,0xd4};
        void *v = place_in(1, v_in, 64);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[1], k, v, 0ULL);
        report(13, "update", r);
    }

    /* call 14: next_key map=1 key=#4 */
    {
        static const unsigned char k_in[] = {0x04,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        void *o = place_out(2, 4);
        long r = next_key(fds[1], k, o);
        report(14, "next_key", r);
    }

    /* call 15: lookup map=0 key=len:0 */
    {
        static const unsigned char k_in[] = {0};
        void *k = place_in(0, k_in, 0);
        void *o = place_out(2, 8);
        long r = elem_call(BPF_MAP_LOOKUP_ELEM, fds[0], k, o, 0ULL);
        report(15, "lookup", r);
    }

    /* call 16: next_key map=0 */
    {
        void *k = NULL;
        void *o = place_out(2, 4);
        long r = next_key(fds[0], k, o);
        report(16, "next_key", r);
    }

    /* call 17: update map=1 key=#4 value=@v2 flags=EXIST */
    {
        static const unsigned char k_in[] = {0x04,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0x92,0xcd,0x80,0xed,0x77,0x83,0x3a,0x94,0x33,0xb8,0xca,0x47,0x11,0xcc,0xe6,0xb5,0x24,0xb8,0x8c,0xb9,0xa1,0xdc,0x10,0xf6,0x1b,0x3c,0x84,0xda,0xf2,0x74,0x4c,0xfe,0xda,0x03,0x8c,0xef,0xa3,0x93,0xbc,0x78,0xe3,0x7c,0xdc,0x6a,0xbf,0x51,0xd7,0xf3,0x4c,0x15,0x7d,0xc5,0xbf,0xea,0x67,0x6d,0x70,0xbb,0x74,0xe3,0x42,0xc6,0x9c,0xa1};
        void *v = place_in(1, v_in, 64);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[1], k, v, 2ULL);
        report(17, "update", r);
    }

    /* call 18: delete map=0 key=#6 */
    {
        static const unsigned char k_in[] = {0x06,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        union bpf_attr a; memset(&a, 0, SZ(key)); a.map_fd = fds[0]; a.key = PTR(k);
        long r = sys(BPF_MAP_DELETE_ELEM, &a, SZ(key));
        report(18, "delete", r);
    }

    /* call 19: next_key map=1 */
    {
        void *k = NULL;
        void *o = place_out(2, 4);
        long r = next_key(fds[1], k, o);
        report(19, "next_key", r);
    }

    /* call 20: update map=1 key=#13 value=@v3 flags=EXIST */
    {
        static const unsigned char k_in[] = {0x0d,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0x38,0x40,0xc1,0xd7,0x14,0xbf,0xe7,0xe9,0xdb,0x37,0x12,0xfb,0xfd,0x91,0x2a,0x44,0x8c,0x22,0xfa,0xd9,0x2d,0x8a,0xf5,0xe2,0x76,0xd8,0xb3,0x1d,0x11,0xbf,0x20,0x92,0x72,0x80,0x1c,0x1d,0x9d,0x03,0x60,0x21,0xa6,0xc5,0xa7,0x5d,0xd2,0xbe,0xf6,0x2c,0xb2,0x07,0xb1,0xcb,0x19,0x58,0x27,0x35,0x7e,0xa1,0xc1,0xb5,0xa6,0x1d,0x34,0x82};
        void *v = place_in(1, v_in, 64);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[1], k, v, 2ULL);
        report(20, "update", r);
    }

    /* call 21: update map=1 key=#11 value=@v1 flags=0x8 */
    {
        static const unsigned char k_in[] = {0x0b,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0xb5,0x1f,0xe5,0x78,0x28,0x9f,0xa5,0x1e,0xf5,0x64,0xa1,0x1f,0xd1,0x83,0xf6,0xb2,0x7d,0x6e,0x3f,0x6b,0xc7,0x71,0x5a,0x78,0x53,0xf3,0xc7,0x5f,0x88,0x5f,0xb0,0xed,0x30,0x0b,0x0e,0x14,0x7f,0xb9,0x74,0x23,0x3b,0x2a,0x55,0xca,0x8a,0x84,0x04,0xc1,0xe3,0xd7,0x7a,0x86,0x33,0x2a,0x23,0x0d,0x9f,0x6e,0xad,0x67,0xa3,0xfa,0xf9,0x6e};
        void *v = place_in(1, v_in, 64);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[1], k, v, 8ULL);
        report(21, "update", r);
    }

    /* call 22: update map=0 key=#2 value=@v1 flags=EXIST */
    {
        static const unsigned char k_in[] = {0x02,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0xb5,0x1f,0xe5,0x78,0x28,0x9f,0xa5,0x1e};
        void *v = place_in(1, v_in, 8);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[0], k, v, 2ULL);
        report(22, "update", r);
    }

    /* call 23: lookup map=0 key=#1 */
    {
        static const unsigned char k_in[] = {0x01,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        void *o = place_out(2, 8);
        long r = elem_call(BPF_MAP_LOOKUP_ELEM, fds[0], k, o, 0ULL);
        report(23, "lookup", r);
    }

    /* call 24: race map=0 with=batch rounds=64 keys=0,0,0 vals=@v44 */
    {
        static const unsigned char del[] = {0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00,0x00,0x01,0x00}, keys[] = {0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00}, vals[] = {0x27,0x95,0x7f,0x48,0x3c,0xc6,0xbd,0x86,0xfc,0xeb,0x45,0x6f,0xaa,0xf4,0x74,0xda,0x62,0x72,0xfe,0x1c,0x9e,0x98,0x07,0xca,0xed,0x1a,0xe5,0xcb,0x83,0x6d,0x3d,0xaf,0x56,0xad,0xe1,0x4e,0x52,0xa3,0xfd,0x70,0x60,0xae,0x61,0x69,0xa7,0x54,0xa0,0xd6,0x7b,0x8b,0xb5,0x74,0xe8,0x98,0xf3,0xb9,0xf6,0xfb,0xd4,0x81,0x7f,0x60,0x5e,0xb6,0x17,0x87,0xa3,0x2e,0xc8,0xb5,0xa8,0xc8,0x67,0xf6,0x02,0x4d,0xb6,0x23,0xe1,0x0f,0x2d,0x23,0xc5,0x39,0xc3,0x03,0x22,0xe3,0xd5,0x79,0x3b,0x58,0x5a,0xda,0xd4,0xa5,0x28,0x33,0x84,0x4b,0xa8,0x78,0x79,0x58,0xa0,0x3f,0x7a,0x76,0x77,0xe3,0x9e,0x97,0x17,0xbf,0xb3,0x15,0x7a,0xaa,0xe3,0xa0,0x2b,0xd8,0x68,0x55,0x37,0x48,0x57,0xa3,0x88,0xfc,0xe9,0xa8,0xb0,0x18,0x4b,0x93,0x03,0x49,0xaf,0x8c,0x0c,0x76,0xab,0x88,0x11,0x5d,0xe3,0x7e,0x7c,0x06,0x38,0xe2,0xd2,0xa4,0x45,0x30,0x75,0x68,0xa1,0xf1,0x9f,0x3c,0xe6,0x30,0x6f,0xd2,0xb5,0x1d,0xe8,0xe8,0xce,0xaa,0xcf,0xcd,0x9d,0x4a,0xb9,0x7f,0x75,0x27,0xff,0xd4,0xbf,0x18,0xc9,0x7b,0x60,0x9b,0x3e,0xb6,0xd8,0x52,0x9d,0x40,0xae,0x34,0xea,0x43,0x2b,0x96,0xeb,0xf6,0x37,0xe6,0xe7,0x9e,0xc1,0x13,0xe8,0x5b,0xc2,0x15,0x88,0x7e,0x4e,0x80,0x47,0x97,0x21,0x7f,0xd7,0xc9,0xc6,0x5c,0x8c,0x16,0x49,0x2e,0xdd,0x1b,0x24,0x8b,0x30,0x0e,0x83,0x82,0x4f,0x56,0xa9,0xa2,0x5f,0x61,0xd8,0x52,0x2a,0x3b,0xbd,0xa2,0xdb,0x87,0x06,0x73,0x88,0x0c,0x59,0x9e,0xee,0x97,0x08,0x1e,0xd7,0x02,0x8a,0xa0,0xf8,0xeb,0xa4,0x90,0x82,0x1c,0x08,0xb5,0x80,0xf8,0x49,0x19,0xdf,0x9a,0xd6,0x1c,0x38,0x31,0xa4,0x1e,0x5d,0x37,0x05,0xf1,0x9b,0x5f,0x84,0x0c,0x6b,0x1c,0x72,0xe7,0xca,0x86,0x24,0x9a,0x6d,0x27,0xcf,0xd3,0x32,0x0a,0xed,0xae,0xcf,0x9e,0x33,0x21,0x65,0x34,0xaa,0xdf,0x05,0x92,0x4f,0xe8,0x79,0x58,0x1a,0x0f,0x34,0xcf,0x52,0x1b,0xdf,0xdf,0x11,0x63,0x30,0x19,0xcb,0x60,0xfc,0x3b,0x39,0xde,0x39,0xfc,0x61,0xa8,0x51,0xbd,0xf4,0x1e,0xd0,0x89,0xd7,0x97,0x41,0xc0,0x88,0xe9,0x4c,0x29,0xe7,0x57,0xda,0x98,0x9d,0x64,0xf4,0x69,0xcd,0xf2,0xc9,0x1b,0xe4,0xd2,0x86,0xcc,0x49,0xcc,0xa7,0x2e,0x61,0xc8,0x65,0x10,0xb0,0xe2,0x92,0x80,0xcb,0x7e,0xeb,0x67,0x2c,0x4d,0xaa,0x8d,0x11,0xe2,0xab,0x13,0x19,0xdc,0x9e,0x37,0x16,0xb9,0xf4,0x9b,0x6a,0x08,0x02,0x34,0x9f,0x8c,0x7d,0xfe,0x5a,0xb2,0x06,0xe3,0xfc,0xe8,0x5a,0x4d,0x7d,0x19,0xef,0x5b,0x27,0x0f,0xd2,0x9c,0xf3,0x87,0xc7,0x0c,0xc0,0xbb,0x11,0xdf,0x8c,0x23,0x70,0x50,0x35,0x55,0x3e,0x4b,0x88,0xd1,0xee,0x06,0xfc,0xc0,0x54,0x14,0xa8,0xde,0x5a,0xbe,0x3a,0xe5,0x74,0xd4,0x5a,0xe5,0xc6,0xd5,0xc3,0xa9,0x71,0x0a,0x06,0x9b,0x22,0x99,0x9a,0x5d,0x68,0x99,0x26,0x5f,0x14,0x8e,0x54,0x0b,0x2f,0x95,0x26,0x27,0x44,0xcc,0x2f,0x73,0xd4,0x24,0xb5,0xba,0xdb,0x67,0x1f,0xca,0xf8,0xe8,0x7d,0xef,0x5b,0x10,0xdc,0x74,0x89,0x78,0x1d,0x00};
        static struct race rc; memset(&rc, 0, sizeof rc);
        rc.fd = fds[0]; rc.kind = 1; rc.ks = 4; rc.vl = 8; rc.vs = 8; rc.max = 16;
        rc.rounds = 64; rc.del = del; rc.keys = keys; rc.vals = vals; rc.mlen = 4096;
        long r = fds[0] < 0 || fds[0] == CLOSED_FD ? -EBADF : race_run(&rc, (sched_getcpu() + 1) % 2);
        if (0) close(rc.fd);
        printf("      interleavings are not deterministic: run it again to see others\n");
        if (!r) { /* the census walk */
            static unsigned char ck[64], cn[64], cv[4096 * 16]; int st = 0; long w;
            while (st < 18 && !(w = next_key(fds[0], st ? ck : NULL, cn))) {
                long l = elem_call(BPF_MAP_LOOKUP_ELEM, fds[0], cn, cv, 0);
                printf("      census key "); hex(cn, 4); printf(" %s", errname(l)); if (!l) { printf(" value "); hex(cv, 8); } printf("\n");
                memcpy(ck, cn, 4); st++;
            }
        }
        report(24, "race", r);
    }

    /* call 25: update map=1 key=#7 value=@v0 */
    {
        static const unsigned char k_in[] = {0x07,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0xb2,0x86,0xe7,0xe7,0xc7,0x28,0x0f,0x2d,0x52,0xf2,0x65,0x51,0x74,0x6f,0x85,0x75,0xaf,0x55,0x59,0x73,0xc2,0xbb,0x74,0x86,0x9a,0x94,0x26,0x0d,0xa7,0x49,0x1d,0x5c,0xd6,0xef,0x53,0xf4,0x2e,0x15,0xed,0x8c,0x9b,0x32,0x61,0x64,0x19,0x24,0x3b,0xc3,0x7b,0x34,0x76,0x70,0xa1,0x14,0xeb,0x7a,0x44,0x5f,0xfb,0x13,0x20,0xd0,0xef,0xde};
        void *v = place_in(1, v_in, 64);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[1], k, v, 0ULL);
        report(25, "update", r);
    }

    /* call 26: update map=0 key=#6 value=@v3 flags=NOEXIST */
    {
        static const unsigned char k_in[] = {0x06,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0x38,0x40,0xc1,0xd7,0x14,0xbf,0xe7,0xe9};
        void *v = place_in(1, v_in, 8);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[0], k, v, 1ULL);
        report(26, "update", r);
    }

    /* call 27: lookup map=1 key=#7 */
    {
        static const unsigned char k_in[] = {0x07,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        void *o = place_out(2, 64);
        long r = elem_call(BPF_MAP_LOOKUP_ELEM, fds[1], k, o, 0ULL);
        report(27, "lookup", r);
    }

    /* call 28: lookup_batch map=1 count=16 */
    {
        void *in_b = NULL;
        void *out_b = place_out(4, 4);
        void *ks = place_out(5, 64);
        void *vs = place_out(6, 1024);
        union bpf_attr a; memset(&a, 0, SZ(batch));
        a.batch.map_fd = fds[1]; a.batch.in_batch = PTR(in_b); a.batch.out_batch = PTR(out_b);
        a.batch.keys = PTR(ks); a.batch.values = PTR(vs); a.batch.count = 16;
        a.batch.elem_flags = 0ULL; a.batch.flags = 0ULL;
        long r = sys(BPF_MAP_LOOKUP_BATCH, &a, SZ(batch));
        unsigned int count = a.batch.count; (void)count;
        printf("      count %u\n", count);
        if (1 && (r == 0 || r == -ENOENT || r == -ENOSPC)) { last_len[1] = 4; memcpy(last_tok[1], out_b, last_len[1]); }
        report(28, "lookup_batch", r);
    }

    /* call 29: update map=1 key=#3 value=@v11 */
    {
        static const unsigned char k_in[] = {0x03,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0x88,0xe4,0x7e,0x55,0xb8,0x70,0x68,0x95,0x76,0xed,0x1f,0x44,0x03,0x89,0x74,0xe5,0x59,0x0d,0xd2,0xfc,0x1a,0xc9,0x3d,0xea,0xbf,0xf4,0xfc,0x7c,0xc8,0x3c,0xd2,0xb7,0xec,0x1e,0xc6,0x25,0xb5,0x51,0xd4,0x33,0xdb,0xae,0x4b,0x21,0x71,0x41,0x56,0x16,0xff,0x1b,0x45,0xd7,0x25,0xd2,0xab,0xe8,0x23,0x3c,0x23,0x39,0x2d,0x10,0xd3,0x45};
        void *v = place_in(1, v_in, 64);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[1], k, v, 0ULL);
        report(29, "update", r);
    }

    /* call 30: update map=0 key=#2 value=@v7 flags=EXIST */
    {
        static const unsigned char k_in[] = {0x02,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0x77,0xf2,0x10,0x02,0x6c,0xf9,0x21,0xfc};
        void *v = place_in(1, v_in, 8);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[0], k, v, 2ULL);
        report(30, "update", r);
    }

    /* call 31: walk map=0 */
    {
        void *cur = place_out(0, 4);
        void *nxt = place_out(2, 4);
        void *v = place_out(1, 8);
        long r = 0; int steps = 0;
        while (steps < 18) {
            r = next_key(fds[0], steps ? cur : NULL, nxt);
            if (r < 0) break;
            long l = elem_call(BPF_MAP_LOOKUP_ELEM, fds[0], nxt, v, 0);
            printf("      key "); hex(nxt, 4); printf(" lookup %s\n", errname(l));
            memcpy(cur, nxt, 4); steps++;
        }
        printf("      walk: %d key(s)\n", steps);
        report(31, "walk", r);
    }

    printf("%s\n", reproduced ? "REPRODUCED: the finding's call gave the answer the model disagrees with" : "not reproduced");
    pool_reset();
    return reproduced ? 1 : 0;
}
