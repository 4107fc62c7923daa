/* fentry programs through libbpf: open an object, point one program at a kernel function,
 * load, attach (bpf_program__set_attach_target, bpf_object__load, bpf_program__attach_trace). */
#pragma once
#include <stddef.h>

struct bpfs_fentry;

/* Opens `path`, sets program `prog` to attach to kernel function `target` by fentry, loads and
 * attaches it. NULL on failure with -errno in *err_out and libbpf's last message in msg. */
struct bpfs_fentry *bpfs_fentry_open(const char *path, const char *prog, const char *target,
                                     int *err_out, char *msg, size_t msg_len);
/* The fd of map `name` (owned by the handle), or -ENOENT. */
int bpfs_fentry_map_fd(struct bpfs_fentry *f, const char *name);
/* The program's fd (owned by the handle). */
int bpfs_fentry_prog_fd(struct bpfs_fentry *f);
/* Detaches the link (the program stops running); idempotent. */
void bpfs_fentry_detach(struct bpfs_fentry *f);
/* Detaches and closes everything. */
void bpfs_fentry_close(struct bpfs_fentry *f);
/* bpf_map_update_elem(BPF_ANY) / delete / lookup on a handle's map fd: 0 or -errno. */
int bpfs_fentry_update(int map_fd, const void *key, const void *value);
int bpfs_fentry_delete(int map_fd, const void *key);
int bpfs_fentry_lookup(int map_fd, const void *key, void *value);
