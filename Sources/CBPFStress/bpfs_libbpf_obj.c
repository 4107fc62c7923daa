/* Whole-object loads by libbpf (bpf_object__load) and BPF_PROG_TEST_RUN; see
 * include/bpfs_libbpf_obj.h. */
#define _GNU_SOURCE
#include "bpfs_libbpf_obj.h"
#include "bpfs_ledger.h"
#include <stdarg.h>
#include <stdio.h>
#include <sched.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

struct bpfs_lobj {
    struct bpf_object *obj;
};

/* The verifier's reason is at the end of its log: keep the last log_size-1 bytes. */
static void bpfs_log_tail(const char *buf, char *log, uint32_t log_size) {
    if (!log || log_size == 0) return;
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ')) n--;
    size_t keep = n < log_size - 1 ? n : log_size - 1;
    memcpy(log, buf + (n - keep), keep);
    log[keep] = '\0';
}

/* libbpf's messages during a load: none reach stderr; the last warning of this thread is kept
 * as the reason when the kernel gave no verifier log (a missing kfunc, a BTF refusal). */
static __thread char lobj_msg[512];

static int lobj_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
    if (level == LIBBPF_DEBUG) return 0;
    vsnprintf(lobj_msg, sizeof lobj_msg, fmt, ap);
    size_t n = strlen(lobj_msg);
    while (n > 0 && (lobj_msg[n - 1] == '\n' || lobj_msg[n - 1] == ' ')) lobj_msg[--n] = '\0';
    return 0;
}

static struct bpfs_lobj *lobj_load(const char *path, int *err, int *stage, char *log, uint32_t log_size);

struct bpfs_lobj *bpfs_lobj_load(const char *path, int *err, int *stage, char *log, uint32_t log_size) {
    lobj_msg[0] = '\0';
    libbpf_print_fn_t prev = libbpf_set_print(lobj_print);
    struct bpfs_lobj *o = lobj_load(path, err, stage, log, log_size);
    libbpf_set_print(prev);
    if (!o && log && log_size && log[0] == '\0') snprintf(log, log_size, "libbpf: %s", lobj_msg);
    return o;
}

static struct bpfs_lobj *lobj_load(const char *path, int *err, int *stage, char *log, uint32_t log_size) {
    const size_t kbuf_size = 1 << 20;
    char *kbuf = calloc(1, kbuf_size);
    if (log && log_size) log[0] = '\0';
    *stage = 1;
    if (!kbuf) { *err = -ENOMEM; return NULL; }
    LIBBPF_OPTS(bpf_object_open_opts, opts, .kernel_log_buf = kbuf, .kernel_log_size = kbuf_size,
                .kernel_log_level = 0);
    struct bpf_object *obj = bpf_object__open_file(path, &opts);
    long e = libbpf_get_error(obj);
    if (e) {
        *err = (int)e;
        free(kbuf);
        return NULL;
    }
    *stage = 2;
    int rc = bpf_object__load(obj);
    if (rc) {
        /* libbpf retries a refused program with log level 1 and keeps that log in kbuf. */
        bpfs_log_tail(kbuf, log, log_size);
        *err = rc < 0 ? rc : -EINVAL;
        bpf_object__close(obj);
        free(kbuf);
        return NULL;
    }
    free(kbuf);
    bpfs_ledger_note_libbpf_object(obj);  /* the campaign's leak check knows these objects */
    struct bpfs_lobj *o = calloc(1, sizeof(*o));
    if (!o) { bpf_object__close(obj); *err = -ENOMEM; return NULL; }
    o->obj = obj;
    *err = 0;
    return o;
}

int bpfs_lobj_map_fd(struct bpfs_lobj *o, const char *name) {
    struct bpf_map *m = bpf_object__find_map_by_name(o->obj, name);
    return m ? bpf_map__fd(m) : -ENOENT;
}

int bpfs_lobj_prog_fd(struct bpfs_lobj *o, const char *name) {
    struct bpf_program *p = bpf_object__find_program_by_name(o->obj, name);
    return p ? bpf_program__fd(p) : -ENOENT;
}

void bpfs_lobj_close(struct bpfs_lobj *o) {
    if (!o) return;
    bpf_object__close(o->obj);
    free(o);
}

int bpfs_prog_test_run_data(int prog_fd, const void *data, uint32_t size, uint32_t *retval) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = size, .repeat = 1);
    int rc = bpf_prog_test_run_opts(prog_fd, &opts);
    if (rc < 0) return -errno;
    *retval = opts.retval;
    return 0;
}

int bpfs_pin_here(void *saved, uint32_t size) {
    if (size < sizeof(cpu_set_t)) return -EINVAL;
    if (sched_getaffinity(0, sizeof(cpu_set_t), (cpu_set_t *)saved) != 0) return -errno;
    int cpu = sched_getcpu();
    if (cpu < 0) return -errno;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof one, &one) == 0 ? cpu : -errno;
}

int bpfs_unpin(const void *saved, uint32_t size) {
    if (size < sizeof(cpu_set_t)) return -EINVAL;
    return sched_setaffinity(0, sizeof(cpu_set_t), (const cpu_set_t *)saved) == 0 ? 0 : -errno;
}

int bpfs_kernel_btf_has_func(const char *name) {
    struct btf *vmlinux = btf__load_vmlinux_btf();
    if (libbpf_get_error(vmlinux)) return 0;
    int found = btf__find_by_name_kind(vmlinux, name, BTF_KIND_FUNC) > 0;
    btf__free(vmlinux);
    return found;
}
