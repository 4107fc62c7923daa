/* Baselines for `bpfstress bench`: the same bpf(2) calls a scenario makes, issued
 * from a plain C loop with no harness in between. */
#ifndef BPFS_BENCH_H
#define BPFS_BENCH_H
#include <stdint.h>

/* Alternates BPF_MAP_UPDATE_ELEM and BPF_MAP_LOOKUP_ELEM on a u32->u64 map for
 * `iterations` rounds (keys cycle over `nkeys`), via raw syscall(__NR_bpf).
 * Returns the number of failed calls, or -errno if the first call fails. */
int64_t bpfs_bench_map_loop(int map_fd, uint64_t iterations, uint32_t nkeys);
#endif
