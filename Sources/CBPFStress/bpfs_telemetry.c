#define _GNU_SOURCE
#include "bpfs_telemetry.h"
#include <errno.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>
#include <stddef.h>
#include <dlfcn.h>

bpfs_clock_fn bpfs_clock_gettime = clock_gettime;

/* glibc has the vDSO mapped already; RTLD_NOLOAD only finds it. */
__attribute__((constructor)) static void bpfs_clock_resolve(void) {
    void *vdso = dlopen("linux-vdso.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (!vdso) return;
    void *fn = dlsym(vdso, "__vdso_clock_gettime");
    if (fn) bpfs_clock_gettime = (bpfs_clock_fn)fn;
}

void bpfs_op_end_timed(struct bpfs_thread_tm *t, struct bpfs_thread_hist *h, int32_t err) {
    uint32_t flags = t->inflight_flags;
    uint32_t kind = t->inflight_kind;
    uint64_t start = t->inflight_start_ns;
    bpfs_op_end(t, err);
    uint64_t now = t->heartbeat_ns;
    bpfs_hist_record(h, kind, now > start ? now - start : 0, (flags & BPFS_OP_SAMPLED) ? 1u : 0u);
}

int bpfs_tm_read_ring(const struct bpfs_thread_tm *t, struct bpfs_op_record *out) {
    uint64_t head = __atomic_load_n(&t->ring_head, __ATOMIC_ACQUIRE);
    uint64_t first = head > BPFS_RING_LEN ? head - BPFS_RING_LEN : 0;
    int n = 0;
    for (uint64_t i = first; i < head; i++) {
        const struct bpfs_op_record *r = &t->ring[i % BPFS_RING_LEN];
        uint64_t seq = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);
        if (seq != i + 1) continue;
        struct bpfs_op_record copy;
        memcpy(&copy, r, sizeof copy);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        /* Re-check: the writer zeroes seq before rewriting an entry. */
        if (__atomic_load_n(&r->seq, __ATOMIC_RELAXED) != i + 1) continue;
        copy.seq = i + 1;
        copy.label[BPFS_LABEL_LEN - 1] = 0;
        out[n++] = copy;
    }
    return n;
}

int bpfs_tm_add_finding(struct bpfs_slot_tm *s, int32_t tid, uint32_t check, int32_t err, uint32_t kind,
                        const char *title, const char *text) {
    __atomic_fetch_add(&s->nfindings, 1, __ATOMIC_ACQ_REL);
    struct bpfs_finding_tm *f = NULL;
    int idx = -1;
    for (int i = 0; i < BPFS_MAX_FINDINGS && !f; i++) {
        uint32_t expected = BPFS_FINDING_FREE;
        if (__atomic_compare_exchange_n(&s->findings[i].ready, &expected, BPFS_FINDING_WRITING, 0,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            f = &s->findings[i];
            idx = i;
        }
    }
    if (!f) return -1;
    f->tid = tid;
    f->check = check;
    f->err = err;
    f->kind = kind;
    size_t n = title ? strnlen(title, BPFS_FINDING_TITLE_LEN - 1) : 0;
    if (n) memcpy(f->title, title, n);
    f->title[n] = 0;
    n = text ? strnlen(text, BPFS_FINDING_TEXT_LEN - 1) : 0;
    if (n) memcpy(f->text, text, n);
    f->text[n] = 0;
    __atomic_store_n(&f->ready, BPFS_FINDING_READY, __ATOMIC_RELEASE);
    return idx;
}

int bpfs_tm_take_finding(struct bpfs_slot_tm *s, int index, struct bpfs_finding_tm *out) {
    struct bpfs_finding_tm *f = &s->findings[index];
    if (__atomic_load_n(&f->ready, __ATOMIC_ACQUIRE) != BPFS_FINDING_READY) return 0;
    memcpy(out, f, sizeof *out);
    out->title[BPFS_FINDING_TITLE_LEN - 1] = 0;
    out->text[BPFS_FINDING_TEXT_LEN - 1] = 0;
    __atomic_store_n(&f->ready, BPFS_FINDING_FREE, __ATOMIC_RELEASE);
    return 1;
}

int bpfs_tm_create(uint32_t nslots, void **base_out) {
    int fd0 = memfd_create("bpfstress-telemetry", MFD_CLOEXEC);
    if (fd0 < 0) return -errno;
    /* Keep it above the fds a worker gets by dup2 (3, 4): dup2 onto itself would not
     * clear CLOEXEC. */
    int fd = fcntl(fd0, F_DUPFD_CLOEXEC, 10);
    close(fd0);
    if (fd < 0) return -errno;
    size_t size = bpfs_tm_size(nslots);
    if (ftruncate(fd, (off_t)size) != 0) { int e = errno; close(fd); return -e; }
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) { int e = errno; close(fd); return -e; }
    struct bpfs_tm_header *h = base;
    h->version = BPFS_TM_VERSION;
    h->nslots = nslots;
    h->size = size;
    h->start_ns = bpfs_now_ns();
    __atomic_store_n(&h->magic, BPFS_TM_MAGIC, __ATOMIC_RELEASE);
    *base_out = base;
    return fd;
}

int bpfs_tm_attach(int fd, void **base_out, uint64_t *size_out) {
    struct bpfs_tm_header h;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) return -EIO;
    if (h.magic != BPFS_TM_MAGIC || h.version != BPFS_TM_VERSION) return -EPROTO;
    void *base = mmap(NULL, h.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return -errno;
    *base_out = base;
    *size_out = h.size;
    return 0;
}

void bpfs_tm_hist_reset(void *base, uint32_t slot) {
    for (uint32_t t = 0; t < BPFS_MAX_THREADS; t++) {
        struct bpfs_thread_hist *h = bpfs_tm_thread_hist(base, slot, t);
        /* Only the histograms in use were ever touched; leave the rest unfaulted. */
        uint32_t n = __atomic_load_n(&h->nhist, __ATOMIC_ACQUIRE);
        if (n == 0 && h->rng == 0) continue;
        for (uint32_t i = 0; i < n && i < BPFS_HIST_PER_THREAD; i++) memset(&h->hist[i], 0, sizeof h->hist[i]);
        memset(h, 0, offsetof(struct bpfs_thread_hist, hist));
    }
}

int bpfs_hist_read(const struct bpfs_thread_hist *h, uint32_t i, uint32_t *kind, uint32_t *sampled,
                   uint64_t *count, uint64_t *sum_ns, uint64_t *max_ns, uint64_t *buckets) {
    if (i >= __atomic_load_n(&h->nhist, __ATOMIC_ACQUIRE) || i >= BPFS_HIST_PER_THREAD) return 0;
    const struct bpfs_hist *x = &h->hist[i];
    *kind = x->kind;
    *sampled = x->sampled;
    *count = __atomic_load_n(&x->count, __ATOMIC_RELAXED);
    *sum_ns = __atomic_load_n(&x->sum_ns, __ATOMIC_RELAXED);
    *max_ns = __atomic_load_n(&x->max_ns, __ATOMIC_RELAXED);
    for (uint32_t b = 0; b < BPFS_HIST_BUCKETS; b++) buckets[b] = __atomic_load_n(&x->buckets[b], __ATOMIC_RELAXED);
    return 1;
}

uint64_t bpfs_hist_untracked(const struct bpfs_thread_hist *h) {
    return __atomic_load_n(&h->untracked, __ATOMIC_RELAXED);
}
