/* Helpers of the map fuzzer (bpfstress fuzz): the raw C baseline for `bpfstress bench fuzz`
 * and the thread pinning the LRU shadow model relies on. */
#ifndef BPFS_FUZZBENCH_H
#define BPFS_FUZZBENCH_H
#include <stdint.h>

/* The baseline of `bpfstress bench fuzz`: BPF_MAP_CREATE of a hash map (key 4, value 8,
 * max_entries `max_entries`), then for i in [0, rounds): BPF_MAP_UPDATE_ELEM(key i % max, BPF_ANY),
 * BPF_MAP_LOOKUP_ELEM(key), BPF_MAP_DELETE_ELEM(key), via raw syscall(__NR_bpf), then close.
 * The same calls the fuzzer's bench program makes. Returns the bpf() calls issued, or -errno
 * when the map cannot be created. */
int64_t bpfs_fuzzbench_loop(uint32_t rounds, uint32_t max_entries);

/* bpfs_fuzzbench_loop with the key (4 bytes), value and lookup output (8 bytes each) at the
 * given addresses: the fuzzer's guard-page slots, so both sides pass identical arguments.
 * NULL for any of them means a stack buffer. */
int64_t bpfs_fuzzbench_loop_at(uint32_t rounds, uint32_t max_entries, void *key_buf, void *value_buf, void *out_buf);

/* sched_setaffinity(0, {cpu}): pins the calling thread. 0 or -errno. */
int bpfs_pin_thread(int cpu);
#endif
