/* BPF_BTF_LOAD swallows a failed allocation of the btf->types array: standalone reproducer.
 *
 * kernel/bpf/btf.c, btf_check_all_metas() calls btf_add_type(env, t) and drops its return
 * value. When the kvcalloc() of the 'types' array fails (-ENOMEM), the type is not added and
 * the loop goes on: the next btf_add_type() allocates the array, puts the void type at id 0
 * and the *second* type of the blob at id 1. Every later type id is off by one. The load then
 * either fails with a wrong errno (EEXIST "Loop detected", EINVAL) or, worse, succeeds with a
 * BTF object whose ids do not match the blob user space sent.
 *
 * Needs: root, CONFIG_FAULT_INJECTION (/proc/thread-self/fail-nth), CONFIG_FAILSLAB with
 * failslab/ignore-gfp-wait = N (this program mounts debugfs if needed and sets it; nothing
 * else), a kernel with bpf(2) and BTF_LOAD.
 * build: gcc -O1 -o btf-add-type-enomem btf-add-type-enomem.c
 * run:   ./btf-add-type-enomem
 * exit:  1 when the bug shows (an allocation failure of BTF_LOAD came back as something other
 *        than ENOMEM, or was swallowed), 0 when every injected failure gave ENOMEM,
 *        2 when fault injection is not usable here.
 * With -DBPFS_PLUGIN -shared -fPIC it is built as a shared object that runs once when loaded
 * and writes its output to $BPFS_PROBE_OUT (used to run it in a bpfstress guest, whose agent
 * runs only bpfstress commands: `bpfstress run --runtime plugin:THIS.so` loads it). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SZ(f) (offsetof(union bpf_attr, f) + sizeof(((union bpf_attr *)0)->f))
#define PTR(p) ((__u64)(unsigned long)(p))

static long sys(int cmd, union bpf_attr *a, unsigned int size) {
    long r = syscall(__NR_bpf, cmd, a, size);
    return r < 0 ? -errno : r;
}
static const char *en(long r) {
    static char b[4][32]; static int i; i = (i + 1) % 4;
    if (r >= 0) return "ok";
    switch (-r) {
    case ENOMEM: return "ENOMEM"; case EEXIST: return "EEXIST"; case EINVAL: return "EINVAL";
    case EOPNOTSUPP: return "EOPNOTSUPP"; case E2BIG: return "E2BIG"; case EFAULT: return "EFAULT";
    }
    snprintf(b[i], sizeof b[i], "errno %ld", -r); return b[i];
}

/* Blob A (what bpfstress's map fuzzer loads): [1] int, [2] unsigned char, [3] u64,
 * [4] struct bpf_spin_lock, [5] u64[2], [6] struct bpf_timer { [5] __opaque },
 * [7] struct task_struct (fwd-like), [8] type_tag kptr_untrusted, [9] ptr, [10] u8[3] (key),
 * [11] u8[12], [12] struct bpfs_val { [6] t; [11] data } (value, 28 bytes). Dropping [1]
 * makes bpf_timer's member refer to bpf_timer itself: "Loop detected", -EEXIST. */
static const unsigned char blob_a[] = {0x9f,0xeb,0x01,0x00,0x18,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0xf0,0x00,0x00,0x00,0xf0,0x00,0x00,0x00,0x7a,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x00,0x00,0x00,0x01,0x04,0x00,0x00,0x00,0x20,0x00,0x00,0x01,0x05,0x00,0x00,0x00,0x00,0x00,0x00,0x01,0x01,0x00,0x00,0x00,0x08,0x00,0x00,0x00,0x13,0x00,0x00,0x00,0x00,0x00,0x00,0x01,0x08,0x00,0x00,0x00,0x40,0x00,0x00,0x00,0x2a,0x00,0x00,0x00,0x01,0x00,0x00,0x04,0x04,0x00,0x00,0x00,0x38,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x02,0x00,0x00,0x00,0x3c,0x00,0x00,0x00,0x01,0x00,0x00,0x04,0x10,0x00,0x00,0x00,0x46,0x00,0x00,0x00,0x05,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x4f,0x00,0x00,0x00,0x00,0x00,0x00,0x04,0x00,0x00,0x00,0x00,0x5b,0x00,0x00,0x00,0x00,0x00,0x00,0x12,0x07,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x02,0x08,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x00,0x02,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x03,0x00,0x00,0x00,0x00,0x02,0x00,0x00,0x00,0x01,0x00,0x00,0x00,0x0c,0x00,0x00,0x00,0x6a,0x00,0x00,0x00,0x02,0x00,0x00,0x04,0x1c,0x00,0x00,0x00,0x73,0x00,0x00,0x00,0x06,0x00,0x00,0x00,0x00,0x00,0x00,0x00,0x75,0x00,0x00,0x00,0x0b,0x00,0x00,0x00,0x80,0x00,0x00,0x00,0x00,0x69,0x6e,0x74,0x00,0x75,0x6e,0x73,0x69,0x67,0x6e,0x65,0x64,0x20,0x63,0x68,0x61,0x72,0x00,0x6c,0x6f,0x6e,0x67,0x20,0x6c,0x6f,0x6e,0x67,0x20,0x75,0x6e,0x73,0x69,0x67,0x6e,0x65,0x64,0x20,0x69,0x6e,0x74,0x00,0x62,0x70,0x66,0x5f,0x73,0x70,0x69,0x6e,0x5f,0x6c,0x6f,0x63,0x6b,0x00,0x76,0x61,0x6c,0x00,0x62,0x70,0x66,0x5f,0x74,0x69,0x6d,0x65,0x72,0x00,0x5f,0x5f,0x6f,0x70,0x61,0x71,0x75,0x65,0x00,0x74,0x61,0x73,0x6b,0x5f,0x73,0x74,0x72,0x75,0x63,0x74,0x00,0x6b,0x70,0x74,0x72,0x5f,0x75,0x6e,0x74,0x72,0x75,0x73,0x74,0x65,0x64,0x00,0x62,0x70,0x66,0x73,0x5f,0x76,0x61,0x6c,0x00,0x74,0x00,0x64,0x61,0x74,0x61,0x00};

/* Blob B, the smallest case: [1] INT "int" (4 bytes), [2] INT "long" (8 bytes). Dropping [1]
 * leaves a valid BTF with one type, "long" at id 1: the load succeeds although the
 * allocation failed, and a map with key type 1 (int, 4 bytes) is then refused (EINVAL). */
struct blob_b {
    struct { __u16 magic; __u8 version, flags; __u32 hdr_len, type_off, type_len, str_off, str_len; } hdr;
    struct { __u32 name_off, info, size, enc; } t[2];
    char str[10];
} __attribute__((packed));
static const struct blob_b blob_b = {
    {0xeb9f, 1, 0, 24, 0, 32, 32, 10},
    {{1, 0x01000000, 4, 0x01000020}, {5, 0x01000000, 8, 0x01000040}},
    "\0int\0long",
};

static int nth_fd = -1;
/* Arms the current thread's fail-nth: the n-th fault site from now fails. */
static int arm(unsigned n) {
    char b[16]; int len = snprintf(b, sizeof b, "%u", n);
    return pwrite(nth_fd, b, len, 0) == len ? 0 : -errno;
}
/* Sites still to pass before the armed one (0: the fault was injected). */
static int left(void) {
    char b[16] = {0};
    return pread(nth_fd, b, sizeof b - 1, 0) > 0 ? atoi(b) : -1;
}
static void disarm(void) { if (pwrite(nth_fd, "0", 1, 0) != 1) perror("fail-nth"); }

static char logbuf[65536];
static long btf_load(const void *blob, unsigned size, int log) {
    union bpf_attr a; memset(&a, 0, SZ(btf_log_level));
    a.btf = PTR(blob); a.btf_size = size;
    if (log) { memset(logbuf, 0, sizeof logbuf); a.btf_log_buf = PTR(logbuf); a.btf_log_size = sizeof logbuf; a.btf_log_level = 1; }
    return sys(BPF_BTF_LOAD, &a, SZ(btf_log_level));
}
static long map_create(int type, int ks, int vs, int btf, int kid, int vid) {
    union bpf_attr a; memset(&a, 0, SZ(map_extra));
    a.map_type = type; a.key_size = ks; a.value_size = vs; a.max_entries = 1;
    a.btf_fd = btf; a.btf_key_type_id = kid; a.btf_value_type_id = vid;
    return sys(BPF_MAP_CREATE, &a, SZ(map_extra));
}
static void last_lines(int n) {
    int lines = 0; long i = (long)strlen(logbuf);
    while (i > 0 && lines <= n) if (logbuf[--i] == '\n') lines++;
    printf("      log: %s", logbuf + (i ? i + 1 : 0));
}

/* A second, separate bug: a per-CPU map with a bpf_timer value was created although the
 * kernel refuses that (EOPNOTSUPP) without a fault. Whether the kernel knows of the timer: it
 * owns those 16 bytes (an update does not write them), unless the map has no btf_record. */
static void timer_owned(unsigned n, int fd) {
    static unsigned char key[3] = {1, 2, 3}, val[32 * 256], out[32 * 256];
    int cpus = (int)sysconf(_SC_NPROCESSORS_CONF);
    if (cpus < 1 || cpus > 256) return;
    memset(val, 0xff, sizeof val); memset(out, 0, sizeof out);
    union bpf_attr a; memset(&a, 0, SZ(flags));
    a.map_fd = fd; a.key = PTR(key); a.value = PTR(val);
    long u = sys(BPF_MAP_UPDATE_ELEM, &a, SZ(flags));
    a.value = PTR(out);
    long l = sys(BPF_MAP_LOOKUP_ELEM, &a, SZ(flags));
    printf("      n=%u made the map (no fault: EOPNOTSUPP); update %s, lookup %s, timer bytes of CPU 0 read back %s\n", n, en(u), en(l),
           l == 0 && out[0] == 0xff && out[15] == 0xff ? "as written: the map has no btf_record (map_check_btf ignored an ERR_PTR)" : "as 0");
}

static int knob(const char *path, const char *v) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    long w = write(fd, v, strlen(v)); close(fd);
    return w == (long)strlen(v) ? 0 : -errno;
}

static int probe_main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    nth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
    if (nth_fd < 0) { printf("no /proc/thread-self/fail-nth: CONFIG_FAULT_INJECTION is off\n"); return 2; }
    if (access("/sys/kernel/debug/failslab", F_OK)) mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
    if (knob("/sys/kernel/debug/failslab/ignore-gfp-wait", "N")) {
        printf("cannot set /sys/kernel/debug/failslab/ignore-gfp-wait to N (CONFIG_FAILSLAB, debugfs)\n"); return 2;
    }
    knob("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N");
    memset(logbuf, 0, sizeof logbuf); /* pre-fault: the log's copy_to_user must not add fault sites */
    int bug = 0;

    /* A: the fuzzer's pair, BTF_LOAD then (when it loaded) the lru_percpu_hash create. */
    printf("A: BTF_LOAD of the 12-type blob, then MAP_CREATE lru_percpu_hash key 3 value 28 (btf ids 10, 12)\n");
    for (unsigned n = 0; n <= 24; n++) {
        if (n && arm(n)) { printf("arming fail-nth: %s\n", strerror(errno)); return 2; }
        long b = btf_load(blob_a, sizeof blob_a, 0);
        int after_load = n ? left() : -1;
        long m = b >= 0 ? map_create(BPF_MAP_TYPE_LRU_PERCPU_HASH, 3, 28, (int)b, 10, 12) : 1;
        int after = n ? left() : -1;
        disarm();
        printf("  n=%-2u btf_load %-8s sites left %-3d create %-10s sites left %d%s\n", n, en(b), after_load,
               b >= 0 ? en(m) : "-", after, b == -EEXIST ? "   <- EEXIST from an allocation failure" : "");
        if (b == -EEXIST) {
            bug = 1;
            arm(n); long again = btf_load(blob_a, sizeof blob_a, 1); disarm();
            printf("      with btf_log_level 1: %s\n", en(again)); last_lines(3);
            if (again >= 0) close((int)again);
        }
        if (n && m >= 0 && b >= 0) timer_owned(n, (int)m);
        if (m >= 0 && b >= 0) close((int)m);
        if (b >= 0) close((int)b);
        if (n && after > 0) break; /* the fault lies past both calls */
    }

    /* B: the smallest blob; a failed 'types' allocation must not give a loaded BTF. */
    printf("B: BTF_LOAD of [1] int, [2] long, then MAP_CREATE hash key int (id 1) value long (id 2)\n");
    for (unsigned n = 0; n <= 16; n++) {
        if (n && arm(n)) return 2;
        long b = btf_load(&blob_b, sizeof blob_b, 0);
        int l = n ? left() : -1;
        disarm();
        long m = b >= 0 ? map_create(BPF_MAP_TYPE_HASH, 4, 8, (int)b, 1, 2) : 1;
        /* The fault was injected, the load succeeded, and the loaded BTF is not the blob's. */
        int swallowed = n && l == 0 && b >= 0 && m < 0;
        printf("  n=%-2u btf_load %-8s sites left %-3d create (no fault) %s%s\n", n, en(b), l, b >= 0 ? en(m) : "-",
               swallowed ? "   <- the fault was injected, the BTF loaded, and its type ids are off" : "");
        if (swallowed) bug = 1;
        if (m >= 0 && b >= 0) close((int)m);
        if (b >= 0) close((int)b);
        if (n && l > 0) break;
    }
    printf("%s\n", bug ? "REPRODUCED: an allocation failure in BPF_BTF_LOAD did not come back as ENOMEM"
                       : "not reproduced: every injected failure gave ENOMEM");
    return bug;
}

#ifdef BPFS_PLUGIN
__attribute__((constructor)) static void probe_on_load(void) {
    const char *out = getenv("BPFS_PROBE_OUT");
    if (!freopen(out ? out : "/run/bpfstress-job/btf-add-type-enomem.txt", "w", stdout)) return;
    printf("exit %d\n", probe_main());
    fflush(stdout);
}
#else
int main(void) { return probe_main(); }
#endif
