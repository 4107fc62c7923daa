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
#define BPFS_TM_VERSION 2
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

static inline uint64_t bpfs_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC_COARSE: the same clock at tick resolution (4 ms at HZ=250), about
 * 8 ns a read against 36 ns for the precise one on a KVM guest. Used for the cheapest
 * map element ops, where two precise reads would cost ~15% of the op. */
static inline uint64_t bpfs_now_coarse_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline size_t bpfs_tm_size(uint32_t nslots) {
    return sizeof(struct bpfs_tm_header) + (size_t)nslots * sizeof(struct bpfs_slot_tm);
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
static inline void bpfs_op_end(struct bpfs_thread_tm *t, int32_t err) {
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
#endif
