/* The map fuzzer's private bpffs, pins, OBJ_GET, GET_INFO and GET_NEXT_ID; see bpfs_fuzz_ident.h. */
#define _GNU_SOURCE
#include "bpfs_fuzz_ident.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/mount.h>

/* The BPF_OBJ_PIN / BPF_OBJ_GET attr with path_fd (added in 6.5, after the system header). */
struct bpfs_obj_attr {
    __u64 pathname;
    __u32 bpf_fd;
    __u32 file_flags;
    __s32 path_fd;
};

int bpfs_fuzz_private_bpffs(void) {
#if defined(SYS_fsopen) && defined(SYS_fsconfig) && defined(SYS_fsmount)
    int fs = (int)syscall(SYS_fsopen, "bpf", FSOPEN_CLOEXEC);
    if (fs < 0) return -errno;
    if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        int e = errno;
        close(fs);
        return -e;
    }
    int mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
    int e = errno;
    close(fs);
    return mnt < 0 ? -e : mnt;
#else
    return -ENOSYS;
#endif
}

int bpfs_fuzz_obj_pin(const struct bpfs_rt *rt, int fd, const char *path, int path_fd, uint32_t file_flags) {
    struct bpfs_obj_attr attr;
    if (!rt || !rt->sys) return -EINVAL;
    memset(&attr, 0, sizeof attr);
    attr.pathname = (__u64)(unsigned long)path;
    attr.bpf_fd = (__u32)fd;
    attr.file_flags = file_flags;
    attr.path_fd = path_fd;
    long r = rt->sys(rt->ctx, BPF_OBJ_PIN, &attr, sizeof attr);
    return (int)r;
}

int bpfs_fuzz_obj_get(const struct bpfs_rt *rt, const char *path, int path_fd, uint32_t file_flags) {
    struct bpfs_obj_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.pathname = (__u64)(unsigned long)path;
    attr.file_flags = file_flags;
    attr.path_fd = path_fd;
    return bpfs_rt_call(rt, BPF_OBJ_GET, &attr, sizeof attr);
}

int bpfs_fuzz_obj_info(const struct bpfs_rt *rt, int fd, void *info, uint32_t *info_len) {
    union bpf_attr attr;
    const unsigned int sz = offsetof(union bpf_attr, info) + sizeof(attr.info);
    memset(&attr, 0, sz);
    attr.info.bpf_fd = (__u32)fd;
    attr.info.info_len = *info_len;
    attr.info.info = (__u64)(unsigned long)info;
    int r = bpfs_rt_call(rt, BPF_OBJ_GET_INFO_BY_FD, &attr, sz);
    *info_len = attr.info.info_len;
    return r;
}

int bpfs_fuzz_map_next_id(const struct bpfs_rt *rt, uint32_t start_id, uint32_t open_flags, uint32_t *next_id) {
    union bpf_attr attr;
    const unsigned int sz = offsetof(union bpf_attr, open_flags) + sizeof(attr.open_flags);
    memset(&attr, 0, sz);
    attr.start_id = start_id;
    attr.open_flags = open_flags;
    int r = bpfs_rt_call(rt, BPF_MAP_GET_NEXT_ID, &attr, sz);
    *next_id = attr.next_id;
    return r;
}
