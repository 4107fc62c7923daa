#define _GNU_SOURCE
#include "bpfs_bench.h"
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int64_t bpfs_bench_map_loop(int map_fd, uint64_t iterations, uint32_t nkeys) {
    int64_t failures = 0;
    uint64_t value = 0;
    for (uint64_t i = 0; i < iterations; i++) {
        uint32_t key = (uint32_t)(i % nkeys);
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.map_fd = (uint32_t)map_fd;
        attr.key = (uint64_t)(uintptr_t)&key;
        attr.value = (uint64_t)(uintptr_t)&i;
        attr.flags = BPF_ANY;
        if (syscall(__NR_bpf, BPF_MAP_UPDATE_ELEM, &attr, sizeof attr) < 0) {
            if (i == 0) return -errno;
            failures++;
        }
        memset(&attr, 0, sizeof attr);
        attr.map_fd = (uint32_t)map_fd;
        attr.key = (uint64_t)(uintptr_t)&key;
        attr.value = (uint64_t)(uintptr_t)&value;
        if (syscall(__NR_bpf, BPF_MAP_LOOKUP_ELEM, &attr, sizeof attr) < 0) failures++;
    }
    return failures;
}
