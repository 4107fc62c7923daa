/* BPF object files: libbpf parses the ELF, libelf reads the relocations; every bpf command
 * of the load still goes through struct bpfs_rt (bpfs_bpf.c). See include/bpfs_bpf.h. */
#define _GNU_SOURCE
#include "bpfs_bpf.h"
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

/* ---- object files --------------------------------------------------------- */

struct bpfs_obj_prog {
    struct bpf_program *prog;
    size_t shndx;       /* ELF section of the program */
    uint64_t offset;    /* byte offset of the program in its section */
};

struct bpfs_obj {
    struct bpf_object *obj;
    int fd;
    Elf *elf;
    size_t shstrndx;
    Elf_Scn *symtab;
    char *license;
    struct bpf_map **maps;
    int nmaps;
    struct bpfs_obj_prog *progs;
    int nprogs;
};

/* libbpf's message sink: keeps the last message of this thread for error details. */
static __thread char bpfs_libbpf_msg[512];

static int bpfs_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
    if (level == LIBBPF_DEBUG) return 0;
    vsnprintf(bpfs_libbpf_msg, sizeof(bpfs_libbpf_msg), fmt, ap);
    size_t n = strlen(bpfs_libbpf_msg);
    while (n > 0 && (bpfs_libbpf_msg[n - 1] == '\n' || bpfs_libbpf_msg[n - 1] == ' '))
        bpfs_libbpf_msg[--n] = '\0';
    return 0;
}

static const char *bpfs_secname(struct bpfs_obj *o, size_t shndx) {
    Elf_Scn *scn = elf_getscn(o->elf, shndx);
    GElf_Shdr sh;
    if (!scn || !gelf_getshdr(scn, &sh)) return NULL;
    return elf_strptr(o->elf, o->shstrndx, sh.sh_name);
}

void bpfs_obj_close(struct bpfs_obj *o) {
    if (!o) return;
    if (o->obj) bpf_object__close(o->obj);
    if (o->elf) elf_end(o->elf);
    if (o->fd >= 0) close(o->fd);
    free(o->license);
    free(o->maps);
    free(o->progs);
    free(o);
}

/* Finds the STT_FUNC symbol that starts program `name`: its section and offset. */
static int bpfs_find_func(struct bpfs_obj *o, const char *name, size_t *shndx, uint64_t *off) {
    GElf_Shdr sh;
    if (!o->symtab || !gelf_getshdr(o->symtab, &sh) || sh.sh_entsize == 0) return -ENOENT;
    Elf_Data *d = elf_getdata(o->symtab, NULL);
    if (!d) return -ENOENT;
    size_t n = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < n; i++) {
        GElf_Sym s;
        if (!gelf_getsym(d, (int)i, &s)) continue;
        if (GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_shndx == SHN_UNDEF) continue;
        const char *sn = elf_strptr(o->elf, sh.sh_link, s.st_name);
        if (sn && strcmp(sn, name) == 0) {
            *shndx = s.st_shndx;
            *off = s.st_value;
            return 0;
        }
    }
    return -ENOENT;
}

struct bpfs_obj *bpfs_obj_open(const char *path, int *err, char *msg, unsigned int msg_len) {
    struct bpfs_obj *o = calloc(1, sizeof(*o));
    int e = 0;
    if (msg && msg_len) msg[0] = '\0';
    if (!o) { e = -ENOMEM; goto fail; }
    o->fd = -1;

    bpfs_libbpf_msg[0] = '\0';
    libbpf_print_fn_t prev = libbpf_set_print(bpfs_libbpf_print);
    errno = 0;
    o->obj = bpf_object__open_file(path, NULL);
    e = errno;
    libbpf_set_print(prev);
    if (!o->obj) {
        e = e ? -e : -EINVAL;
        if (msg && msg_len) snprintf(msg, msg_len, "%s", bpfs_libbpf_msg);
        goto fail;
    }

    /* Our own ELF view for symbols, relocations and the license. */
    if (elf_version(EV_CURRENT) == EV_NONE) { e = -EINVAL; goto fail; }
    o->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (o->fd < 0) { e = -errno; goto fail; }
    o->elf = elf_begin(o->fd, ELF_C_READ, NULL);
    if (!o->elf || elf_getshdrstrndx(o->elf, &o->shstrndx) != 0) { e = -EINVAL; goto fail; }
    for (Elf_Scn *scn = elf_nextscn(o->elf, NULL); scn; scn = elf_nextscn(o->elf, scn)) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh)) continue;
        const char *name = elf_strptr(o->elf, o->shstrndx, sh.sh_name);
        if (sh.sh_type == SHT_SYMTAB) o->symtab = scn;
        if (name && strcmp(name, "license") == 0) {
            Elf_Data *d = elf_getdata(scn, NULL);
            if (d && d->d_buf && d->d_size) o->license = strndup(d->d_buf, d->d_size);
        }
    }
    if (!o->license) o->license = strdup("");

    struct bpf_map *m;
    bpf_object__for_each_map(m, o->obj) {
        if (bpf_map__is_internal(m)) continue;
        struct bpf_map **nm = realloc(o->maps, sizeof(*nm) * (o->nmaps + 1));
        if (!nm) { e = -ENOMEM; goto fail; }
        o->maps = nm;
        o->maps[o->nmaps++] = m;
    }
    struct bpf_program *p;
    bpf_object__for_each_program(p, o->obj) {
        struct bpfs_obj_prog *np = realloc(o->progs, sizeof(*np) * (o->nprogs + 1));
        if (!np) { e = -ENOMEM; goto fail; }
        o->progs = np;
        struct bpfs_obj_prog *op = &o->progs[o->nprogs++];
        op->prog = p;
        op->shndx = 0;
        op->offset = 0;
        (void)bpfs_find_func(o, bpf_program__name(p), &op->shndx, &op->offset);
    }
    if (err) *err = 0;
    return o;
fail:
    if (err) *err = e;
    bpfs_obj_close(o);
    return NULL;
}

const char *bpfs_obj_license(const struct bpfs_obj *o) { return o->license; }

int bpfs_obj_map_count(const struct bpfs_obj *o) { return o->nmaps; }

int bpfs_obj_map_def(const struct bpfs_obj *o, int index, struct bpfs_obj_map_def *out) {
    if (index < 0 || index >= o->nmaps) return -EINVAL;
    const struct bpf_map *m = o->maps[index];
    out->name = bpf_map__name(m);
    out->type = bpf_map__type(m);
    out->key_size = bpf_map__key_size(m);
    out->value_size = bpf_map__value_size(m);
    out->max_entries = bpf_map__max_entries(m);
    out->map_flags = bpf_map__map_flags(m);
    out->numa_node = bpf_map__numa_node(m);
    return 0;
}

int bpfs_obj_prog_count(const struct bpfs_obj *o) { return o->nprogs; }

int bpfs_obj_prog_def(const struct bpfs_obj *o, int index, struct bpfs_obj_prog_def *out) {
    if (index < 0 || index >= o->nprogs) return -EINVAL;
    const struct bpf_program *p = o->progs[index].prog;
    out->name = bpf_program__name(p);
    out->section = bpf_program__section_name(p);
    out->type = bpf_program__type(p);
    out->expected_attach_type = bpf_program__expected_attach_type(p);
    out->insns = bpf_program__insns(p);
    out->insn_cnt = (uint32_t)bpf_program__insn_cnt(p);
    return 0;
}

int bpfs_obj_prog_relocs(const struct bpfs_obj *co, int prog_index,
                         struct bpfs_obj_reloc *out, int max) {
    struct bpfs_obj *o = (struct bpfs_obj *)co;
    if (prog_index < 0 || prog_index >= o->nprogs) return -EINVAL;
    const struct bpfs_obj_prog *op = &o->progs[prog_index];
    if (op->shndx == 0) return -ENOENT;
    uint64_t start = op->offset;
    uint64_t end = start + (uint64_t)bpf_program__insn_cnt(op->prog) * sizeof(struct bpf_insn);
    GElf_Shdr symsh;
    if (!o->symtab || !gelf_getshdr(o->symtab, &symsh)) return -ENOENT;
    Elf_Data *symdata = elf_getdata(o->symtab, NULL);
    int count = 0;
    for (Elf_Scn *scn = elf_nextscn(o->elf, NULL); scn; scn = elf_nextscn(o->elf, scn)) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh)) continue;
        if (sh.sh_info != op->shndx) continue;
        if (sh.sh_type == SHT_RELA) {
            /* BPF objects use REL; RELA would be an unsupported producer. */
            if (count < max) {
                out[count].insn_index = 0;
                out[count].map_index = -1;
                out[count].symbol = "RELA";
                out[count].target_section = "";
            }
            count++;
            continue;
        }
        if (sh.sh_type != SHT_REL || sh.sh_entsize == 0) continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        if (!d) continue;
        size_t n = sh.sh_size / sh.sh_entsize;
        for (size_t i = 0; i < n; i++) {
            GElf_Rel rel;
            if (!gelf_getrel(d, (int)i, &rel)) continue;
            if (rel.r_offset < start || rel.r_offset >= end) continue;
            GElf_Sym s;
            memset(&s, 0, sizeof(s));
            if (symdata) gelf_getsym(symdata, (int)GELF_R_SYM(rel.r_info), &s);
            const char *symname = elf_strptr(o->elf, symsh.sh_link, s.st_name);
            const char *target = "";
            if (s.st_shndx != SHN_UNDEF && s.st_shndx < SHN_LORESERVE) {
                const char *tn = bpfs_secname(o, s.st_shndx);
                if (tn) target = tn;
            }
            if (!symname || !symname[0]) symname = target;
            int map_index = -1;
            if (strcmp(target, ".maps") == 0 || strcmp(target, "maps") == 0) {
                for (int k = 0; k < o->nmaps; k++) {
                    if (strcmp(bpf_map__name(o->maps[k]), symname) == 0) { map_index = k; break; }
                }
            }
            if (count < max) {
                out[count].insn_index = (uint32_t)((rel.r_offset - start) / sizeof(struct bpf_insn));
                out[count].map_index = map_index;
                out[count].symbol = symname;
                out[count].target_section = target;
            }
            count++;
        }
    }
    return count;
}
