/* bpf(2) wrappers for the map fuzzer's create (map_extra, inner_map_fd); see bpfs_fuzz_maps.h. */
#include "bpfs_fuzz_maps.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <linux/bpf.h>

#define BPFS_FZ_ATTR_SZ(field) \
    (offsetof(union bpf_attr, field) + sizeof(((union bpf_attr *)0)->field))

int bpfs_fuzz_map_create(const struct bpfs_rt *rt, uint32_t map_type, uint32_t key_size,
                         uint32_t value_size, uint32_t max_entries, uint32_t map_flags,
                         const char *name, uint32_t numa_node, uint32_t inner_map_fd,
                         uint64_t map_extra) {
    const unsigned int sz = BPFS_FZ_ATTR_SZ(map_extra);
    union bpf_attr attr;
    if (!rt || !rt->sys) return -EINVAL;
    memset(&attr, 0, sz);
    attr.map_type = map_type;
    attr.key_size = key_size;
    attr.value_size = value_size;
    attr.max_entries = max_entries;
    attr.map_flags = map_flags;
    attr.inner_map_fd = inner_map_fd;
    if (map_flags & BPF_F_NUMA_NODE) attr.numa_node = numa_node;
    if (name) {
        size_t n = strnlen(name, BPF_OBJ_NAME_LEN - 1);
        memcpy(attr.map_name, name, n);
    }
    attr.map_extra = map_extra;
    return bpfs_rt_call(rt, BPF_MAP_CREATE, &attr, sz);
}

int bpfs_fuzz_map_freeze_sized(const struct bpfs_rt *rt, int map_fd, uint32_t size) {
    unsigned char buf[8192] __attribute__((aligned(8)));
    if (!rt || !rt->sys || size > sizeof(buf)) return -EINVAL;
    memset(buf, 0, sizeof(buf));
    __u32 fd = (__u32)map_fd;
    memcpy(buf, &fd, size < sizeof(fd) ? size : sizeof(fd));
    if (size > sizeof(fd)) buf[size - 1] = 0x01;
    return bpfs_rt_call(rt, BPF_MAP_FREEZE, buf, size);
}
