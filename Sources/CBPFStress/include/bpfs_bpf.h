/* bpf(2) shim: one function per bpf command. Each builds `union bpf_attr`
 * (zeroed only up to the last field it uses, like libbpf's bpf.c) and calls
 * through a runtime entry, so that a plugin runtime can replace the syscall.
 *
 * Conventions for every bpfs_* wrapper below:
 *  - the first argument is the runtime entry (`rt`);
 *  - the result is >= 0 on success (an fd, an id, or 0) or -errno on failure;
 *  - global errno is never the error channel (it may still be clobbered).
 * This header is self-contained (only stdint types) so that Swift does not
 * import the whole of linux/bpf.h, whose 6.1 copy is older than the kernel. */
#ifndef BPFS_BPF_H
#define BPFS_BPF_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The replaceable bpf(2) entry: returns >= 0 or -errno. */
typedef long (*bpfs_sys_fn)(void *ctx, int cmd, void *attr, unsigned int size);

/** A runtime entry: the function every wrapper calls, and its context. */
struct bpfs_rt {
    bpfs_sys_fn sys;
    void *ctx;
};

/** The real kernel: syscall(__NR_bpf, cmd, attr, size), mapped to -errno on failure. Arms a
 *  fault that bpfs_fault_arm_next left pending on this thread right before the syscall. */
long bpfs_kernel_sys(void *ctx, int cmd, void *attr, unsigned int size);

/** fail_nth: writes `n` to `fail_nth_fd` (this thread's /proc/thread-self/fail-nth) right
 *  before this thread's next bpf() through bpfs_kernel_sys, so that nothing between the
 *  fuzzer's fail_nth call and the armed call (Swift code that may fault in a page or grow the
 *  heap) can take the fault. */
void bpfs_fault_arm_next(int fail_nth_fd, unsigned int n);

/** Cancels a pending bpfs_fault_arm_next. Returns 1 when it was still pending (no bpf() ran
 *  since, nothing was armed), 0 when it had been armed or none was pending. */
int bpfs_fault_cancel(void);

/* One bpf command through `rt`, as every wrapper here issues it: errors as -errno, and what
 * the command creates recorded in the ownership ledger (bpfs_ledger.h). For attrs built
 * outside this file (the fuzzer's own sizes and fields); `attr` may be longer than
 * union bpf_attr. */
int bpfs_rt_call(const struct bpfs_rt *rt, int cmd, void *attr, unsigned int size);

/** A runtime entry that calls the kernel directly (ctx NULL). */
struct bpfs_rt bpfs_kernel_rt(void);

/* ---- maps ---------------------------------------------------------------- */

/** BPF_MAP_CREATE. `name` may be NULL (at most 15 bytes are used);
 *  `numa_node` is only sent when map_flags has BPF_F_NUMA_NODE (1U << 2). */
int bpfs_map_create(const struct bpfs_rt *rt, uint32_t map_type, uint32_t key_size,
                    uint32_t value_size, uint32_t max_entries, uint32_t map_flags,
                    const char *name, uint32_t numa_node);

/** BPF_MAP_CREATE with inner_map_fd (map-in-map) and map_extra (bloom filters): the attr runs
 *  up to map_extra when either is non-zero, else up to map_name as bpfs_map_create's. */
int bpfs_map_create_ex(const struct bpfs_rt *rt, uint32_t map_type, uint32_t key_size,
                       uint32_t value_size, uint32_t max_entries, uint32_t map_flags,
                       const char *name, uint32_t numa_node, uint32_t inner_map_fd, uint64_t map_extra);

/** bpfs_map_create_ex with btf_fd, btf_key_type_id and btf_value_type_id (BTF-defined values:
 *  bpf_spin_lock, bpf_timer, kptr fields); the attr runs up to map_extra when btf_fd is set. */
int bpfs_map_create_btf(const struct bpfs_rt *rt, uint32_t map_type, uint32_t key_size,
                        uint32_t value_size, uint32_t max_entries, uint32_t map_flags,
                        const char *name, uint32_t numa_node, uint32_t inner_map_fd, uint64_t map_extra,
                        int btf_fd, uint32_t btf_key_type_id, uint32_t btf_value_type_id);

/** BPF_MAP_UPDATE_ELEM with flags BPF_ANY/BPF_NOEXIST/BPF_EXIST(|BPF_F_LOCK). */
int bpfs_map_update_elem(const struct bpfs_rt *rt, int map_fd, const void *key,
                         const void *value, uint64_t flags);

/** BPF_MAP_LOOKUP_ELEM; flags may carry BPF_F_LOCK. Missing key: -ENOENT. */
int bpfs_map_lookup_elem(const struct bpfs_rt *rt, int map_fd, const void *key,
                         void *value, uint64_t flags);

/** BPF_MAP_DELETE_ELEM. Missing key: -ENOENT. */
int bpfs_map_delete_elem(const struct bpfs_rt *rt, int map_fd, const void *key);

/** BPF_MAP_GET_NEXT_KEY. `key` NULL (or a key not in the map) yields the first
 *  key; -ENOENT after the last key. */
int bpfs_map_get_next_key(const struct bpfs_rt *rt, int map_fd, const void *key,
                          void *next_key);

/** BPF_MAP_LOOKUP_AND_DELETE_ELEM (queue/stack pop with key NULL; hash types
 *  since 5.14). */
int bpfs_map_lookup_and_delete_elem(const struct bpfs_rt *rt, int map_fd,
                                    const void *key, void *value, uint64_t flags);

/** BPF_MAP_FREEZE: after it, user-space writes fail with -EPERM. */
int bpfs_map_freeze(const struct bpfs_rt *rt, int map_fd);

/** BPF_MAP_LOOKUP_BATCH.
 *  in_batch: NULL starts at the beginning; otherwise pass the previous out_batch.
 *  out_batch: opaque cursor; hash maps write a u32 bucket index, array maps a
 *  key, so give it max(key_size, 8) bytes.
 *  keys/values: room for *count entries; per-CPU maps need a value stride of
 *  round_up(value_size, 8) * possible CPUs.
 *  *count: in = capacity, out = entries written.
 *  Edge cases: -ENOENT means the end of the map was reached and *count entries
 *  (possibly 0) of the last batch were still written; any other non-EFAULT error
 *  leaves *count = entries read before the error; after -EFAULT *count must not
 *  be trusted. Hash maps return -ENOSPC (count 0) when one bucket holds more
 *  entries than *count. Types without batch support return -EINVAL or the
 *  kernel-internal -ENOTSUPP (524). */
int bpfs_map_lookup_batch(const struct bpfs_rt *rt, int map_fd, const void *in_batch,
                          void *out_batch, void *keys, void *values, uint32_t *count,
                          uint64_t elem_flags, uint64_t flags);

/** BPF_MAP_LOOKUP_AND_DELETE_BATCH: same cursor/buffer rules as lookup_batch.
 *  Edge cases: after a non-EFAULT error with *count different from the input,
 *  up to *count entries may have been deleted (and were returned); after -EFAULT
 *  entries may have been deleted without being returned, and *count must not be
 *  trusted. Only hash-type maps implement it (others: -EINVAL / -ENOTSUPP). */
int bpfs_map_lookup_and_delete_batch(const struct bpfs_rt *rt, int map_fd,
                                     const void *in_batch, void *out_batch, void *keys,
                                     void *values, uint32_t *count, uint64_t elem_flags,
                                     uint64_t flags);

/** BPF_MAP_UPDATE_BATCH: keys/values hold *count entries (per-CPU stride as
 *  above). elem_flags may only be 0 (BPF_ANY) or BPF_F_LOCK: despite libbpf's
 *  comment, the kernel rejects BPF_NOEXIST/BPF_EXIST here with -EINVAL.
 *  Edge cases: when an element fails (e.g. -E2BIG when the map fills) *count =
 *  entries updated before it; argument errors (-EINVAL, -EBADF) return before
 *  any element and leave *count as passed in; after -EFAULT *count must not be
 *  trusted. */
int bpfs_map_update_batch(const struct bpfs_rt *rt, int map_fd, const void *keys,
                          const void *values, uint32_t *count, uint64_t elem_flags,
                          uint64_t flags);

/** BPF_MAP_DELETE_BATCH: keys holds *count keys; elem_flags 0 or BPF_F_LOCK.
 *  Edge cases: on an element error (e.g. -ENOENT for a missing key) *count =
 *  keys deleted before it; argument errors leave *count as passed in; after
 *  -EFAULT *count must not be trusted. Array maps have no delete batch: the
 *  kernel-internal -ENOTSUPP (524), whatever the arguments (verified on 6.18). */
int bpfs_map_delete_batch(const struct bpfs_rt *rt, int map_fd, const void *keys,
                          uint32_t *count, uint64_t elem_flags, uint64_t flags);

/* ---- programs ------------------------------------------------------------ */

/** BPF_PROG_LOAD. `insns` are 8-byte struct bpf_insn; `log_buf` may be NULL
 *  (then log_level/log_size must be 0); `name` may be NULL; attach_btf_id 0 = none;
 *  expected_attach_type is sent as given (0 is BPF_CGROUP_INET_INGRESS, which the
 *  kernel ignores for program types that do not need one). */
int bpfs_prog_load(const struct bpfs_rt *rt, uint32_t prog_type, const void *insns,
                   uint32_t insn_cnt, const char *license, char *log_buf,
                   uint32_t log_size, uint32_t log_level,
                   uint32_t expected_attach_type, const char *name,
                   uint32_t attach_btf_id, uint32_t prog_flags);

/** BPF_PROG_ATTACH (flags: BPF_F_ALLOW_OVERRIDE 1, BPF_F_ALLOW_MULTI 2, BPF_F_REPLACE 4). */
int bpfs_prog_attach(const struct bpfs_rt *rt, int prog_fd, int target_fd,
                     uint32_t attach_type, uint32_t flags);

/** BPF_PROG_DETACH; prog_fd < 0 sends 0 (legacy single-program detach). */
int bpfs_prog_detach(const struct bpfs_rt *rt, int prog_fd, int target_fd,
                     uint32_t attach_type);

/** BPF_PROG_QUERY. *prog_cnt: in = capacity of prog_ids, out = programs
 *  attached; -ENOSPC when the capacity was too small (ids hold the first ones and
 *  *prog_cnt the total). attach_flags (may be NULL) receives the attach flags. */
int bpfs_prog_query(const struct bpfs_rt *rt, int target_fd, uint32_t attach_type,
                    uint32_t query_flags, uint32_t *attach_flags, uint32_t *prog_ids,
                    uint32_t *prog_cnt);

/* ---- links, objects, ids ----------------------------------------------- */

/** BPF_LINK_CREATE (target fd + attach type + flags; no type-specific extras). */
int bpfs_link_create(const struct bpfs_rt *rt, int prog_fd, int target_fd,
                     uint32_t attach_type, uint32_t flags);

/** BPF_LINK_DETACH: forces a link into the detached state (the fd stays valid). */
int bpfs_link_detach(const struct bpfs_rt *rt, int link_fd);

/** BPF_OBJ_PIN: pin fd at a path in a bpffs mount. */
int bpfs_obj_pin(const struct bpfs_rt *rt, int fd, const char *path);

/** BPF_OBJ_GET: open a pinned object; file_flags BPF_F_RDONLY/BPF_F_WRONLY or 0. */
int bpfs_obj_get(const struct bpfs_rt *rt, const char *path, uint32_t file_flags);

/** BPF_OBJ_GET_INFO_BY_FD. *info_len: in = buffer size, out = bytes filled. */
int bpfs_obj_get_info_by_fd(const struct bpfs_rt *rt, int fd, void *info,
                            uint32_t *info_len);

/** BPF_PROG_GET_NEXT_ID (cmd 11), BPF_MAP_GET_NEXT_ID (12), BPF_BTF_GET_NEXT_ID
 *  (23), BPF_LINK_GET_NEXT_ID (31): -ENOENT after the last id. */
int bpfs_prog_get_next_id(const struct bpfs_rt *rt, uint32_t start_id, uint32_t *next_id);
int bpfs_map_get_next_id(const struct bpfs_rt *rt, uint32_t start_id, uint32_t *next_id);
int bpfs_link_get_next_id(const struct bpfs_rt *rt, uint32_t start_id, uint32_t *next_id);
int bpfs_btf_get_next_id(const struct bpfs_rt *rt, uint32_t start_id, uint32_t *next_id);

/** BPF_PROG_GET_FD_BY_ID / BPF_MAP_GET_FD_BY_ID / BPF_LINK_GET_FD_BY_ID. */
int bpfs_prog_get_fd_by_id(const struct bpfs_rt *rt, uint32_t id);
int bpfs_map_get_fd_by_id(const struct bpfs_rt *rt, uint32_t id, uint32_t open_flags);
int bpfs_link_get_fd_by_id(const struct bpfs_rt *rt, uint32_t id);

/** BPF_RAW_TRACEPOINT_OPEN: returns a link-like fd; name NULL for BTF-typed programs. */
int bpfs_raw_tracepoint_open(const struct bpfs_rt *rt, const char *name, int prog_fd);

/** BPF_ENABLE_STATS (type 0 = BPF_STATS_RUN_TIME): stats stay on while the fd is open. */
int bpfs_enable_stats(const struct bpfs_rt *rt, uint32_t type);

/* ---- info helpers (decode struct bpf_*_info into stable structs) -------- */

struct bpfs_prog_info {
    uint32_t type;
    uint32_t id;
    char name[16];
    uint64_t run_time_ns;
    uint64_t run_cnt;
    uint32_t xlated_prog_len;
    uint32_t jited_prog_len;
    uint32_t nr_map_ids;
    uint32_t verified_insns;
};

struct bpfs_map_info {
    uint32_t type;
    uint32_t id;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    char name[16];
};

struct bpfs_link_info {
    uint32_t type;
    uint32_t id;
    uint32_t prog_id;
    uint64_t cgroup_id;     /* BPF_LINK_TYPE_CGROUP (3) only */
    uint32_t attach_type;   /* BPF_LINK_TYPE_CGROUP (3) only */
};

/** BPF_OBJ_GET_INFO_BY_FD on a program, decoded. */
int bpfs_prog_info(const struct bpfs_rt *rt, int prog_fd, struct bpfs_prog_info *out);
/** BPF_OBJ_GET_INFO_BY_FD on a map, decoded. */
int bpfs_map_info(const struct bpfs_rt *rt, int map_fd, struct bpfs_map_info *out);
/** BPF_OBJ_GET_INFO_BY_FD on a link, decoded. */
int bpfs_link_info(const struct bpfs_rt *rt, int link_fd, struct bpfs_link_info *out);

/* ---- object file parsing (libbpf open + libelf relocations) -------------- */

/** Opaque ELF object parsed by libbpf (bpf_object__open_file, no load). */
struct bpfs_obj;

/** Opens `path`. On failure returns NULL, sets *err to a -errno or -LIBBPF_ERRNO
 *  value and copies libbpf's last message into msg (may be NULL). */
struct bpfs_obj *bpfs_obj_open(const char *path, int *err, char *msg, unsigned int msg_len);
void bpfs_obj_close(struct bpfs_obj *obj);

/** License section contents ("" if absent). */
const char *bpfs_obj_license(const struct bpfs_obj *obj);

/** Non-internal maps declared in the object (.maps / legacy maps). */
int bpfs_obj_map_count(const struct bpfs_obj *obj);
struct bpfs_obj_map_def {
    const char *name;
    uint32_t type, key_size, value_size, max_entries, map_flags, numa_node;
};
int bpfs_obj_map_def(const struct bpfs_obj *obj, int index, struct bpfs_obj_map_def *out);

/** Programs (entry points, not subprograms). */
int bpfs_obj_prog_count(const struct bpfs_obj *obj);
struct bpfs_obj_prog_def {
    const char *name;
    const char *section;
    uint32_t type, expected_attach_type;
    const void *insns;      /* owned by obj, raw from the ELF */
    uint32_t insn_cnt;
};
int bpfs_obj_prog_def(const struct bpfs_obj *obj, int index, struct bpfs_obj_prog_def *out);

/** One relocation of a program instruction, read from the ELF .rel sections. */
struct bpfs_obj_reloc {
    uint32_t insn_index;    /* instruction index within the program */
    int32_t map_index;      /* index into bpfs_obj_map_def, or -1 when unsupported */
    const char *symbol;     /* symbol name the relocation refers to */
    const char *target_section; /* section of that symbol ("" if undefined) */
};
/** Relocations of program `prog_index`. Returns the count (<= max written) or -errno. */
int bpfs_obj_prog_relocs(const struct bpfs_obj *obj, int prog_index,
                         struct bpfs_obj_reloc *out, int max);

#ifdef __cplusplus
}
#endif
#endif
