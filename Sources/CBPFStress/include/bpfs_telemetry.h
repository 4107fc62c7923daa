/* Shared-memory telemetry and flight recorder.
 *
 * One memfd-backed block is mapped by the coordinator and every worker. Each worker
 * thread owns exactly one bpfs_thread_tm and is its only writer, so the op path takes
 * no lock and does no read-modify-write atomics: plain relaxed stores, with release
 * stores where the coordinator must see a consistent record (ring seq, ring head,
 * in-flight kind). The coordinator only reads, except for the header's stop flag. */
#ifndef BPFS_TELEMETRY_H
#define BPFS_TELEMETRY_H
#include <stdint.h>
#include <string.h>
#include <time.h>

#define BPFS_TM_MAGIC 0x31306d7473667062ULL /* "bpfstm01" */
#define BPFS_TM_VERSION 3 /* 2: finding mailbox + spill counters; 3: latency histogram region after the slots */
#define BPFS_RING_LEN 64
#define BPFS_MAX_KINDS 64
#define BPFS_MAX_CHECKS 16
#define BPFS_MAX_THREADS 64
#define BPFS_MAX_ERRNO 528 /* room for the kernel-internal ENOTSUPP (524) bpf(2) can return */
#define BPFS_LABEL_LEN 48
#define BPFS_MAX_FINDINGS 8
#define BPFS_FINDING_TITLE_LEN 160
#define BPFS_FINDING_TEXT_LEN 3000

enum bpfs_phase {
    BPFS_PHASE_EMPTY = 0, BPFS_PHASE_STARTING = 1, BPFS_PHASE_SETUP = 2,
    BPFS_PHASE_RUNNING = 3, BPFS_PHASE_TEARDOWN = 4, BPFS_PHASE_DONE = 5, BPFS_PHASE_DEAD = 6,
};

/* One flight-recorder entry. `seq` is written last with release order; a reader that
 * finds seq != expected knows the entry was overwritten while it copied. */
struct bpfs_op_record {
    uint64_t seq;
    uint64_t start_ns;
    uint64_t dur_ns;
    uint64_t a0, a1;
    int32_t err;
    uint16_t kind;
    uint16_t flags; /* BPFS_OP_COARSE: start/dur come from CLOCK_MONOTONIC_COARSE */
    char label[BPFS_LABEL_LEN];
};

#define BPFS_OP_COARSE 1

struct bpfs_thread_tm {
    uint64_t heartbeat_ns;
    int32_t tid;
    uint32_t active;
    /* The op in flight: kind 0 means none. kind is stored last (release). */
    uint64_t inflight_start_ns;
    uint64_t inflight_a0, inflight_a1;
    uint32_t inflight_kind;
    uint32_t inflight_flags;
    char inflight_label[BPFS_LABEL_LEN];
    uint64_t ops_total;
    uint64_t kind_ops[BPFS_MAX_KINDS];
    uint64_t kind_errs[BPFS_MAX_KINDS];
    uint64_t errno_seen[BPFS_MAX_ERRNO];
    uint64_t errno_tolerated[BPFS_MAX_ERRNO];
    uint64_t check_pass[BPFS_MAX_CHECKS];
    uint64_t check_fail[BPFS_MAX_CHECKS];
    uint64_t ring_head; /* records ever written; entry i lives at ring[i % RING_LEN] */
    struct bpfs_op_record ring[BPFS_RING_LEN];
};

/* A finding entry's life: FREE -> WRITING (a worker thread claimed it by CAS) -> READY
 * (filled, release) -> FREE (the coordinator copied it out). Entries are reused, so the
 * area is a mailbox, not a log: a worker that finds none FREE spills the finding to a file
 * (see bpfs_tm_add_finding), and the count of findings is exact either way. */
enum bpfs_finding_state { BPFS_FINDING_FREE = 0, BPFS_FINDING_WRITING = 1, BPFS_FINDING_READY = 2 };

struct bpfs_finding_tm {
    uint32_t ready; /* enum bpfs_finding_state; READY is stored last, release */
    int32_t tid;
    uint32_t check;
    int32_t err;
    uint32_t kind;
    uint32_t pad;
    char title[BPFS_FINDING_TITLE_LEN];
    char text[BPFS_FINDING_TEXT_LEN];
};

struct bpfs_slot_tm {
    int32_t pid;
    uint32_t generation;
    uint32_t phase;
    uint32_t nthreads;
    uint32_t nfindings;      /* findings ever made by this slot, mailbox and spilled */
    uint32_t crash_pending;  /* set by the worker's crash path before it blocks */
    uint32_t nspilled;       /* of those, written to the slot's spill file (mailbox full) */
    uint32_t nlost;          /* of those, lost: mailbox full and no spill file could be written */
    struct bpfs_finding_tm findings[BPFS_MAX_FINDINGS];
    struct bpfs_thread_tm threads[BPFS_MAX_THREADS];
};

struct bpfs_tm_header {
    uint64_t magic;
    uint32_t version;
    uint32_t nslots;
    uint64_t size;
    uint32_t stop;      /* coordinator -> workers: finish the current op and leave */
    uint32_t pad;
    uint64_t start_ns;
};

/* The vDSO's own clock_gettime, looked up once at load (bpfs_telemetry.c); glibc's
 * clock_gettime until then or when the lookup fails. Calling it directly saves glibc's
 * wrapper, about 2 ns of the ~10 ns a coarse read costs, on every recorded op. */
typedef int (*bpfs_clock_fn)(clockid_t, struct timespec *);
extern bpfs_clock_fn bpfs_clock_gettime;

static inline uint64_t bpfs_now_ns(void) {
    struct timespec ts;
    bpfs_clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC_COARSE: the same clock at tick resolution (4 ms at HZ=250), about
 * 5-8 ns a read against 29-36 ns for the precise one on a KVM guest. Used for the cheapest
 * map element ops, where two precise reads would cost ~15% of the op. */
static inline uint64_t bpfs_now_coarse_ns(void) {
    struct timespec ts;
    bpfs_clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct bpfs_thread_hist;
static inline size_t bpfs_tm_hist_region_size(uint32_t nslots);

static inline size_t bpfs_tm_size(uint32_t nslots) {
    return sizeof(struct bpfs_tm_header) + (size_t)nslots * sizeof(struct bpfs_slot_tm)
        + bpfs_tm_hist_region_size(nslots);
}

static inline struct bpfs_slot_tm *bpfs_tm_slot(void *base, uint32_t i) {
    return (struct bpfs_slot_tm *)((char *)base + sizeof(struct bpfs_tm_header)) + i;
}

static inline struct bpfs_thread_tm *bpfs_tm_thread(void *base, uint32_t slot, uint32_t thread) {
    return &bpfs_tm_slot(base, slot)->threads[thread];
}

static inline void bpfs_copy_label(char *dst, const char *src) {
    if (!src) { dst[0] = 0; return; }
    size_t n = strnlen(src, BPFS_LABEL_LEN - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Marks an op as in flight. `label` may be NULL (the hot path passes NULL and
 * describes the op by kind + two integers, formatted only when read). */
static inline void bpfs_op_begin_ex(struct bpfs_thread_tm *t, uint32_t kind, uint64_t a0, uint64_t a1,
                                    const char *label, uint32_t flags) {
    t->inflight_flags = flags;
    /* A coarse op starts where the thread's previous op ended (its heartbeat): at 4 ms
     * resolution that is the same instant, and it saves the op's only other clock read. */
    t->inflight_start_ns = (flags & BPFS_OP_COARSE) ? t->heartbeat_ns : bpfs_now_ns();
    t->inflight_a0 = a0;
    t->inflight_a1 = a1;
    if (label) bpfs_copy_label(t->inflight_label, label); else t->inflight_label[0] = 0;
    __atomic_store_n(&t->inflight_kind, kind, __ATOMIC_RELEASE);
}

static inline void bpfs_op_begin(struct bpfs_thread_tm *t, uint32_t kind, uint64_t a0, uint64_t a1,
                                 const char *label) {
    bpfs_op_begin_ex(t, kind, a0, a1, label, 0);
}

/* Ends the op in flight: appends it to the ring and bumps the counters.
 * `err` is 0 or a positive errno. */
static inline __attribute__((always_inline)) void bpfs_op_end(struct bpfs_thread_tm *t, int32_t err) {
    uint32_t flags = t->inflight_flags;
    uint64_t now = (flags & BPFS_OP_COARSE) ? bpfs_now_coarse_ns() : bpfs_now_ns();
    uint32_t kind = t->inflight_kind;
    uint64_t head = t->ring_head;
    struct bpfs_op_record *r = &t->ring[head % BPFS_RING_LEN];
    __atomic_store_n(&r->seq, 0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    r->start_ns = t->inflight_start_ns;
    r->dur_ns = now > t->inflight_start_ns ? now - t->inflight_start_ns : 0;
    r->flags = (uint16_t)flags;
    r->a0 = t->inflight_a0;
    r->a1 = t->inflight_a1;
    r->err = err;
    r->kind = (uint16_t)kind;
    /* Most ops carry no label: copy one byte instead of the whole field. */
    if (t->inflight_label[0]) memcpy(r->label, t->inflight_label, BPFS_LABEL_LEN); else r->label[0] = 0;
    __atomic_store_n(&r->seq, head + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&t->ring_head, head + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&t->inflight_kind, 0, __ATOMIC_RELEASE);
    uint32_t k = kind < BPFS_MAX_KINDS ? kind : 0;
    __atomic_store_n(&t->kind_ops[k], t->kind_ops[k] + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&t->ops_total, t->ops_total + 1, __ATOMIC_RELAXED);
    if (err) {
        __atomic_store_n(&t->kind_errs[k], t->kind_errs[k] + 1, __ATOMIC_RELAXED);
        uint32_t e = (uint32_t)err < BPFS_MAX_ERRNO ? (uint32_t)err : 0;
        __atomic_store_n(&t->errno_seen[e], t->errno_seen[e] + 1, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&t->heartbeat_ns, now, __ATOMIC_RELAXED);
}

/* Check and tolerated-errno counters: the thread's own, so plain stores suffice. */
static inline void bpfs_tm_check_pass(struct bpfs_thread_tm *t, uint32_t check) {
    if (check < BPFS_MAX_CHECKS) __atomic_store_n(&t->check_pass[check], t->check_pass[check] + 1, __ATOMIC_RELAXED);
}
static inline void bpfs_tm_check_fail(struct bpfs_thread_tm *t, uint32_t check) {
    if (check < BPFS_MAX_CHECKS) __atomic_store_n(&t->check_fail[check], t->check_fail[check] + 1, __ATOMIC_RELAXED);
}
static inline void bpfs_tm_tolerate(struct bpfs_thread_tm *t, int32_t err) {
    uint32_t e = err >= 0 && err < BPFS_MAX_ERRNO ? (uint32_t)err : 0;
    __atomic_store_n(&t->errno_tolerated[e], t->errno_tolerated[e] + 1, __ATOMIC_RELAXED);
}

/* Copies the ring of `t` into `out` (capacity BPFS_RING_LEN), oldest first, skipping
 * entries overwritten while copying. Returns the number copied. Reader side. */
int bpfs_tm_read_ring(const struct bpfs_thread_tm *t, struct bpfs_op_record *out);

/* Claims a FREE entry of the slot's mailbox, fills it and marks it READY; returns its
 * index, or -1 when every entry is taken (the caller then spills the finding). Counts the
 * finding in nfindings either way. */
int bpfs_tm_add_finding(struct bpfs_slot_tm *s, int32_t tid, uint32_t check, int32_t err, uint32_t kind,
                        const char *title, const char *text);

/* Counts a finding that did not fit the mailbox: spilled to the file, or lost. */
static inline void bpfs_tm_count_overflow(struct bpfs_slot_tm *s, int spilled) {
    __atomic_fetch_add(spilled ? &s->nspilled : &s->nlost, 1, __ATOMIC_RELAXED);
}

/* Coordinator side: copies a READY entry out and frees it for reuse; 1 when one was taken. */
int bpfs_tm_take_finding(struct bpfs_slot_tm *s, int index, struct bpfs_finding_tm *out);

/* Creates the memfd-backed block, sized for `nslots`, and maps it. Returns the fd
 * (CLOEXEC: workers get it through posix_spawn dup2, which clears the flag) or -errno. */
int bpfs_tm_create(uint32_t nslots, void **base_out);
/* Maps an existing block from an inherited fd, checking magic and version. */
int bpfs_tm_attach(int fd, void **base_out, uint64_t *size_out);

/* ---- Latency histograms (layout version 2) ------------------------------------------
 * A region appended after the slots: one bpfs_thread_hist per (slot, thread), written only
 * by that thread (plain relaxed stores, like the rest of its telemetry) and merged by the
 * coordinator. Buckets are log-linear, HDR style: values below 128 ns one bucket per ns,
 * then 64 linear sub-buckets per power of two (at most 1/64 = 1.6% wide, about 2
 * significant digits) up to 2^37 ns (137 s); longer values land in the last bucket and in
 * max_ns. Element ops (coarse clock) are timed precisely on a sample: the gap between two
 * sampled ops is drawn in 1..63 (1 op in 32 on average) from a per-thread xorshift seeded
 * from the campaign seed, so periodic op patterns (update, lookup, update...) cannot hide
 * one kind from the sample. Everything else is timed on every op already. */
#define BPFS_HIST_LINEAR 128
#define BPFS_HIST_SUB 64
#define BPFS_HIST_BUCKETS 2048
#define BPFS_HIST_PER_THREAD 16
#define BPFS_HIST_SAMPLE_SPAN 63
#define BPFS_OP_SAMPLED 2 /* an element op picked for precise timing */

struct bpfs_hist {
    uint32_t kind;    /* op kind this histogram counts */
    uint32_t sampled; /* 1: a sample of the kind's ops (element ops); 0: every op */
    uint64_t count;
    uint64_t sum_ns;
    uint64_t max_ns;
    uint64_t buckets[BPFS_HIST_BUCKETS];
};

struct bpfs_thread_hist {
    uint64_t rng;       /* xorshift64 state of the sampling gaps; 0 until seeded */
    uint32_t countdown; /* element ops left until the next sampled one */
    uint32_t nhist;     /* histograms in use, set after hist[nhist-1].kind (release) */
    uint64_t untracked; /* timed ops of kinds beyond BPFS_HIST_PER_THREAD (reported) */
    uint8_t index[BPFS_MAX_KINDS]; /* kind -> histogram index + 1; 0: none yet */
    struct bpfs_hist hist[BPFS_HIST_PER_THREAD];
};

static inline size_t bpfs_tm_hist_region_size(uint32_t nslots) {
    return (size_t)nslots * BPFS_MAX_THREADS * sizeof(struct bpfs_thread_hist);
}

static inline struct bpfs_thread_hist *bpfs_tm_thread_hist(void *base, uint32_t slot, uint32_t thread) {
    uint32_t nslots = ((struct bpfs_tm_header *)base)->nslots;
    char *region = (char *)base + sizeof(struct bpfs_tm_header) + (size_t)nslots * sizeof(struct bpfs_slot_tm);
    return (struct bpfs_thread_hist *)region + (size_t)slot * BPFS_MAX_THREADS + thread;
}

/* Bucket of a duration in ns; bpfs_hist_index(v) for v >= 2^37 is the last bucket. */
static inline uint32_t bpfs_hist_index(uint64_t v) {
    if (v < BPFS_HIST_LINEAR) return (uint32_t)v;
    uint32_t e = 63u - (uint32_t)__builtin_clzll(v); /* >= 7 */
    uint32_t idx = BPFS_HIST_LINEAR + (e - 7u) * BPFS_HIST_SUB + (uint32_t)((v >> (e - 6u)) & (BPFS_HIST_SUB - 1));
    return idx < BPFS_HIST_BUCKETS ? idx : BPFS_HIST_BUCKETS - 1;
}

/* Seeds the sampling of one thread (before its first op). */
static inline void bpfs_hist_seed(struct bpfs_thread_hist *h, uint64_t seed) {
    h->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    h->rng ^= h->rng << 13; h->rng ^= h->rng >> 7; h->rng ^= h->rng << 17;
    h->countdown = 1u + (uint32_t)(h->rng % BPFS_HIST_SAMPLE_SPAN);
}

/* Adds one duration to the thread's histogram of `kind`. Writer side (the owning thread). */
static inline void bpfs_hist_record(struct bpfs_thread_hist *h, uint32_t kind, uint64_t ns, uint32_t sampled) {
    uint32_t k = kind < BPFS_MAX_KINDS ? kind : 0;
    uint32_t i = h->index[k];
    if (i == 0) {
        if (h->nhist >= BPFS_HIST_PER_THREAD) {
            __atomic_store_n(&h->untracked, h->untracked + 1, __ATOMIC_RELAXED);
            return;
        }
        struct bpfs_hist *fresh = &h->hist[h->nhist];
        fresh->kind = k;
        fresh->sampled = sampled;
        i = h->nhist + 1;
        h->index[k] = (uint8_t)i;
        __atomic_store_n(&h->nhist, i, __ATOMIC_RELEASE);
    }
    struct bpfs_hist *x = &h->hist[i - 1];
    uint64_t *b = &x->buckets[bpfs_hist_index(ns)];
    __atomic_store_n(b, *b + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&x->count, x->count + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&x->sum_ns, x->sum_ns + ns, __ATOMIC_RELAXED);
    if (ns > x->max_ns) __atomic_store_n(&x->max_ns, ns, __ATOMIC_RELAXED);
}

/* bpfs_op_begin_ex with latency sampling: a coarse (element) op is timed precisely when its
 * countdown runs out. */
static inline void bpfs_op_begin_h(struct bpfs_thread_tm *t, struct bpfs_thread_hist *h, uint32_t kind,
                                   uint64_t a0, uint64_t a1, const char *label, uint32_t flags) {
    if ((flags & BPFS_OP_COARSE) && --h->countdown == 0) {
        h->rng ^= h->rng << 13; h->rng ^= h->rng >> 7; h->rng ^= h->rng << 17;
        h->countdown = 1u + (uint32_t)(h->rng % BPFS_HIST_SAMPLE_SPAN);
        flags = (flags & ~(uint32_t)BPFS_OP_COARSE) | BPFS_OP_SAMPLED;
    }
    bpfs_op_begin_ex(t, kind, a0, a1, label, flags);
}

/* bpfs_op_end_h for an op that was timed precisely (bpfs_telemetry.c): out of line, so that
 * the coarse path below stays small enough to be inlined into every Swift caller. */
void bpfs_op_end_timed(struct bpfs_thread_tm *t, struct bpfs_thread_hist *h, int32_t err);

/* bpfs_op_end, then the op's duration into its histogram unless it was timed coarsely. */
static inline __attribute__((always_inline)) void bpfs_op_end_h(struct bpfs_thread_tm *t, struct bpfs_thread_hist *h,
                                                                int32_t err) {
    if (t->inflight_flags & BPFS_OP_COARSE) bpfs_op_end(t, err); else bpfs_op_end_timed(t, h, err);
}

/* Reader side: copies histogram `i` of a thread (buckets: BPFS_HIST_BUCKETS entries).
 * Returns 0 when the thread uses fewer than i+1 histograms, else 1. */
int bpfs_hist_read(const struct bpfs_thread_hist *h, uint32_t i, uint32_t *kind, uint32_t *sampled,
                   uint64_t *count, uint64_t *sum_ns, uint64_t *max_ns, uint64_t *buckets);
/* Timed ops a thread could not histogram (more kinds than BPFS_HIST_PER_THREAD). */
uint64_t bpfs_hist_untracked(const struct bpfs_thread_hist *h);

/* Zeroes the histograms a thread used (the coordinator, before a slot is reused). */
void bpfs_tm_hist_reset(void *base, uint32_t slot);
#endif
