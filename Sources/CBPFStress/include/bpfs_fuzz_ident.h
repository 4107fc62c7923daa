/* bpf(2) wrappers for the map fuzzer's permission and identity calls: a private bpffs that is
 * mounted nowhere (fsopen + fsmount, reachable only through its fd), OBJ_PIN and OBJ_GET with
 * file_flags and path_fd, and OBJ_GET_INFO_BY_FD with the caller's buffer. -errno on failure. */
#ifndef BPFS_FUZZ_IDENT_H
#define BPFS_FUZZ_IDENT_H
#include <stdint.h>
#include "bpfs_bpf.h"

/* BPF_F_PATH_FD (linux 6.5; the system's linux/bpf.h may predate it). */
#define BPFS_F_PATH_FD (1u << 14)

/* fsopen("bpf") + FSCONFIG_CMD_CREATE + fsmount: a detached bpffs, never attached to any
 * mount namespace; it and its pins vanish when the returned fd (O_CLOEXEC) closes. */
int bpfs_fuzz_private_bpffs(void);

/* BPF_OBJ_PIN of `fd` at `path` (relative to `path_fd` when file_flags has BPFS_F_PATH_FD).
 * Issued past the ownership ledger on purpose: the pins live in the detached private bpffs,
 * which cannot outlive this process, and thousands of them would overflow the ledger's table. */
int bpfs_fuzz_obj_pin(const struct bpfs_rt *rt, int fd, const char *path, int path_fd, uint32_t file_flags);

/* BPF_OBJ_GET of `path` with file_flags and path_fd as given. */
int bpfs_fuzz_obj_get(const struct bpfs_rt *rt, const char *path, int path_fd, uint32_t file_flags);

/* BPF_OBJ_GET_INFO_BY_FD with `info` and `*info_len` exactly as given (the info_len the kernel
 * wrote back lands in *info_len, even on failure). */
int bpfs_fuzz_obj_info(const struct bpfs_rt *rt, int fd, void *info, uint32_t *info_len);

/* BPF_MAP_GET_NEXT_ID from start_id with open_flags (which the command must refuse if set). */
int bpfs_fuzz_map_next_id(const struct bpfs_rt *rt, uint32_t start_id, uint32_t open_flags, uint32_t *next_id);
#endif
