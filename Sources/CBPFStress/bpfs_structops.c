/* struct_ops registration through libbpf (see bpfs_structops.h). */
#include "bpfs_structops.h"
#include "bpfs_ledger.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct bpfs_structops {
    struct bpf_object *obj;
    struct bpf_link *link;
    void *image;        /* patched object bytes (open_mem), freed at close */
    size_t image_size;
};

static __thread char so_msg[512];

static const struct bpfs_rt kernel_rt = { bpfs_kernel_sys, NULL };

/* Keeps libbpf's last warning for this thread instead of printing it. */
static int so_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
    if (level == LIBBPF_DEBUG) return 0;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n')) line[--n] = 0;
    if (n) snprintf(so_msg, sizeof so_msg, "%s", line);
    return 0;
}

/* Byte offset of member `member` (a char array) of struct `type` in the object's BTF,
 * with its size; -ENOENT when absent. */
static int member_offset(struct bpf_object *obj, const char *type, const char *member, unsigned int *size) {
    struct btf *btf = bpf_object__btf(obj);
    if (!btf) return -ENOENT;
    int id = btf__find_by_name_kind(btf, type, BTF_KIND_STRUCT);
    if (id < 0) return -ENOENT;
    const struct btf_type *t = btf__type_by_id(btf, id);
    const struct btf_member *m = btf_members(t);
    for (int i = 0; i < btf_vlen(t); i++, m++) {
        const char *name = btf__name_by_offset(btf, m->name_off);
        if (!name || strcmp(name, member) != 0) continue;
        const struct btf_type *mt = btf__type_by_id(btf, btf__resolve_type(btf, m->type));
        if (!mt || !btf_is_array(mt)) return -EINVAL;
        *size = btf_array(mt)->nelems;
        return (int)(btf_member_bit_offset(t, i) / 8);
    }
    return -ENOENT;
}

/* Name of the struct type of variable `var` in the object's .struct_ops section, and
 * the variable's offset in that section. */
static const char *struct_type_of(struct bpf_object *obj, const char *var, unsigned int *var_off) {
    struct btf *btf = bpf_object__btf(obj);
    if (!btf) return NULL;
    int sec = btf__find_by_name_kind(btf, ".struct_ops", BTF_KIND_DATASEC);
    if (sec < 0) return NULL;
    const struct btf_type *ds = btf__type_by_id(btf, sec);
    const struct btf_var_secinfo *vi = btf_var_secinfos(ds);
    for (int i = 0; i < btf_vlen(ds); i++, vi++) {
        const struct btf_type *v = btf__type_by_id(btf, vi->type);
        if (!v || !btf_is_var(v)) continue;
        const char *n = btf__name_by_offset(btf, v->name_off);
        if (!n || strcmp(n, var) != 0) continue;
        const struct btf_type *t = btf__type_by_id(btf, btf__resolve_type(btf, v->type));
        *var_off = vi->offset;
        return t && btf_is_struct(t) ? btf__name_by_offset(btf, t->name_off) : NULL;
    }
    return NULL;
}

/* File offset of ELF section `name` in buf, via libelf; -ENOENT when absent. */
static long section_file_offset(void *buf, size_t size, const char *name) {
    long off = -ENOENT;
    if (elf_version(EV_CURRENT) == EV_NONE) return -EINVAL;
    Elf *e = elf_memory(buf, size);
    if (!e) return -EINVAL;
    size_t shstrndx;
    if (elf_getshdrstrndx(e, &shstrndx) == 0) {
        for (Elf_Scn *scn = elf_nextscn(e, NULL); scn; scn = elf_nextscn(e, scn)) {
            GElf_Shdr sh;
            if (!gelf_getshdr(scn, &sh)) continue;
            const char *n = elf_strptr(e, shstrndx, sh.sh_name);
            if (n && strcmp(n, name) == 0 && sh.sh_type == SHT_PROGBITS) { off = (long)sh.sh_offset; break; }
        }
    }
    elf_end(e);
    return off;
}

/* The object file's bytes with the `name` member of struct_ops variable `map_name`
 * replaced by `ops_name`. libbpf 1.1 cannot change a struct_ops map's data before load
 * (bpf_map__initial_value is NULL for it), so the section is patched before open. */
static int renamed_image(const char *path, const char *map_name, const char *ops_name, void **out, size_t *out_size) {
    int e = 0;
    unsigned int var_off = 0, cap = 0;
    struct bpf_object *probe = bpf_object__open_file(path, NULL);
    if (!probe) return errno ? -errno : -EINVAL;
    const char *tname = struct_type_of(probe, map_name, &var_off);
    int member = tname ? member_offset(probe, tname, "name", &cap) : -ENOENT;
    bpf_object__close(probe);
    if (member < 0 || strlen(ops_name) >= cap) {
        snprintf(so_msg, sizeof so_msg, "cannot set name '%s' in struct_ops variable '%s'", ops_name, map_name);
        return member < 0 ? member : -ENAMETOOLONG;
    }
    FILE *f = fopen(path, "rb");
    if (!f) return -errno;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = size > 0 ? malloc((size_t)size) : NULL;
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) e = buf ? -EIO : -ENOMEM;
    fclose(f);
    if (e) { free(buf); return e; }
    long sec = section_file_offset(buf, (size_t)size, ".struct_ops");
    if (sec < 0 || sec + var_off + member + cap > (unsigned long)size) {
        free(buf);
        snprintf(so_msg, sizeof so_msg, "no .struct_ops section data in %s", path);
        return sec < 0 ? (int)sec : -EINVAL;
    }
    char *name = buf + sec + var_off + member;
    memset(name, 0, cap);
    memcpy(name, ops_name, strlen(ops_name));
    *out = buf;
    *out_size = (size_t)size;
    return 0;
}

struct bpfs_structops *bpfs_structops_register(const char *path, const char *map_name, const char *ops_name,
                                               int *err, char *msg, unsigned int msg_len) {
    struct bpfs_structops *h = calloc(1, sizeof *h);
    int e = 0;
    so_msg[0] = 0;
    libbpf_print_fn_t prev = libbpf_set_print(so_print);
    if (!h) { e = -ENOMEM; goto out; }
    if (ops_name) {
        e = renamed_image(path, map_name, ops_name, &h->image, &h->image_size);
        if (e) goto out;
        LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = ops_name);
        h->obj = bpf_object__open_mem(h->image, h->image_size, &opts);
    } else {
        h->obj = bpf_object__open_file(path, NULL);
    }
    if (!h->obj) { e = errno ? -errno : -EINVAL; goto out; }
    struct bpf_map *map = bpf_object__find_map_by_name(h->obj, map_name);
    if (!map || bpf_map__type(map) != BPF_MAP_TYPE_STRUCT_OPS) {
        e = -ENOENT;
        snprintf(so_msg, sizeof so_msg, "no struct_ops map '%s' in %s", map_name, path);
        goto out;
    }
    int loaded = bpf_object__load(h->obj) == 0;
    if (!loaded) e = errno ? -errno : -EINVAL;
    /* libbpf made these with its own bpf() calls, past the shim: record them here, also
     * when a later step fails (what it made may outlive the failure). */
    bpfs_ledger_note_libbpf_object(h->obj);
    if (!loaded) goto out;
    h->link = bpf_map__attach_struct_ops(map);
    if (!h->link) { e = errno ? -errno : -EINVAL; goto out; }
    bpfs_ledger_note_fd(&kernel_rt, BPFS_LEDGER_LINK, bpf_link__fd(h->link));
out:
    libbpf_set_print(prev);
    if (e) {
        if (h) {
            if (h->obj) bpf_object__close(h->obj);
            free(h->image);
            free(h);
        }
        if (err) *err = e;
        if (msg && msg_len) snprintf(msg, msg_len, "%s", so_msg);
        return NULL;
    }
    if (err) *err = 0;
    return h;
}

int bpfs_structops_unregister(struct bpfs_structops *h) {
    if (!h->link) return -EALREADY;
    int r = bpf_link__destroy(h->link);
    h->link = NULL;
    return r < 0 ? (errno ? -errno : r) : 0;
}

void bpfs_structops_close(struct bpfs_structops *h) {
    if (!h) return;
    if (h->link) bpfs_structops_unregister(h);
    bpf_object__close(h->obj);
    free(h->image);
    free(h);
}

int bpfs_structops_map_fd(const struct bpfs_structops *h, const char *name) {
    struct bpf_map *m = bpf_object__find_map_by_name(h->obj, name);
    if (!m || bpf_map__fd(m) < 0) return -ENOENT;
    int fd = fcntl(bpf_map__fd(m), F_DUPFD_CLOEXEC, 3);
    return fd < 0 ? -errno : fd;
}

int bpfs_structops_prog_count(const struct bpfs_structops *h) {
    int n = 0;
    struct bpf_program *p;
    bpf_object__for_each_program(p, h->obj) n++;
    return n;
}

int bpfs_structops_prog_fd(const struct bpfs_structops *h, int i) {
    struct bpf_program *p;
    bpf_object__for_each_program(p, h->obj) {
        if (i-- == 0) return bpf_program__fd(p);
    }
    return -ENOENT;
}

int bpfs_tcp_connect_cc(int family, uint16_t port, const char *cc, int timeout_ms, char *in_use, unsigned int in_use_len) {
    int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) return -errno;
    int e = 0;
    if (cc && setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc)) != 0) { e = -errno; goto fail; }
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    if (connect(s, (struct sockaddr *)&ss, len) != 0) {
        if (errno != EINPROGRESS) { e = -errno; goto fail; }
        struct pollfd p = { .fd = s, .events = POLLOUT };
        int r;
        do { r = poll(&p, 1, timeout_ms); } while (r < 0 && errno == EINTR);
        if (r == 0) { e = -ETIMEDOUT; goto fail; }
        if (r < 0) { e = -errno; goto fail; }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) { e = -soerr; goto fail; }
    }
    if (in_use && in_use_len) {
        socklen_t l = in_use_len;
        memset(in_use, 0, in_use_len);
        if (getsockopt(s, IPPROTO_TCP, TCP_CONGESTION, in_use, &l) != 0) { e = -errno; goto fail; }
        in_use[in_use_len - 1] = 0;
    }
    return s;
fail:
    close(s);
    return e;
}
