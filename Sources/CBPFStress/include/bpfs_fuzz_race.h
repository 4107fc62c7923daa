/* One map raced by two threads of this process: thread A (the caller) makes a fixed sequence of
 * updates and deletes while thread B (a new thread, pinned to another CPU) walks, batch-reads,
 * batch-deletes, freezes, maps or closes the same map. Every result is recorded for the shadow
 * model, which checks only what holds under any interleaving. The fuzzer's C reproducers carry
 * the same algorithm (RaceCRepro.swift). */
#ifndef BPFS_FUZZ_RACE_H
#define BPFS_FUZZ_RACE_H
#include <stddef.h>
#include <stdint.h>
#include "bpfs_bpf.h"

enum bpfs_race_kind {
    BPFS_RACE_WALK = 0, BPFS_RACE_BATCH = 1, BPFS_RACE_DELBATCH = 2,
    BPFS_RACE_FREEZE = 3, BPFS_RACE_MMAP = 4, BPFS_RACE_CLOSE = 5,
};

struct bpfs_race {
    int fd, kind, b_cpu /* -1: the CPU after the caller's */, devnull;
    uint32_t key_size, value_len, value_size, max_entries;
    /* Thread A: `rounds` calls; a_del[j] 1 = delete a_keys[j], 0 = update it to a_values[j]. */
    uint32_t rounds;
    const uint8_t *a_del, *a_keys, *a_values;
    int32_t *a_errno;
    /* Thread B: its calls' errnos, and what they returned: obs_n (key, errno, value) entries,
     * obs_call[i] the call that returned entry i. At most call_cap calls, obs_cap entries. */
    uint32_t call_cap, call_n, obs_cap, obs_n, batch_count;
    int32_t *call_errno, *obs_errno;
    uint32_t *obs_call;
    uint8_t *obs_keys, *obs_values;
    /* mmap: the length of the map's data. */
    size_t mmap_len;
};

/* Runs the race; returns 0, or -errno when thread B could not be started. */
int bpfs_fuzz_race(const struct bpfs_rt *rt, struct bpfs_race *r);
#endif
