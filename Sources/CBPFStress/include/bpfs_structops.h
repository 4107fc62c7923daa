/* struct_ops registration through libbpf. struct_ops needs BTF relocation (member
 * offsets, attach_btf_id per callback, the kernel's value type), which BPFKit's own
 * loader does not do, so this shim uses libbpf end to end. */
#ifndef BPFS_STRUCTOPS_H
#define BPFS_STRUCTOPS_H
#include <stdint.h>

/** A loaded libbpf object with one registered struct_ops map. Opaque. */
struct bpfs_structops;

/** bpf_object__open_file + (rename) + bpf_object__load + bpf_map__attach_struct_ops.
 *  `ops_name`, when non-NULL, overwrites the char[] member `name` of the struct in map
 *  `map_name` before load (offset found in the object's BTF), so that several copies can
 *  be registered at once. Returns NULL with *err = -errno and libbpf's last message in
 *  msg on failure; nothing stays registered or open then. */
struct bpfs_structops *bpfs_structops_register(const char *path, const char *map_name, const char *ops_name,
                                               int *err, char *msg, unsigned int msg_len);

/** bpf_link__destroy of the registration (unregisters the ops). 0, or -errno; a second
 *  call returns -EALREADY. */
int bpfs_structops_unregister(struct bpfs_structops *h);

/** Unregisters if still registered, then bpf_object__close. `h` is freed. */
void bpfs_structops_close(struct bpfs_structops *h);

/** bpf_object__find_map_by_name + bpf_map__fd: a dup()ed, O_CLOEXEC fd the caller owns,
 *  or -ENOENT. */
int bpfs_structops_map_fd(const struct bpfs_structops *h, const char *name);

/** Number of programs in the object, and the (borrowed) fd of the i-th (bpf_program__fd). */
int bpfs_structops_prog_count(const struct bpfs_structops *h);
int bpfs_structops_prog_fd(const struct bpfs_structops *h, int i);

/** TCP client on 127.0.0.1/::1 `port` whose congestion control is set to `cc` with
 *  setsockopt(TCP_CONGESTION) before connect. On success returns the connected fd (the
 *  caller closes it) and copies getsockopt(TCP_CONGESTION) into `in_use`. -errno on
 *  failure (the setsockopt's, connect's, or -ETIMEDOUT after timeout_ms). */
int bpfs_tcp_connect_cc(int family, uint16_t port, const char *cc, int timeout_ms, char *in_use, unsigned int in_use_len);

#endif
