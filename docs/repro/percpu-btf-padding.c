/* bpfstress fuzz C reproducer: docs/repro/percpu-btf-padding.prog
 * finding: call 5 (lookup): [value] key 01000000 returned 0000000000000000f564a11f7cd2f0b10000000000000000…(32 bytes), model has ["0000000000000000f564a11fd183f6b20000000000000000…(32 bytes)"]
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
    case EACCES: return "EACCES"; case ENODEV: return "ENODEV"; case EAGAIN: return "EAGAIN";
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
int main(void) {
    page = sysconf(_SC_PAGESIZE);
    slot_bytes = ((CAP + 16 + page - 1) / page + 1) * page;
    arena = mmap(NULL, slot_bytes * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (arena == MAP_FAILED) { perror("mmap"); return 2; }
    for (int i = 0; i < 8; i++) mprotect(guard_page(i), page, PROT_NONE);
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

    /* call 1: create map=0 type=percpu_hash key=4 value=12 max=4 btf=kptr */
    {
        if (fds[0] >= 0 && fds[0] != CLOSED_FD) close(fds[0]);
        while (maps_n[0] > 0) { maps_n[0]--; munmap(maps_p[0][maps_n[0]], maps_len[0][maps_n[0]]); }
        fds[0] = -1; last_len[0] = 0; ids[0] = 0;
        union bpf_attr a; memset(&a, 0, SZ(map_extra));
        a.map_type = 5; a.key_size = 4; a.value_size = 12;
        a.max_entries = 4; a.map_flags = 0x0;
        
        strcpy(a.map_name, "bpfs_fuzz");
                static const unsigned char btf_blob[] = {0x9f,0xeb,0x01,0x00,0x18,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0xf0,0x00,0x00,0x00,0xf0,0x00,0x00,0x00,0x7a,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x00,0x00,0x00,0x01,0x04,0x00,0x00,0x00,0x20,0x00,0x00,0x01,0x05,0x00,0x00,0x00,0x00,0x00,0x00,0x01,0x01,0x00,0x00,0x00,0x08,0x00,0x00,0x00,0x13,0x00,0x00,0x00,0x00,0x00,0x00,0x01,0x08,0x00,0x00,0x00,0x40,0x00,0x00,0x00,0x2a,0x00,0x00,0x00,0x01,0x00,0x00,0x04,0x04,0x00,0x00,0x00,0x38,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x02,0x00,0x00,0x00,0x3c,0x00,0x00,0x00,0x01,0x00,0x00,0x04,0x10,0x00,0x00,0x00,0x46,0x00,0x00,0x00,0x05,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x4f,0x00,0x00,0x00,0x00,0x00,0x00,0x04,0x00,0x00,0x00,0x00,0x5b,0x00,0x00,0x00,0x00,0x00,0x00,0x12,0x07,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x02,0x08,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x00,0x02,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x04,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x00,0x02,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x04,0x00,0x00,0x00,0x6a,0x00,0x00,0x00,0x02,0x00,0x00,0x04,0x0c,0x00,0x00,0x00,0x73,0x00,0x00,0x00,0x09,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x75,0x00,0x00,0x00,0x0b,0x00,0x00,0x00,0x40,0x00,0x00,0x00,0x00,0x69,0x6e,0x74,0x00,0x75,0x6e,0x73,0x69,0x67,0x6e,0x65,0x64,0x20,0x63,0x68,0x61,0x72,0x00,0x6c,0x6f,0x6e,0x67,0x20,0x6c,0x6f,0x6e,0x67,0x20,0x75,0x6e,0x73,0x69,0x67,0x6e,0x65,0x64,0x20,0x69,0x6e,0x74,0x00,0x62,0x70,0x66,0x5f,0x73,0x70,0x69,0x6e,0x5f,0x6c,0x6f,0x63,0x6b,0x00,0x76,0x61,0x6c,0x00,0x62,0x70,0x66,0x5f,0x74,0x69,0x6d,0x65,0x72,0x00,0x5f,0x5f,0x6f,0x70,0x61,0x71,0x75,0x65,0x00,0x74,0x61,0x73,0x6b,0x5f,0x73,0x74,0x72,0x75,0x63,0x74,0x00,0x6b,0x70,0x74,0x72,0x5f,0x75,0x6e,0x74,0x72,0x75,0x73,0x74,0x65,0x64,0x00,0x62,0x70,0x66,0x73,0x5f,0x76,0x61,0x6c,0x00,0x70,0x00,0x64,0x61,0x74,0x61,0x00};
        union bpf_attr ba; memset(&ba, 0, SZ(btf_log_level)); ba.btf = PTR(btf_blob); ba.btf_size = sizeof btf_blob;
        long btf = sys(BPF_BTF_LOAD, &ba, SZ(btf_log_level));
        printf("      btf_load %s\n", errname(btf));
        if (btf >= 0) { a.btf_fd = (__u32)btf; a.btf_key_type_id = 10; a.btf_value_type_id = 12; }
long r = sys(BPF_MAP_CREATE, &a, SZ(map_extra));
        if (a.btf_fd) close((int)a.btf_fd);
        ids[0] = 0; if (r >= 0) { fds[0] = (int)r; ids[0] = map_info(fds[0]); if (n_ids < 256) all_ids[n_ids++] = ids[0]; }
        report(1, "create", r);
    }

    /* call 2: create map=1 type=hash key=4 value=32 max=4 */
    {
        if (fds[1] >= 0 && fds[1] != CLOSED_FD) close(fds[1]);
        while (maps_n[1] > 0) { maps_n[1]--; munmap(maps_p[1][maps_n[1]], maps_len[1][maps_n[1]]); }
        fds[1] = -1; last_len[1] = 0; ids[1] = 0;
        union bpf_attr a; memset(&a, 0, SZ(map_name));
        a.map_type = 1; a.key_size = 4; a.value_size = 32;
        a.max_entries = 4; a.map_flags = 0x0;
        
        strcpy(a.map_name, "bpfs_fuzz");
        long r = sys(BPF_MAP_CREATE, &a, SZ(map_name));
        if (a.btf_fd) close((int)a.btf_fd);
        ids[1] = 0; if (r >= 0) { fds[1] = (int)r; ids[1] = map_info(fds[1]); if (n_ids < 256) all_ids[n_ids++] = ids[1]; }
        report(2, "create", r);
    }

    /* call 3: update map=0 key=#1 value=@v1 */
    {
        static const unsigned char k_in[] = {0x01,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0xb5,0x1f,0xe5,0x78,0x28,0x9f,0xa5,0x1e,0xf5,0x64,0xa1,0x1f,0xd1,0x83,0xf6,0xb2,0x7d,0x6e,0x3f,0x6b,0xc7,0x71,0x5a,0x78,0x53,0xf3,0xc7,0x5f,0x88,0x5f,0xb0,0xed};
        void *v = place_in(1, v_in, 32);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[0], k, v, 0ULL);
        report(3, "update", r);
    }

    /* call 4: update map=1 key=#1 value=@v9 */
    {
        static const unsigned char k_in[] = {0x01,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0x63,0x69,0x20,0x40,0xac,0x10,0xf8,0x8d,0xda,0x62,0xe9,0xd0,0x7c,0xd2,0xf0,0xb1,0x98,0xf9,0xeb,0x14,0x1b,0xb5,0x65,0xb6,0x05,0x70,0xd0,0x7f,0x4f,0xc3,0xb6,0xe5};
        void *v = place_in(1, v_in, 32);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[1], k, v, 0ULL);
        report(4, "update", r);
    }

    /* call 5: lookup map=0 key=#1 */
    {
        static const unsigned char k_in[] = {0x01,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        void *o = place_out(2, 32);
        long r = elem_call(BPF_MAP_LOOKUP_ELEM, fds[0], k, o, 0ULL);
        report(5, "lookup", r);
        /* the finding's call: the kernel answered errno 0 here when the model disagreed */
        if (r == 0 && memcmp(o, (const unsigned char[]){0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0xf5,0x64,0xa1,0x1f,0x7c,0xd2,0xf0,0xb1,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x53,0xf3,0xc7,0x5f,0x4f,0xc3,0xb6,0xe5}, 32) == 0) reproduced = 1;
    }

    /* call 6: update map=1 key=#1 value=@v9 */
    {
        static const unsigned char k_in[] = {0x01,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        static const unsigned char v_in[] = {0x63,0x69,0x20,0x40,0xac,0x10,0xf8,0x8d,0xda,0x62,0xe9,0xd0,0x7c,0xd2,0xf0,0xb1,0x98,0xf9,0xeb,0x14,0x1b,0xb5,0x65,0xb6,0x05,0x70,0xd0,0x7f,0x4f,0xc3,0xb6,0xe5};
        void *v = place_in(1, v_in, 32);
        long r = elem_call(BPF_MAP_UPDATE_ELEM, fds[1], k, v, 0ULL);
        report(6, "update", r);
    }

    /* call 7: lookup map=0 key=#1 */
    {
        static const unsigned char k_in[] = {0x01,0x00,0x00,0x00};
        void *k = place_in(0, k_in, 4);
        void *o = place_out(2, 32);
        long r = elem_call(BPF_MAP_LOOKUP_ELEM, fds[0], k, o, 0ULL);
        report(7, "lookup", r);
    }

    printf("%s\n", reproduced ? "REPRODUCED: the finding's call gave the answer the model disagrees with" : "not reproduced");
    return reproduced ? 1 : 0;
}
