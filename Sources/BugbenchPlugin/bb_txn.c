/* bugbench shared-txn: one filter-engine transaction handle that concurrent v4 and v6 attaches both begin on. */
#include "bb_internal.h"

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
