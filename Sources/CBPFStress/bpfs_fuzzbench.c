#define _GNU_SOURCE
#include "bpfs_fuzzbench.h"
#include <errno.h>
#include <linux/bpf.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *attr) { return syscall(__NR_bpf, cmd, attr, sizeof *attr); }

int64_t bpfs_fuzzbench_loop(uint32_t rounds, uint32_t max_entries) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_HASH;
    attr.key_size = 4;
    attr.value_size = 8;
    attr.max_entries = max_entries;
    memcpy(attr.map_name, "bpfs_fuzzbench", 15);
    int fd = (int)sys_bpf(BPF_MAP_CREATE, &attr);
    if (fd < 0) return -errno;
    int64_t calls = 1;
    uint64_t value = 0, out = 0;
    for (uint32_t i = 0; i < rounds; i++) {
        uint32_t key = i % max_entries;
        value = i;
        memset(&attr, 0, sizeof attr);
        attr.map_fd = (uint32_t)fd;
        attr.key = (uint64_t)(uintptr_t)&key;
        attr.value = (uint64_t)(uintptr_t)&value;
        attr.flags = BPF_ANY;
        sys_bpf(BPF_MAP_UPDATE_ELEM, &attr);
        memset(&attr, 0, sizeof attr);
        attr.map_fd = (uint32_t)fd;
        attr.key = (uint64_t)(uintptr_t)&key;
        attr.value = (uint64_t)(uintptr_t)&out;
        sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr);
        memset(&attr, 0, sizeof attr);
        attr.map_fd = (uint32_t)fd;
        attr.key = (uint64_t)(uintptr_t)&key;
        sys_bpf(BPF_MAP_DELETE_ELEM, &attr);
        calls += 3;
    }
    close(fd);
    return calls;
}

int bpfs_pin_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -errno;
}
