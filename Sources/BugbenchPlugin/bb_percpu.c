/* bugbench percpu-size: batch lookup staging per-CPU values with value_size instead of round_up(value_size, 8) x CPUs. */
#include "bb_internal.h"

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
