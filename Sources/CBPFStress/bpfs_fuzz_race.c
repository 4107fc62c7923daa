/* Two threads racing on one map (see bpfs_fuzz_race.h). Every loop is bounded: A by its rounds,
 * B by call_cap calls and obs_cap entries, each walk by max_entries + 16 steps. */
#define _GNU_SOURCE
#include "bpfs_fuzz_race.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <linux/bpf.h>

struct race_ctx {
    const struct bpfs_rt *rt;
    struct bpfs_race *r;
    int ready, a_done;
    unsigned int a_progress;
};

static int race_err(int rc) { return rc < 0 ? -rc : 0; }

/* One entry B saw: the key, the errno of its lookup (walks), its value. */
static void race_obs(struct bpfs_race *r, const void *key, int err, const void *value) {
    if (r->obs_n >= r->obs_cap) return;
    uint32_t i = r->obs_n++;
    memcpy(r->obs_keys + (size_t)i * r->key_size, key, r->key_size);
    if (value) memcpy(r->obs_values + (size_t)i * r->value_len, value, r->value_len);
    else memset(r->obs_values + (size_t)i * r->value_len, 0, r->value_len);
    r->obs_errno[i] = err;
    r->obs_call[i] = r->call_n;
}

/* Waits (bounded by A's end) until A is half-way: freeze and close then land mid-sequence. */
static void race_wait_half(struct race_ctx *c) {
    while (!__atomic_load_n(&c->a_done, __ATOMIC_ACQUIRE) &&
           __atomic_load_n(&c->a_progress, __ATOMIC_ACQUIRE) < c->r->rounds / 2) sched_yield();
}

/* B's one call of its kind; returns its errno. */
static int race_b_call(struct race_ctx *c, unsigned char *k, unsigned char *nk, unsigned char *v,
                       unsigned char *tok, int *tok_valid) {
    struct bpfs_race *r = c->r;
    switch (r->kind) {
    case BPFS_RACE_WALK: {
        int first = 1, err = 0;
        for (uint32_t step = 0; step < r->max_entries + 16; step++) {
            err = race_err(bpfs_map_get_next_key(c->rt, r->fd, first ? NULL : k, nk));
            if (err) break;
            first = 0;
            int lerr = race_err(bpfs_map_lookup_elem(c->rt, r->fd, nk, v, 0));
            race_obs(r, nk, lerr, lerr ? NULL : v);
            memcpy(k, nk, r->key_size);
        }
        return err;
    }
    case BPFS_RACE_BATCH:
    case BPFS_RACE_DELBATCH: {
        uint32_t count = r->batch_count;
        unsigned char keys[64 * 16], *vals = v;
        int rc = r->kind == BPFS_RACE_BATCH
            ? bpfs_map_lookup_batch(c->rt, r->fd, *tok_valid ? tok : NULL, nk, keys, vals, &count, 0, 0)
            : bpfs_map_lookup_and_delete_batch(c->rt, r->fd, *tok_valid ? tok : NULL, nk, keys, vals, &count, 0, 0);
        int err = race_err(rc);
        if (err == 0 || err == ENOENT) {
            for (uint32_t i = 0; i < count && i < r->batch_count; i++)
                race_obs(r, keys + (size_t)i * r->key_size, 0, vals + (size_t)i * r->value_len);
        }
        *tok_valid = err == 0;
        if (err == 0) memcpy(tok, nk, r->key_size > 4 ? r->key_size : 4);
        return err;
    }
    case BPFS_RACE_FREEZE:
        race_wait_half(c);
        return race_err(bpfs_map_freeze(c->rt, r->fd));
    case BPFS_RACE_MMAP: {
        void *p = mmap(NULL, r->mmap_len, PROT_READ, MAP_SHARED, r->fd, 0);
        if (p == MAP_FAILED) return errno;
        size_t elem = (r->value_size + 7) & ~(size_t)7;
        for (uint32_t i = 0; i < r->max_entries && (size_t)i * elem + r->value_size <= r->mmap_len; i++) {
            uint32_t key = i;
            memcpy(v, (unsigned char *)p + (size_t)i * elem, r->value_size);
            race_obs(r, &key, 0, v);
        }
        munmap(p, r->mmap_len);
        return 0;
    }
    default:
        race_wait_half(c);
        return dup2(r->devnull, r->fd) < 0 ? errno : 0;
    }
}

/* Most entries one call of B records: B starts no call that might not fit. */
static uint32_t race_per_call(const struct bpfs_race *r) {
    switch (r->kind) {
    case BPFS_RACE_WALK: return r->max_entries + 16;
    case BPFS_RACE_MMAP: return r->max_entries;
    case BPFS_RACE_BATCH:
    case BPFS_RACE_DELBATCH: return r->batch_count;
    default: return 0;
    }
}

static void *race_b(void *arg) {
    struct race_ctx *c = arg;
    struct bpfs_race *r = c->r;
    cpu_set_t set;
    CPU_ZERO(&set);
    /* b_cpu -1: the CPU after the caller's (the caller is pinned to one). */
    int ncpu = get_nprocs_conf(), me = sched_getcpu();
    CPU_SET(r->b_cpu >= 0 ? r->b_cpu : ((me < 0 ? 0 : me) + 1) % (ncpu > 0 ? ncpu : 1), &set);
    sched_setaffinity(0, sizeof set, &set);
    unsigned char k[64], nk[64], tok[64], v[4096 * 16];
    int tok_valid = 0;
    /* On its CPU now: A starts (B creation and migration would otherwise outlast A's calls). */
    __atomic_store_n(&c->ready, 1, __ATOMIC_RELEASE);
    do {
        int err = race_b_call(c, k, nk, v, tok, &tok_valid);
        r->call_errno[r->call_n++] = err;
        /* Freeze retries while a write is in flight (EBUSY); freeze and close act once. */
        if ((r->kind == BPFS_RACE_FREEZE && err != EBUSY) || r->kind == BPFS_RACE_CLOSE) break;
    } while (!__atomic_load_n(&c->a_done, __ATOMIC_ACQUIRE) && r->call_n < r->call_cap &&
             r->obs_n + race_per_call(r) <= r->obs_cap);
    return NULL;
}

int bpfs_fuzz_race(const struct bpfs_rt *rt, struct bpfs_race *r) {
    struct race_ctx c = { rt, r, 0, 0, 0 };
    pthread_t b;
    if (!rt || !r || r->key_size > 64 || r->value_len > 4096 * 16 || r->batch_count > 16 || r->call_cap == 0 ||
        r->obs_cap < race_per_call(r)) return -EINVAL;
    r->call_n = 0;
    r->obs_n = 0;
    int e = pthread_create(&b, NULL, race_b, &c);
    if (e) return -e;
    for (long spin = 0; spin < 1000000 && !__atomic_load_n(&c.ready, __ATOMIC_ACQUIRE); spin++) sched_yield();
    for (uint32_t j = 0; j < r->rounds; j++) {
        const void *key = r->a_keys + (size_t)j * r->key_size;
        int rc = r->a_del[j] ? bpfs_map_delete_elem(rt, r->fd, key)
                             : bpfs_map_update_elem(rt, r->fd, key, r->a_values + (size_t)j * r->value_len, 0);
        r->a_errno[j] = race_err(rc);
        __atomic_store_n(&c.a_progress, j + 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&c.a_done, 1, __ATOMIC_RELEASE);
    pthread_join(b, NULL);
    return 0;
}
