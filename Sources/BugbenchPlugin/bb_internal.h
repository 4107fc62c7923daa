/* bugbench's private header: the shared state of the planted faults and the helpers every fault file uses. */
#ifndef BB_INTERNAL_H
#define BB_INTERNAL_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
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

static inline uint64_t bb_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline long bb_kernel(int cmd, void *attr, unsigned int size) {
    long r = syscall(__NR_bpf, cmd, attr, size);
    return r < 0 ? -errno : r;
}

/* A robust, process-shared mutex: a worker killed while holding it (the watchdog does
 * that to hung workers) does not wedge every later worker. */
static inline void bb_mutex_init(pthread_mutex_t *m) {
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

static inline int bb_alive(int32_t pid, int32_t tid) {
    return syscall(SYS_tgkill, pid, tid, 0) == 0 || errno != ESRCH;
}

static inline int bb_possible_cpus(void) {
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

/* The bpf commands each fault intercepts (bb_bpf dispatches to them) and the runtime hooks. */
long bb_program_create(struct bb_ctx *c, void *attr, unsigned int size);
int bb_restart_extension(void *ctx, const char *name);
long bb_add_connect_filters(struct bb_ctx *c, int cmd, void *attr, unsigned int size);
long bb_map_update_elem(struct bb_ctx *c, void *attr, unsigned int size);
long bb_hook_invoke(void *ctx, uint32_t attach_type, const void *bytes, size_t len);
long bb_map_lookup_batch(struct bb_ctx *c, void *attr, unsigned int size);
#endif
