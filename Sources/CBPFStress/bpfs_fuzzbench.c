#define _GNU_SOURCE
#include "bpfs_fuzzbench.h"
#include <errno.h>
#include <linux/bpf.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stddef.h>

/* The same attr sizes the fuzzer's wrappers pass (bpfs_bpf.c: up to the last field used). */
#define FB_ATTR_SZ(field) (offsetof(union bpf_attr, field) + sizeof(((union bpf_attr *)0)->field))

static long sys_bpf(int cmd, union bpf_attr *attr, unsigned int size) { return syscall(__NR_bpf, cmd, attr, size); }

int64_t bpfs_fuzzbench_loop_at(uint32_t rounds, uint32_t max_entries, void *key_buf, void *value_buf, void *out_buf) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_HASH;
    attr.key_size = 4;
    attr.value_size = 8;
    attr.max_entries = max_entries;
    memcpy(attr.map_name, "bpfs_fuzzbench", 15);
    int fd = (int)sys_bpf(BPF_MAP_CREATE, &attr, FB_ATTR_SZ(map_name));
    if (fd < 0) return -errno;
    /* Stack buffers unless the caller placed them (the fuzzer's guarded slots). */
    uint32_t stack_key = 0;
    uint64_t stack_value = 0, stack_out = 0;
    uint32_t *key = key_buf ? key_buf : &stack_key;
    uint64_t *value = value_buf ? value_buf : &stack_value;
    uint64_t *out = out_buf ? out_buf : &stack_out;
    int64_t calls = 1;
    for (uint32_t i = 0; i < rounds; i++) {
        memcpy(key, &(uint32_t){i % max_entries}, 4);
        memcpy(value, &(uint64_t){i}, 8);
        memset(&attr, 0, FB_ATTR_SZ(flags));
        attr.map_fd = (uint32_t)fd;
        attr.key = (uint64_t)(uintptr_t)key;
        attr.value = (uint64_t)(uintptr_t)value;
        attr.flags = BPF_ANY;
        sys_bpf(BPF_MAP_UPDATE_ELEM, &attr, FB_ATTR_SZ(flags));
        memset(&attr, 0, FB_ATTR_SZ(flags));
        attr.map_fd = (uint32_t)fd;
        attr.key = (uint64_t)(uintptr_t)key;
        attr.value = (uint64_t)(uintptr_t)out;
        sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr, FB_ATTR_SZ(flags));
        memset(&attr, 0, FB_ATTR_SZ(key));
        attr.map_fd = (uint32_t)fd;
        attr.key = (uint64_t)(uintptr_t)key;
        sys_bpf(BPF_MAP_DELETE_ELEM, &attr, FB_ATTR_SZ(key));
        calls += 3;
    }
    close(fd);
    return calls;
}

int64_t bpfs_fuzzbench_loop(uint32_t rounds, uint32_t max_entries) {
    return bpfs_fuzzbench_loop_at(rounds, max_entries, NULL, NULL, NULL);
}

int bpfs_pin_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -errno;
}
