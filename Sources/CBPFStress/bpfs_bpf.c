/* bpf(2) shim: builds union bpf_attr for one command per function and calls
 * through struct bpfs_rt (see include/bpfs_bpf.h for the conventions). */
#define _GNU_SOURCE
#include "bpfs_bpf.h"
#include "bpfs_ledger.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>

#ifndef __NR_bpf
#define __NR_bpf 321
#endif

/* Size of union bpf_attr up to and including `field`: the kernel requires every
 * byte past the size we pass to be zero, and we only clear what we send. */
#define BPFS_ATTR_SZ(field) \
    (offsetof(union bpf_attr, field) + sizeof(((union bpf_attr *)0)->field))

#define BPFS_PTR(p) ((__u64)(unsigned long)(p))

/* A fail_nth armed at this thread's next bpf() (bpfs_fault_arm_next); -1: none. */
static __thread int bpfs_fault_pending_fd = -1;
static __thread unsigned int bpfs_fault_pending_n;

void bpfs_fault_arm_next(int fail_nth_fd, unsigned int n) {
    bpfs_fault_pending_fd = fail_nth_fd;
    bpfs_fault_pending_n = n;
}

int bpfs_fault_cancel(void) {
    int pending = bpfs_fault_pending_fd >= 0;
    bpfs_fault_pending_fd = -1;
    return pending;
}

/* The decimal text of the pending n written to fail-nth: no allocation in user space (no
 * stdio) and none in the kernel (proc_fail_nth_write parses into a stack buffer). A failed
 * write arms nothing; the read-back after the call then says so. */
static void bpfs_fault_arm_now(void) {
    char buf[12];
    int i = (int)sizeof buf;
    unsigned int n = bpfs_fault_pending_n;
    do { buf[--i] = (char)('0' + n % 10); n /= 10; } while (n && i > 0);
    ssize_t w = write(bpfs_fault_pending_fd, buf + i, sizeof buf - (size_t)i);
    (void)w;
    bpfs_fault_pending_fd = -1;
}

long bpfs_kernel_sys(void *ctx, int cmd, void *attr, unsigned int size) {
    (void)ctx;
    if (__builtin_expect(bpfs_fault_pending_fd >= 0, 0)) bpfs_fault_arm_now();
    long r = syscall(__NR_bpf, cmd, attr, size);
    return r < 0 ? -(long)errno : r;
}

struct bpfs_rt bpfs_kernel_rt(void) {
    struct bpfs_rt rt = { bpfs_kernel_sys, NULL };
    return rt;
}

/* Whether a successful `cmd` creates an object (or a pin) that the ledger must know. */
static inline int bpfs_creates(int cmd) {
    switch (cmd) {
    case BPF_MAP_CREATE: case BPF_PROG_LOAD: case BPF_LINK_CREATE: case BPF_RAW_TRACEPOINT_OPEN:
    case BPF_BTF_LOAD: case BPF_OBJ_PIN: return 1;
    default: return 0;
    }
}

/* Objects a command creates go into the campaign's ownership ledger (bpfs_ledger.h). */
static void bpfs_note_created(const struct bpfs_rt *rt, int cmd, const union bpf_attr *attr, int r) {
    if (!bpfs_ledger_active()) return;
    switch (cmd) {
    case BPF_MAP_CREATE: bpfs_ledger_note_fd(rt, BPFS_LEDGER_MAP, r); break;
    case BPF_PROG_LOAD: bpfs_ledger_note_fd(rt, BPFS_LEDGER_PROG, r); break;
    case BPF_LINK_CREATE:
    case BPF_RAW_TRACEPOINT_OPEN: bpfs_ledger_note_fd(rt, BPFS_LEDGER_LINK, r); break;
    case BPF_BTF_LOAD: bpfs_ledger_note_fd(rt, BPFS_LEDGER_BTF, r); break;
    case BPF_OBJ_PIN: bpfs_ledger_note_pin((const char *)(unsigned long)attr->pathname); break;
    default: break;
    }
}

static int bpfs_call(const struct bpfs_rt *rt, int cmd, union bpf_attr *attr, unsigned int size) {
    if (!rt || !rt->sys) return -EINVAL;
    /* The kernel's entry is called directly: element ops are the hot path of every scenario
     * (bench ops), and an indirect call through the table costs them for nothing. */
    long r = rt->sys == bpfs_kernel_sys ? bpfs_kernel_sys(NULL, cmd, attr, size) : rt->sys(rt->ctx, cmd, attr, size);
    if (r > 0x7fffffffL) return -EOVERFLOW;
    if (r >= 0 && bpfs_creates(cmd)) bpfs_note_created(rt, cmd, attr, (int)r);
    return (int)r;
}

int bpfs_rt_call(const struct bpfs_rt *rt, int cmd, void *attr, unsigned int size) {
    return bpfs_call(rt, cmd, (union bpf_attr *)attr, size);
}

static void bpfs_copy_name(char dst[BPF_OBJ_NAME_LEN], const char *src) {
    if (!src) return;
    size_t n = strnlen(src, BPF_OBJ_NAME_LEN - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- maps ---------------------------------------------------------------- */

int bpfs_map_create_btf(const struct bpfs_rt *rt, uint32_t map_type, uint32_t key_size,
                        uint32_t value_size, uint32_t max_entries, uint32_t map_flags,
                        const char *name, uint32_t numa_node, uint32_t inner_map_fd, uint64_t map_extra,
                        int btf_fd, uint32_t btf_key_type_id, uint32_t btf_value_type_id) {
    const unsigned int sz = (inner_map_fd || map_extra || btf_fd > 0) ? BPFS_ATTR_SZ(map_extra) : BPFS_ATTR_SZ(map_name);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.map_type = map_type;
    attr.key_size = key_size;
    attr.value_size = value_size;
    attr.max_entries = max_entries;
    attr.map_flags = map_flags;
    attr.inner_map_fd = inner_map_fd;
    if (map_flags & BPF_F_NUMA_NODE) attr.numa_node = numa_node;
    bpfs_copy_name(attr.map_name, name);
    if (btf_fd > 0) {
        attr.btf_fd = (__u32)btf_fd;
        attr.btf_key_type_id = btf_key_type_id;
        attr.btf_value_type_id = btf_value_type_id;
    }
    if (map_extra) attr.map_extra = map_extra;
    return bpfs_call(rt, BPF_MAP_CREATE, &attr, sz);
}

int bpfs_map_create_ex(const struct bpfs_rt *rt, uint32_t map_type, uint32_t key_size,
                       uint32_t value_size, uint32_t max_entries, uint32_t map_flags,
                       const char *name, uint32_t numa_node, uint32_t inner_map_fd, uint64_t map_extra) {
    return bpfs_map_create_btf(rt, map_type, key_size, value_size, max_entries, map_flags, name, numa_node,
                               inner_map_fd, map_extra, -1, 0, 0);
}

int bpfs_map_create(const struct bpfs_rt *rt, uint32_t map_type, uint32_t key_size,
                    uint32_t value_size, uint32_t max_entries, uint32_t map_flags,
                    const char *name, uint32_t numa_node) {
    return bpfs_map_create_ex(rt, map_type, key_size, value_size, max_entries, map_flags, name, numa_node, 0, 0);
}

static int bpfs_elem(const struct bpfs_rt *rt, int cmd, int map_fd, const void *key,
                     const void *value, uint64_t flags) {
    const unsigned int sz = BPFS_ATTR_SZ(flags);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.map_fd = (__u32)map_fd;
    attr.key = BPFS_PTR(key);
    attr.value = BPFS_PTR(value);
    attr.flags = flags;
    return bpfs_call(rt, cmd, &attr, sz);
}

int bpfs_map_update_elem(const struct bpfs_rt *rt, int map_fd, const void *key,
                         const void *value, uint64_t flags) {
    return bpfs_elem(rt, BPF_MAP_UPDATE_ELEM, map_fd, key, value, flags);
}

int bpfs_map_lookup_elem(const struct bpfs_rt *rt, int map_fd, const void *key,
                         void *value, uint64_t flags) {
    return bpfs_elem(rt, BPF_MAP_LOOKUP_ELEM, map_fd, key, value, flags);
}

int bpfs_map_delete_elem(const struct bpfs_rt *rt, int map_fd, const void *key) {
    const unsigned int sz = BPFS_ATTR_SZ(key);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.map_fd = (__u32)map_fd;
    attr.key = BPFS_PTR(key);
    return bpfs_call(rt, BPF_MAP_DELETE_ELEM, &attr, sz);
}

int bpfs_map_get_next_key(const struct bpfs_rt *rt, int map_fd, const void *key,
                          void *next_key) {
    const unsigned int sz = BPFS_ATTR_SZ(next_key);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.map_fd = (__u32)map_fd;
    attr.key = BPFS_PTR(key);
    attr.next_key = BPFS_PTR(next_key);
    return bpfs_call(rt, BPF_MAP_GET_NEXT_KEY, &attr, sz);
}

int bpfs_map_lookup_and_delete_elem(const struct bpfs_rt *rt, int map_fd,
                                    const void *key, void *value, uint64_t flags) {
    return bpfs_elem(rt, BPF_MAP_LOOKUP_AND_DELETE_ELEM, map_fd, key, value, flags);
}

int bpfs_map_freeze(const struct bpfs_rt *rt, int map_fd) {
    const unsigned int sz = BPFS_ATTR_SZ(map_fd);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.map_fd = (__u32)map_fd;
    return bpfs_call(rt, BPF_MAP_FREEZE, &attr, sz);
}

static int bpfs_batch(const struct bpfs_rt *rt, int cmd, int map_fd, const void *in_batch,
                      void *out_batch, const void *keys, const void *values,
                      uint32_t *count, uint64_t elem_flags, uint64_t flags) {
    const unsigned int sz = BPFS_ATTR_SZ(batch);
    union bpf_attr attr;
    if (!count) return -EINVAL;
    memset(&attr, 0, sz);
    attr.batch.map_fd = (__u32)map_fd;
    attr.batch.in_batch = BPFS_PTR(in_batch);
    attr.batch.out_batch = BPFS_PTR(out_batch);
    attr.batch.keys = BPFS_PTR(keys);
    attr.batch.values = BPFS_PTR(values);
    attr.batch.count = *count;
    attr.batch.elem_flags = elem_flags;
    attr.batch.flags = flags;
    int r = bpfs_call(rt, cmd, &attr, sz);
    /* The kernel writes count back into attr on success and on most errors. */
    *count = attr.batch.count;
    return r;
}

int bpfs_map_lookup_batch(const struct bpfs_rt *rt, int map_fd, const void *in_batch,
                          void *out_batch, void *keys, void *values, uint32_t *count,
                          uint64_t elem_flags, uint64_t flags) {
    return bpfs_batch(rt, BPF_MAP_LOOKUP_BATCH, map_fd, in_batch, out_batch, keys, values,
                      count, elem_flags, flags);
}

int bpfs_map_lookup_and_delete_batch(const struct bpfs_rt *rt, int map_fd,
                                     const void *in_batch, void *out_batch, void *keys,
                                     void *values, uint32_t *count, uint64_t elem_flags,
                                     uint64_t flags) {
    return bpfs_batch(rt, BPF_MAP_LOOKUP_AND_DELETE_BATCH, map_fd, in_batch, out_batch, keys,
                      values, count, elem_flags, flags);
}

int bpfs_map_update_batch(const struct bpfs_rt *rt, int map_fd, const void *keys,
                          const void *values, uint32_t *count, uint64_t elem_flags,
                          uint64_t flags) {
    return bpfs_batch(rt, BPF_MAP_UPDATE_BATCH, map_fd, NULL, NULL, keys, values, count,
                      elem_flags, flags);
}

int bpfs_map_delete_batch(const struct bpfs_rt *rt, int map_fd, const void *keys,
                          uint32_t *count, uint64_t elem_flags, uint64_t flags) {
    return bpfs_batch(rt, BPF_MAP_DELETE_BATCH, map_fd, NULL, NULL, keys, NULL, count,
                      elem_flags, flags);
}

/* ---- programs ------------------------------------------------------------ */

int bpfs_prog_load(const struct bpfs_rt *rt, uint32_t prog_type, const void *insns,
                   uint32_t insn_cnt, const char *license, char *log_buf,
                   uint32_t log_size, uint32_t log_level,
                   uint32_t expected_attach_type, const char *name,
                   uint32_t attach_btf_id, uint32_t prog_flags) {
    const unsigned int sz = BPFS_ATTR_SZ(fd_array);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.prog_type = prog_type;
    attr.insns = BPFS_PTR(insns);
    attr.insn_cnt = insn_cnt;
    attr.license = BPFS_PTR(license);
    if (log_buf && log_size) {
        attr.log_buf = BPFS_PTR(log_buf);
        attr.log_size = log_size;
        attr.log_level = log_level;
        log_buf[0] = '\0';
    }
    attr.expected_attach_type = expected_attach_type;
    attr.prog_flags = prog_flags;
    bpfs_copy_name(attr.prog_name, name);
    attr.attach_btf_id = attach_btf_id;
    return bpfs_call(rt, BPF_PROG_LOAD, &attr, sz);
}

int bpfs_prog_attach(const struct bpfs_rt *rt, int prog_fd, int target_fd,
                     uint32_t attach_type, uint32_t flags) {
    const unsigned int sz = BPFS_ATTR_SZ(replace_bpf_fd);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.target_fd = (__u32)target_fd;
    attr.attach_bpf_fd = (__u32)prog_fd;
    attr.attach_type = attach_type;
    attr.attach_flags = flags;
    return bpfs_call(rt, BPF_PROG_ATTACH, &attr, sz);
}

int bpfs_prog_detach(const struct bpfs_rt *rt, int prog_fd, int target_fd,
                     uint32_t attach_type) {
    const unsigned int sz = BPFS_ATTR_SZ(replace_bpf_fd);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.target_fd = (__u32)target_fd;
    attr.attach_bpf_fd = prog_fd < 0 ? 0 : (__u32)prog_fd;
    attr.attach_type = attach_type;
    return bpfs_call(rt, BPF_PROG_DETACH, &attr, sz);
}

int bpfs_prog_query(const struct bpfs_rt *rt, int target_fd, uint32_t attach_type,
                    uint32_t query_flags, uint32_t *attach_flags, uint32_t *prog_ids,
                    uint32_t *prog_cnt) {
    const unsigned int sz = BPFS_ATTR_SZ(query.prog_cnt);
    union bpf_attr attr;
    if (!prog_cnt) return -EINVAL;
    memset(&attr, 0, sz);
    attr.query.target_fd = (__u32)target_fd;
    attr.query.attach_type = attach_type;
    attr.query.query_flags = query_flags;
    attr.query.prog_ids = BPFS_PTR(prog_ids);
    attr.query.prog_cnt = *prog_cnt;
    int r = bpfs_call(rt, BPF_PROG_QUERY, &attr, sz);
    *prog_cnt = attr.query.prog_cnt;
    if (attach_flags) *attach_flags = attr.query.attach_flags;
    return r;
}

/* ---- links, objects, ids ----------------------------------------------- */

int bpfs_link_create(const struct bpfs_rt *rt, int prog_fd, int target_fd,
                     uint32_t attach_type, uint32_t flags) {
    const unsigned int sz = BPFS_ATTR_SZ(link_create.flags);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.link_create.prog_fd = (__u32)prog_fd;
    attr.link_create.target_fd = (__u32)target_fd;
    attr.link_create.attach_type = attach_type;
    attr.link_create.flags = flags;
    return bpfs_call(rt, BPF_LINK_CREATE, &attr, sz);
}

int bpfs_link_detach(const struct bpfs_rt *rt, int link_fd) {
    const unsigned int sz = BPFS_ATTR_SZ(link_detach);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.link_detach.link_fd = (__u32)link_fd;
    return bpfs_call(rt, BPF_LINK_DETACH, &attr, sz);
}

int bpfs_obj_pin(const struct bpfs_rt *rt, int fd, const char *path) {
    const unsigned int sz = BPFS_ATTR_SZ(file_flags);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.pathname = BPFS_PTR(path);
    attr.bpf_fd = (__u32)fd;
    return bpfs_call(rt, BPF_OBJ_PIN, &attr, sz);
}

int bpfs_obj_get(const struct bpfs_rt *rt, const char *path, uint32_t file_flags) {
    const unsigned int sz = BPFS_ATTR_SZ(file_flags);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.pathname = BPFS_PTR(path);
    attr.file_flags = file_flags;
    return bpfs_call(rt, BPF_OBJ_GET, &attr, sz);
}

int bpfs_obj_get_info_by_fd(const struct bpfs_rt *rt, int fd, void *info,
                            uint32_t *info_len) {
    const unsigned int sz = BPFS_ATTR_SZ(info);
    union bpf_attr attr;
    if (!info_len) return -EINVAL;
    memset(&attr, 0, sz);
    attr.info.bpf_fd = (__u32)fd;
    attr.info.info_len = *info_len;
    attr.info.info = BPFS_PTR(info);
    int r = bpfs_call(rt, BPF_OBJ_GET_INFO_BY_FD, &attr, sz);
    if (r == 0) *info_len = attr.info.info_len;
    return r;
}

static int bpfs_next_id(const struct bpfs_rt *rt, int cmd, uint32_t start_id,
                        uint32_t *next_id) {
    const unsigned int sz = BPFS_ATTR_SZ(open_flags);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.start_id = start_id;
    int r = bpfs_call(rt, cmd, &attr, sz);
    if (r == 0 && next_id) *next_id = attr.next_id;
    return r;
}

int bpfs_prog_get_next_id(const struct bpfs_rt *rt, uint32_t start_id, uint32_t *next_id) {
    return bpfs_next_id(rt, BPF_PROG_GET_NEXT_ID, start_id, next_id);
}
int bpfs_map_get_next_id(const struct bpfs_rt *rt, uint32_t start_id, uint32_t *next_id) {
    return bpfs_next_id(rt, BPF_MAP_GET_NEXT_ID, start_id, next_id);
}
int bpfs_link_get_next_id(const struct bpfs_rt *rt, uint32_t start_id, uint32_t *next_id) {
    return bpfs_next_id(rt, BPF_LINK_GET_NEXT_ID, start_id, next_id);
}
int bpfs_btf_get_next_id(const struct bpfs_rt *rt, uint32_t start_id, uint32_t *next_id) {
    return bpfs_next_id(rt, BPF_BTF_GET_NEXT_ID, start_id, next_id);
}

static int bpfs_fd_by_id(const struct bpfs_rt *rt, int cmd, uint32_t id, uint32_t open_flags) {
    const unsigned int sz = BPFS_ATTR_SZ(open_flags);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.start_id = id;
    attr.open_flags = open_flags;
    return bpfs_call(rt, cmd, &attr, sz);
}

int bpfs_prog_get_fd_by_id(const struct bpfs_rt *rt, uint32_t id) {
    return bpfs_fd_by_id(rt, BPF_PROG_GET_FD_BY_ID, id, 0);
}
int bpfs_map_get_fd_by_id(const struct bpfs_rt *rt, uint32_t id, uint32_t open_flags) {
    return bpfs_fd_by_id(rt, BPF_MAP_GET_FD_BY_ID, id, open_flags);
}
int bpfs_link_get_fd_by_id(const struct bpfs_rt *rt, uint32_t id) {
    return bpfs_fd_by_id(rt, BPF_LINK_GET_FD_BY_ID, id, 0);
}

int bpfs_raw_tracepoint_open(const struct bpfs_rt *rt, const char *name, int prog_fd) {
    const unsigned int sz = BPFS_ATTR_SZ(raw_tracepoint);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.raw_tracepoint.name = BPFS_PTR(name);
    attr.raw_tracepoint.prog_fd = (__u32)prog_fd;
    return bpfs_call(rt, BPF_RAW_TRACEPOINT_OPEN, &attr, sz);
}

int bpfs_enable_stats(const struct bpfs_rt *rt, uint32_t type) {
    const unsigned int sz = BPFS_ATTR_SZ(enable_stats);
    union bpf_attr attr;
    memset(&attr, 0, sz);
    attr.enable_stats.type = type;
    return bpfs_call(rt, BPF_ENABLE_STATS, &attr, sz);
}
