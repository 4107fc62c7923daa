/* bugbench abba: the map update takes the bucket lock then the stats lock; the hook program takes them the other way round. */
#include "bb_internal.h"

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
BB_NOINLINE long bb_hook_invoke(void *ctx, uint32_t attach_type, const void *bytes, size_t len) {
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
