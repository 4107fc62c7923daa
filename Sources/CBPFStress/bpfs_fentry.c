/* fentry programs through libbpf (see bpfs_fentry.h). */
#include "bpfs_fentry.h"
#include "bpfs_ledger.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bpfs_fentry {
    struct bpf_object *obj;
    struct bpf_program *prog;
    struct bpf_link *link;
};

static __thread char fe_msg[512];

static int fe_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
    if (level == LIBBPF_DEBUG) return 0;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = 0;
    if (n) snprintf(fe_msg, sizeof fe_msg, "%s", line);
    return 0;
}

struct bpfs_fentry *bpfs_fentry_open(const char *path, const char *prog, const char *target,
                                     int *err_out, char *msg, size_t msg_len) {
    fe_msg[0] = 0;
    libbpf_print_fn_t old = libbpf_set_print(fe_print);
    struct bpfs_fentry *f = calloc(1, sizeof *f);
    int err = 0;
    if (!f) { err = -ENOMEM; goto out; }
    f->obj = bpf_object__open_file(path, NULL);
    if (!f->obj) { err = -errno; goto fail; }
    f->prog = bpf_object__find_program_by_name(f->obj, prog);
    if (!f->prog) { err = -ENOENT; snprintf(fe_msg, sizeof fe_msg, "no program %s in %s", prog, path); goto fail; }
    err = bpf_program__set_attach_target(f->prog, 0, target);
    if (err) goto fail;
    err = bpf_object__load(f->obj);
    /* libbpf's own bpf() calls bypass the shim: record what it made (leak check). */
    bpfs_ledger_note_libbpf_object(f->obj);
    if (err) goto fail;
    f->link = bpf_program__attach_trace(f->prog);
    if (!f->link) { err = -errno; goto fail; }
    {
        static const struct bpfs_rt kernel = { bpfs_kernel_sys, NULL };
        bpfs_ledger_note_fd(&kernel, BPFS_LEDGER_LINK, bpf_link__fd(f->link));
    }
    goto out;
fail:
    if (f) {
        if (f->obj) bpf_object__close(f->obj);
        free(f);
        f = NULL;
    }
out:
    libbpf_set_print(old);
    if (err_out) *err_out = err;
    if (msg && msg_len) snprintf(msg, msg_len, "%s", fe_msg);
    return f;
}

int bpfs_fentry_map_fd(struct bpfs_fentry *f, const char *name) {
    struct bpf_map *m = bpf_object__find_map_by_name(f->obj, name);
    return m ? bpf_map__fd(m) : -ENOENT;
}

int bpfs_fentry_prog_fd(struct bpfs_fentry *f) { return bpf_program__fd(f->prog); }

void bpfs_fentry_detach(struct bpfs_fentry *f) {
    if (f && f->link) { bpf_link__destroy(f->link); f->link = NULL; }
}

void bpfs_fentry_close(struct bpfs_fentry *f) {
    if (!f) return;
    bpfs_fentry_detach(f);
    if (f->obj) bpf_object__close(f->obj);
    free(f);
}

int bpfs_fentry_update(int map_fd, const void *key, const void *value) {
    return bpf_map_update_elem(map_fd, key, value, BPF_ANY) ? -errno : 0;
}

int bpfs_fentry_delete(int map_fd, const void *key) {
    return bpf_map_delete_elem(map_fd, key) ? -errno : 0;
}

int bpfs_fentry_lookup(int map_fd, const void *key, void *value) {
    return bpf_map_lookup_elem(map_fd, key, value) ? -errno : 0;
}
