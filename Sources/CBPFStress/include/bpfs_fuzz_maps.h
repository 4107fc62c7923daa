/* bpf(2) wrappers the map fuzzer needs beyond bpfs_bpf.h: map creation with map_extra
 * (bloom filters) and inner_map_fd (map-in-map). Same conventions: -errno on failure. */
#ifndef BPFS_FUZZ_MAPS_H
#define BPFS_FUZZ_MAPS_H
#include <stdint.h>
#include "bpfs_bpf.h"

/* BPF_MAP_CREATE with attr up to map_extra (the executor's create for every type). */
int bpfs_fuzz_map_create(const struct bpfs_rt *rt, uint32_t map_type, uint32_t key_size,
                         uint32_t value_size, uint32_t max_entries, uint32_t map_flags,
                         const char *name, uint32_t numa_node, uint32_t inner_map_fd,
                         uint64_t map_extra);

/* BPF_MAP_FREEZE with an attr of `size` bytes (up to 8192): map_fd, then zeros, and the last
 * byte 0x01 when size > 4 (a non-zero byte past the command's last field). The kernel answers
 * EINVAL for such a byte inside its union bpf_attr and E2BIG beyond it or past a page. */
int bpfs_fuzz_map_freeze_sized(const struct bpfs_rt *rt, int map_fd, uint32_t size);
#endif
