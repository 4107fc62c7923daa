/* bpf(2) calls the map fuzzer needs beyond bpfs_bpf.h (map_extra, inner_map_fd and BTF
 * creates are bpfs_map_create_ex and bpfs_map_create_btf there): attrs of deliberate sizes. Same conventions: -errno on failure. */
#ifndef BPFS_FUZZ_MAPS_H
#define BPFS_FUZZ_MAPS_H
#include <stdint.h>
#include "bpfs_bpf.h"

/* BPF_MAP_FREEZE with an attr of `size` bytes (up to 8192): map_fd, then zeros, and the last
 * byte 0x01 when size > 4 (a non-zero byte past the command's last field). The kernel answers
 * EINVAL for such a byte inside its union bpf_attr and E2BIG beyond it or past a page. */
int bpfs_fuzz_map_freeze_sized(const struct bpfs_rt *rt, int map_fd, uint32_t size);

/* BPF_BTF_LOAD of a `size`-byte blob (no log); returns the BTF fd. */
int bpfs_fuzz_btf_load(const struct bpfs_rt *rt, const void *blob, uint32_t size);

/* __builtin_prefetch of the two cache lines at `p` (read, keep in all levels): the fuzz loop
 * asks for the next call while the kernel runs this one, which would otherwise evict it. */
static inline __attribute__((always_inline)) void bpfs_prefetch2(const void *p) {
    __builtin_prefetch(p, 0, 3);
    __builtin_prefetch((const char *)p + 64, 0, 3);
}

#endif
