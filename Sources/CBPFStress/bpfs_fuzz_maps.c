/* bpf(2) wrappers for the map fuzzer's create (map_extra, inner_map_fd, BTF), sized freeze and BTF load; see bpfs_fuzz_maps.h. */
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
    /* btf_fd and the type ids stay 0: the kernel reads BTF only when a type id is set. */
    return bpfs_fuzz_map_create_btf(rt, map_type, key_size, value_size, max_entries, map_flags, name,
                                    numa_node, inner_map_fd, map_extra, 0, 0, 0);
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

int bpfs_fuzz_btf_load(const struct bpfs_rt *rt, const void *blob, uint32_t size) {
    const unsigned int sz = BPFS_FZ_ATTR_SZ(btf_log_level);
    union bpf_attr attr;
    if (!rt || !rt->sys) return -EINVAL;
    memset(&attr, 0, sz);
    attr.btf = (__u64)(uintptr_t)blob;
    attr.btf_size = size;
    return bpfs_rt_call(rt, BPF_BTF_LOAD, &attr, sz);
}

int bpfs_fuzz_map_create_btf(const struct bpfs_rt *rt, uint32_t map_type, uint32_t key_size,
                             uint32_t value_size, uint32_t max_entries, uint32_t map_flags,
                             const char *name, uint32_t numa_node, uint32_t inner_map_fd,
                             uint64_t map_extra, int btf_fd, uint32_t btf_key_type_id,
                             uint32_t btf_value_type_id) {
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
    attr.btf_fd = (__u32)btf_fd;
    attr.btf_key_type_id = btf_key_type_id;
    attr.btf_value_type_id = btf_value_type_id;
    attr.map_extra = map_extra;
    return bpfs_rt_call(rt, BPF_MAP_CREATE, &attr, sz);
}
