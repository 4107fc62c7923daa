/* bugbench: a bpfstress runtime plugin that forwards every bpf command to the kernel and
 * plants the four seed bugs on request (see include/bugbench.h). Each fault reproduces the
 * mechanism of its seed, not only its symptom, so that bpfstress has to find it the way it
 * would find the real one: a hang through the watchdog, a crash through the crash handler,
 * a failure through a scenario check.
 *
 * The bb_* functions named in the seeds are noinline and keep their frames (no sibling
 * calls), so that captured stacks name them. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "bugbench.h"

#define BB_NOINLINE __attribute__((noinline, disable_tail_calls, used))
#define BB_MAGIC 0x62756762656e6368ull /* "bugbench" */
#define BB_EPOCH_SLOTS 512
#define BB_BUCKETS 4
#define BB_PROVIDERS 3
/* Every wait is bounded, so that even a planted deadlock ends on its own long after the
 * watchdog (deadline + 1 s) has captured it and the campaign is over. */
#define BB_WAIT_LIMIT_NS (120ull * 1000000000ull)

/* ---- shared state ------------------------------------------------------------------ */

struct bb_epoch_slot {
    int32_t tid;        /* owner thread, 0 = free */
    int32_t pid;        /* owner process */
    uint32_t active;    /* futex word: 1 while the owner is inside an epoch */
    uint32_t pad;
    uint64_t epoch;     /* global epoch when the owner entered */
};

/* A program-information provider (one per program type an extension serves). */
struct bb_provider {
    char name[32];
    uint32_t attached;  /* a program of this type was created since the last restart */
    uint32_t registered;
};

struct bb_shared {
    uint64_t magic;
    uint32_t faults;
    uint32_t ncpus;
    /* epoch-detach */
    uint64_t global_epoch;
    struct bb_epoch_slot slots[BB_EPOCH_SLOTS];
    pthread_mutex_t provider_lock;
    struct bb_provider providers[BB_PROVIDERS];
    uint64_t restarts;
    /* shared-txn: the one filter engine handle of the whole runtime */
    pthread_mutex_t engine_lock;
    uint32_t txn_open;
    uint64_t txn_conflicts;
    /* abba */
    pthread_mutex_t bucket_lock[BB_BUCKETS];
    pthread_mutex_t stats_lock;
    uint64_t stat_updates;
    uint64_t stat_hook_runs;
    /* percpu-size */
    uint64_t batch_copies;
};

struct bb_ctx {
    struct bb_shared *sh;
};

static __thread int bb_my_slot = -1;

static uint64_t bb_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long bb_kernel(int cmd, void *attr, unsigned int size) {
    long r = syscall(__NR_bpf, cmd, attr, size);
    return r < 0 ? -errno : r;
}

/* A robust, process-shared mutex: a worker killed while holding it (the watchdog does
 * that to hung workers) does not wedge every later worker. */
static void bb_mutex_init(pthread_mutex_t *m) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}

static inline __attribute__((always_inline)) void bb_lock(pthread_mutex_t *m) {
    if (pthread_mutex_lock(m) == EOWNERDEAD) pthread_mutex_consistent(m);
}

static inline __attribute__((always_inline)) void bb_unlock(pthread_mutex_t *m) { pthread_mutex_unlock(m); }

static int bb_alive(int32_t pid, int32_t tid) {
    return syscall(SYS_tgkill, pid, tid, 0) == 0 || errno != ESRCH;
}

static int bb_possible_cpus(void) {
    /* /sys/devices/system/cpu/possible, e.g. "0-1": the highest index + 1. */
    int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return (int)sysconf(_SC_NPROCESSORS_CONF);
    char buf[128] = {0};
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return (int)sysconf(_SC_NPROCESSORS_CONF);
    int max = 0;
    for (char *p = buf; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) { p++; continue; }
        if (v > max) max = (int)v;
        p = end;
    }
    return max + 1;
}

/* ---- epochs (epoch-detach) ----------------------------------------------------------- */

static struct bb_epoch_slot *bb_epoch_slot(struct bb_shared *sh) {
    int32_t tid = (int32_t)syscall(SYS_gettid), pid = getpid();
    if (bb_my_slot >= 0 && sh->slots[bb_my_slot].tid == tid) return &sh->slots[bb_my_slot];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < BB_EPOCH_SLOTS; i++) {
            struct bb_epoch_slot *s = &sh->slots[i];
            int32_t owner = __atomic_load_n(&s->tid, __ATOMIC_ACQUIRE);
            /* Second pass: reclaim slots of threads that are gone. */
            if (owner != 0 && !(pass == 1 && !bb_alive(s->pid, owner))) continue;
            if (__atomic_compare_exchange_n(&s->tid, &owner, tid, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                s->pid = pid;
                __atomic_store_n(&s->active, 0, __ATOMIC_RELEASE);
                bb_my_slot = i;
                return s;
            }
        }
    }
    return NULL;
}

BB_NOINLINE void bb_epoch_enter(struct bb_shared *sh) {
    struct bb_epoch_slot *s = bb_epoch_slot(sh);
    if (!s) return;
    s->epoch = __atomic_load_n(&sh->global_epoch, __ATOMIC_ACQUIRE);
    __atomic_store_n(&s->active, 1, __ATOMIC_SEQ_CST);
}

BB_NOINLINE void bb_epoch_exit(struct bb_shared *sh) {
    if (bb_my_slot < 0) return;
    struct bb_epoch_slot *s = &sh->slots[bb_my_slot];
    __atomic_store_n(&s->active, 0, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &s->active, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* Waits until every thread that entered its epoch before this call has left it. */
BB_NOINLINE int bb_epoch_synchronize(struct bb_shared *sh) {
    uint64_t target = __atomic_fetch_add(&sh->global_epoch, 1, __ATOMIC_SEQ_CST);
    uint64_t start = bb_now_ns();
    int me = bb_my_slot;
    for (int i = 0; i < BB_EPOCH_SLOTS; i++) {
        struct bb_epoch_slot *s = &sh->slots[i];
        if (i == me) continue;
        for (;;) {
            int32_t tid = __atomic_load_n(&s->tid, __ATOMIC_ACQUIRE);
            if (tid == 0 || !__atomic_load_n(&s->active, __ATOMIC_ACQUIRE) || s->epoch > target) break;
            if (!bb_alive(s->pid, tid)) break;
            if (bb_now_ns() - start > BB_WAIT_LIMIT_NS) return -ETIMEDOUT;
            struct timespec ts = {0, 100 * 1000000};
            syscall(SYS_futex, &s->active, FUTEX_WAIT, 1, &ts, NULL, 0);
        }
    }
    return 0;
}

/* Program creation: runs inside an epoch (it reads provider tables that a restart frees
 * after an epoch synchronize), and needs the provider lock to bind the program to its
 * type's information provider. */
BB_NOINLINE long bb_program_create(struct bb_ctx *c, void *attr, unsigned int size) {
    struct bb_shared *sh = c->sh;
    bb_epoch_enter(sh);
    bb_lock(&sh->provider_lock);
    /* connect4/6 and the rest of cgroup_sock_addr bind to the first provider. */
    __atomic_store_n(&sh->providers[0].attached, 1, __ATOMIC_RELEASE);
    long r = bb_kernel(BPF_PROG_LOAD, attr, size);
    bb_unlock(&sh->provider_lock);
    bb_epoch_exit(sh);
    return r;
}

/* Called with the provider lock held. The seed bug: for a provider that never attached,
 * it still calls bb_epoch_synchronize, under the lock that program creation (already
 * inside its epoch) waits for. The fix: nothing to wait for when it never attached. */
BB_NOINLINE int bb_program_information_detach_provider(struct bb_shared *sh, struct bb_provider *p) {
    int r = 0;
    if (__atomic_load_n(&p->attached, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&p->attached, 0, __ATOMIC_RELEASE);
        /* Readers may still use its tables: wait for them, without the lock they need. */
        bb_unlock(&sh->provider_lock);
        r = bb_epoch_synchronize(sh);
        bb_lock(&sh->provider_lock);
    } else if (sh->faults & BB_FAULT_EPOCH_DETACH) {
        r = bb_epoch_synchronize(sh);
    }
    p->registered = 0;
    return r;
}

/* restart_extension: detach every provider of the extension, then register them again. */
BB_NOINLINE static int bb_restart_extension(void *ctx, const char *name) {
    (void)name;
    struct bb_shared *sh = ((struct bb_ctx *)ctx)->sh;
    int r = 0;
    for (int i = 0; i < BB_PROVIDERS && r == 0; i++) {
        bb_lock(&sh->provider_lock);
        r = bb_program_information_detach_provider(sh, &sh->providers[i]);
        bb_unlock(&sh->provider_lock);
    }
    bb_lock(&sh->provider_lock);
    for (int i = 0; i < BB_PROVIDERS; i++) sh->providers[i].registered = 1;
    sh->restarts++;
    bb_unlock(&sh->provider_lock);
    return r;
}

/* ---- filter engine transactions (shared-txn) ----------------------------------------- */

/* Like FwpmTransactionBegin on one engine handle: a second begin fails while one is open. */
BB_NOINLINE int bb_filter_transaction_begin(struct bb_shared *sh) {
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&sh->txn_open, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        __atomic_fetch_add(&sh->txn_conflicts, 1, __ATOMIC_RELAXED);
        return -EINVAL; /* "the call is not allowed from within an explicit transaction" */
    }
    return 0;
}

BB_NOINLINE void bb_filter_transaction_end(struct bb_shared *sh) {
    __atomic_store_n(&sh->txn_open, 0, __ATOMIC_RELEASE);
}

/* Attaching a connect4/connect6 program adds its filters in one transaction. */
BB_NOINLINE long bb_add_connect_filters(struct bb_ctx *c, int cmd, void *attr, unsigned int size) {
    struct bb_shared *sh = c->sh;
    int serialize = !(sh->faults & BB_FAULT_SHARED_TXN); /* the fix: one transaction at a time */
    if (serialize) bb_lock(&sh->engine_lock);
    long r = bb_filter_transaction_begin(sh);
    if (r == 0) {
        struct timespec ts = {0, 200 * 1000}; /* adding filters to the engine takes a while */
        nanosleep(&ts, NULL);
        r = bb_kernel(cmd, attr, size);
        bb_filter_transaction_end(sh);
    }
    if (serialize) bb_unlock(&sh->engine_lock);
    return r;
}

/* ---- bucket and stats locks (abba) ------------------------------------------------- */

static uint32_t bb_read_key(const void *key) {
    uint32_t k = 0;
    if (!key) return 0;
    /* The caller's pointer may be bad (the kernel would say EFAULT): read it safely. */
    struct iovec local = {&k, sizeof k}, remote = {(void *)key, sizeof k};
    if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != (ssize_t)sizeof k) {
        uint8_t b = 0;
        local.iov_base = &b; local.iov_len = 1; remote.iov_len = 1;
        if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1) k = b;
    }
    return k;
}

BB_NOINLINE void bb_stats_account(struct bb_shared *sh) {
    bb_lock(&sh->stats_lock);
    sh->stat_updates++;
    bb_unlock(&sh->stats_lock);
}

/* Map update: bucket lock, the update, then the stats lock inside it. */
BB_NOINLINE long bb_map_update_elem(struct bb_ctx *c, void *attr, unsigned int size) {
    struct bb_shared *sh = c->sh;
    union bpf_attr *a = attr;
    uint32_t b = size >= 16 ? bb_read_key((const void *)(uintptr_t)a->key) % BB_BUCKETS : 0;
    bb_lock(&sh->bucket_lock[b]);
    long r = bb_kernel(BPF_MAP_UPDATE_ELEM, attr, size);
    bb_stats_account(sh);
    bb_unlock(&sh->bucket_lock[b]);
    return r;
}

/* The hook program's map update: needs the bucket lock. */
BB_NOINLINE void bb_hook_map_update(struct bb_shared *sh, uint32_t b) {
    bb_lock(&sh->bucket_lock[b]);
    sched_yield();
    bb_unlock(&sh->bucket_lock[b]);
}

/* invoke_hook: the seed bug takes the stats lock first (the program runs on the lock's slow
 * path), then the bucket lock for its map update: the reverse of bb_map_update_elem. */
BB_NOINLINE static long bb_hook_invoke(void *ctx, uint32_t attach_type, const void *bytes, size_t len) {
    (void)attach_type;
    struct bb_shared *sh = ((struct bb_ctx *)ctx)->sh;
    uint32_t key = 0;
    if (bytes && len > 0) memcpy(&key, bytes, len < sizeof key ? len : sizeof key);
    uint32_t b = key % BB_BUCKETS;
    if (sh->faults & BB_FAULT_ABBA) {
        bb_lock(&sh->stats_lock);
        sh->stat_hook_runs++;
        bb_hook_map_update(sh, b);
        bb_unlock(&sh->stats_lock);
    } else {
        bb_lock(&sh->bucket_lock[b]);
        bb_lock(&sh->stats_lock);
        sh->stat_hook_runs++;
        bb_unlock(&sh->stats_lock);
        bb_unlock(&sh->bucket_lock[b]);
    }
    return 0;
}

/* ---- per-CPU batch lookup (percpu-size) -------------------------------------------- */

static int bb_is_percpu(uint32_t type) {
    return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
           type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

/* Copies the returned per-CPU values into the staging buffer: round_up(value_size, 8) for
 * every possible CPU, for each entry. */
BB_NOINLINE uint64_t bb_lookup_batch_copy_values(void *staging, const void *values, uint32_t n,
                                                uint32_t value_size, uint32_t ncpus) {
    size_t bytes = (size_t)((value_size + 7) & ~7u) * ncpus * n;
    memcpy(staging, values, bytes);
    __asm__ volatile("" ::: "memory");
    return bytes;
}

/* Forwards the batch lookup, then stages the per-CPU values. The seed bug sizes the staging
 * buffer value_size x count, as if the map were not per-CPU. */
BB_NOINLINE long bb_map_lookup_batch(struct bb_ctx *c, void *attr, unsigned int size) {
    struct bb_shared *sh = c->sh;
    union bpf_attr *a = attr;
    if (size < offsetof(union bpf_attr, batch.map_fd) + 4) return bb_kernel(BPF_MAP_LOOKUP_BATCH, attr, size);
    uint32_t want = a->batch.count;
    long r = bb_kernel(BPF_MAP_LOOKUP_BATCH, attr, size);
    uint32_t n = a->batch.count;
    if ((r < 0 && r != -ENOENT) || n == 0 || want == 0 || n > want || !a->batch.values) return r;
    struct bpf_map_info info;
    memset(&info, 0, sizeof info);
    union bpf_attr ia;
    memset(&ia, 0, sizeof ia);
    ia.info.bpf_fd = a->batch.map_fd;
    ia.info.info_len = sizeof info;
    ia.info.info = (uint64_t)(uintptr_t)&info;
    if (bb_kernel(BPF_OBJ_GET_INFO_BY_FD, &ia, sizeof ia) < 0 || !bb_is_percpu(info.type)) return r;
    uint32_t vs = info.value_size;
    size_t staged = (sh->faults & BB_FAULT_PERCPU_SIZE) ? (size_t)vs * want
                                                        : (size_t)((vs + 7) & ~7u) * sh->ncpus * want;
    if (staged == 0 || staged > (64u << 20)) return r;
    long page = sysconf(_SC_PAGESIZE);
    size_t span = (staged + (size_t)page - 1) / (size_t)page * (size_t)page;
    uint8_t *m = mmap(NULL, span + (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return r;
    mprotect(m + span, (size_t)page, PROT_NONE); /* guard page right behind the buffer */
    uint8_t *staging = m + span - staged;
    bb_lookup_batch_copy_values(staging, (const void *)(uintptr_t)a->batch.values, n, vs, sh->ncpus);
    __atomic_fetch_add(&sh->batch_copies, 1, __ATOMIC_RELAXED);
    munmap(m, span + (size_t)page);
    return r;
}

/* ---- the bpf entry ------------------------------------------------------------------ */

static long bb_bpf(void *ctx, int cmd, void *attr, unsigned int size) {
    struct bb_ctx *c = ctx;
    if (!c || !attr) return bb_kernel(cmd, attr, size);
    switch (cmd) {
    case BPF_PROG_LOAD:
        return bb_program_create(c, attr, size);
    case BPF_PROG_ATTACH:
    case BPF_LINK_CREATE: {
        if (size < 12) break;
        uint32_t type = ((uint32_t *)attr)[2]; /* attach_type: same offset in both commands */
        if (type == BPF_CGROUP_INET4_CONNECT || type == BPF_CGROUP_INET6_CONNECT)
            return bb_add_connect_filters(c, cmd, attr, size);
        break;
    }
    case BPF_MAP_UPDATE_ELEM:
        return bb_map_update_elem(c, attr, size);
    case BPF_MAP_LOOKUP_BATCH:
        return bb_map_lookup_batch(c, attr, size);
    default:
        break;
    }
    return bb_kernel(cmd, attr, size);
}

/* ---- the fault table, as data ---------------------------------------------------------- */

/* What each planted fault is and which campaign must find it, read by `bpfstress bugbench`
 * with dlsym. One fault a line, space-separated key=value fields:
 *   name, scenario, expect (hang|crash|failure), title (substrings the finding's title must
 *   hold, comma-separated), culprits (functions its title or dump must name), workers,
 *   threads, params (scenario parameters, name:value;...). */
__attribute__((visibility("default"))) const char bpfstress_bugbench_faults[] =
    "name=epoch-detach scenario=extension-restart expect=hang title=bb_ "
    "culprits=bb_epoch_synchronize,bb_program_information_detach_provider,bb_program_create "
    "workers=2 threads=3 params=churn:cgroup;period:10ms;churners:1\n"
    "name=shared-txn scenario=load-attach-v4v6 expect=failure title=EINVAL culprits= "
    "workers=2 threads=3 params=connects:2\n"
    "name=abba scenario=lock-contention-abba expect=hang title=bb_ "
    "culprits=bb_map_update_elem,bb_stats_account,bb_hook_invoke,bb_hook_map_update "
    "workers=2 threads=3 params=\n"
    "name=percpu-size scenario=percpu-batch-sizes expect=crash "
    "title=SIGSEGV%20in%20memcpy%20from%20bb_lookup_batch_copy_values "
    "culprits=bb_lookup_batch_copy_values,bb_map_lookup_batch workers=2 threads=2 params=\n";

/* ---- campaign init / fini / attach --------------------------------------------------- */

static const struct { const char *name; uint32_t bit; } bb_fault_names[] = {
    {"epoch-detach", BB_FAULT_EPOCH_DETACH},
    {"shared-txn", BB_FAULT_SHARED_TXN},
    {"abba", BB_FAULT_ABBA},
    {"percpu-size", BB_FAULT_PERCPU_SIZE},
};

/* CONFIG: comma-separated fault names, optionally after "faults="; "" or "none" = no fault. */
static int bb_parse_config(const char *config, uint32_t *faults, char *err, size_t errlen) {
    *faults = 0;
    if (!config) return 0;
    if (strncmp(config, "faults=", 7) == 0) config += 7;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", config);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (!*tok || strcmp(tok, "none") == 0) continue;
        int found = 0;
        for (size_t i = 0; i < sizeof bb_fault_names / sizeof bb_fault_names[0]; i++) {
            if (strcmp(tok, bb_fault_names[i].name) == 0) { *faults |= bb_fault_names[i].bit; found = 1; }
        }
        if (!found) {
            snprintf(err, errlen, "unknown fault '%s' (known: epoch-detach, shared-txn, abba, percpu-size, none)", tok);
            return -EINVAL;
        }
    }
    return 0;
}

/* Segments of campaigns whose coordinator died without campaign_fini. */
static void bb_remove_stale_segments(void) {
    DIR *d = opendir("/dev/shm");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid = 0;
        if (sscanf(e->d_name, "bpfstress-bugbench.%d.", &pid) != 1 || pid <= 0) continue;
        if (kill(pid, 0) == 0 || errno != ESRCH) continue;
        char name[300];
        snprintf(name, sizeof name, "/%s", e->d_name);
        shm_unlink(name);
    }
    closedir(d);
}

static int bb_campaign_init(const char *config, char *state, size_t len) {
    uint32_t faults;
    int r = bb_parse_config(config, &faults, state, len);
    if (r < 0) return r;
    bb_remove_stale_segments();
    static unsigned counter;
    char name[128];
    snprintf(name, sizeof name, "/bpfstress-bugbench.%d.%u.%llx", getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED),
             (unsigned long long)bb_now_ns());
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) { r = -errno; snprintf(state, len, "shm_open %s: %s", name, strerror(-r)); return r; }
    if (ftruncate(fd, sizeof(struct bb_shared)) < 0) {
        r = -errno; close(fd); shm_unlink(name);
        snprintf(state, len, "ftruncate: %s", strerror(-r));
        return r;
    }
    struct bb_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (sh == MAP_FAILED) { r = -errno; shm_unlink(name); snprintf(state, len, "mmap: %s", strerror(-r)); return r; }
    memset(sh, 0, sizeof *sh);
    sh->faults = faults;
    sh->ncpus = (uint32_t)bb_possible_cpus();
    bb_mutex_init(&sh->provider_lock);
    bb_mutex_init(&sh->engine_lock);
    bb_mutex_init(&sh->stats_lock);
    for (int i = 0; i < BB_BUCKETS; i++) bb_mutex_init(&sh->bucket_lock[i]);
    static const char *names[BB_PROVIDERS] = {"cgroup_sock_addr", "cgroup_sock", "sock_ops"};
    for (int i = 0; i < BB_PROVIDERS; i++) {
        snprintf(sh->providers[i].name, sizeof sh->providers[i].name, "%s", names[i]);
        sh->providers[i].registered = 1;
    }
    __atomic_store_n(&sh->magic, BB_MAGIC, __ATOMIC_RELEASE);
    munmap(sh, sizeof *sh);
    snprintf(state, len, "%s", name);
    return 0;
}

static void bb_campaign_fini(const char *state) {
    if (state && state[0] == '/') shm_unlink(state);
}

static int bb_attach(const char *state, void **ctx) {
    if (!state || state[0] != '/') return -EINVAL;
    int fd = shm_open(state, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct bb_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (sh == MAP_FAILED) return -e;
    if (sh->magic != BB_MAGIC) { munmap(sh, sizeof *sh); return -EPROTO; }
    struct bb_ctx *c = calloc(1, sizeof *c);
    if (!c) { munmap(sh, sizeof *sh); return -ENOMEM; }
    c->sh = sh;
    *ctx = c;
    return 0;
}

static const struct bpfstress_runtime bb_runtime = {
    .abi_version = BPFSTRESS_RUNTIME_ABI_VERSION,
    /* It forwards to the kernel, so it has the kernel's hooks; struct_ops registration goes
     * through libbpf, outside any runtime, so that one is not claimed. */
    .capabilities = BPFSTRESS_CAP_CGROUP_HOOKS | BPFSTRESS_CAP_TRACEPOINTS | BPFSTRESS_CAP_NETNS |
                    BPFSTRESS_CAP_EXTENSION_RESTART,
    .name = "bugbench",
    .campaign_init = bb_campaign_init,
    .campaign_fini = bb_campaign_fini,
    .attach = bb_attach,
    .bpf = bb_bpf,
    .restart_extension = bb_restart_extension,
    .invoke_hook = bb_hook_invoke,
};

const struct bpfstress_runtime *bpfstress_runtime_entry(uint32_t host_abi_version) {
    return host_abi_version == BPFSTRESS_RUNTIME_ABI_VERSION ? &bb_runtime : NULL;
}
