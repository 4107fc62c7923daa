/* bpf(2) calls of the map fuzzer with attrs of its own making (sized freeze) and the BTF load of its BTF-defined values; see bpfs_fuzz_maps.h. */
#include "bpfs_fuzz_maps.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <linux/bpf.h>

#define BPFS_FZ_ATTR_SZ(field) \
    (offsetof(union bpf_attr, field) + sizeof(((union bpf_attr *)0)->field))

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
