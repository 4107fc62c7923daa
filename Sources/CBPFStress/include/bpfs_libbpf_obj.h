/* Whole-object loads by libbpf itself (bpf_object__load): for objects that BPFKit's own
 * loader refuses (BTF map values with kernel-owned fields such as bpf_timer, bpf-to-bpf
 * callbacks), plus BPF_PROG_TEST_RUN. These calls go to the kernel directly, not through
 * a struct bpfs_rt, so they are for the kernel runtime only. */
#ifndef BPFS_LIBBPF_OBJ_H
#define BPFS_LIBBPF_OBJ_H
#include <stdint.h>

struct bpfs_lobj;

/* bpf_object__open_file + bpf_object__load. NULL on failure with *err = -errno, *stage 1 when
 * the file did not open or parse, 2 when the kernel refused the load, and, when the verifier
 * refused a program, the tail of its log in `log` (always NUL-terminated; libbpf's last
 * warning when the kernel gave no log). libbpf prints nothing meanwhile. A loaded object's
 * maps, programs and BTF go into the campaign's ownership ledger when one is attached. */
struct bpfs_lobj *bpfs_lobj_load(const char *path, int *err, int *stage, char *log, uint32_t log_size);

/* bpf_object__find_map_by_name + bpf_map__fd: the object keeps ownership; -ENOENT if absent. */
int bpfs_lobj_map_fd(struct bpfs_lobj *o, const char *name);

/* bpf_object__find_program_by_name + bpf_program__fd: owned by the object; -ENOENT if absent. */
int bpfs_lobj_prog_fd(struct bpfs_lobj *o, const char *name);

/* bpf_object__close: closes every map and program fd of the object. NULL is a no-op. */
void bpfs_lobj_close(struct bpfs_lobj *o);

/* BPF_PROG_TEST_RUN (bpf_prog_test_run_opts) with `data` as the packet, repeat 1.
 * Returns 0 with the program's return value in *retval, or -errno. */
int bpfs_prog_test_run_data(int prog_fd, const void *data, uint32_t size, uint32_t *retval);

/* 1 when the running kernel's BTF (/sys/kernel/btf/vmlinux) has a FUNC named `name`, else 0. */
int bpfs_kernel_btf_has_func(const char *name);

/* sched_getaffinity of the calling thread into `saved` (>= 128 bytes, a cpu_set_t), then
 * sched_setaffinity to the one CPU it runs on now (sched_getcpu). Returns that CPU or -errno. */
int bpfs_pin_here(void *saved, uint32_t size);

/* sched_setaffinity of the calling thread back to `saved` from bpfs_pin_here. 0 or -errno. */
int bpfs_unpin(const void *saved, uint32_t size);

#endif
