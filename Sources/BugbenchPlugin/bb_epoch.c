/* bugbench epoch-detach: epochs, program creation inside one, and the provider restart that waits for a provider that never attached. */
#include "bb_internal.h"

static __thread int bb_my_slot = -1;

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
BB_NOINLINE int bb_restart_extension(void *ctx, const char *name) {
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
