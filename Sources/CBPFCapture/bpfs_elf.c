/* libelf reader (see bpfs_elf.h). */
#define _GNU_SOURCE
#include "include/bpfs_elf.h"
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    uint64_t value, size;
    int bind;
    const char *name;
} sym_t;

typedef struct {
    uint64_t vaddr, offset, filesz, memsz;
} load_t;

struct bpfs_elf {
    int fd;
    Elf *elf;
    int type, has_symtab;
    char build_id[81];
    char debuglink[256];
    sym_t *syms;
    size_t nsyms, capsyms;
    load_t *loads;
    size_t nloads;
};

static void add_syms(bpfs_elf *e, Elf_Scn *scn, GElf_Shdr *sh) {
    Elf_Data *data = elf_getdata(scn, NULL);
    if (!data || sh->sh_entsize == 0) return;
    size_t n = sh->sh_size / sh->sh_entsize;
    for (size_t i = 0; i < n; i++) {
        GElf_Sym s;
        if (!gelf_getsym(data, (int)i, &s)) continue;
        int type = GELF_ST_TYPE(s.st_info);
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s.st_shndx == SHN_UNDEF || s.st_value == 0) continue;
        const char *name = elf_strptr(e->elf, sh->sh_link, s.st_name);
        if (!name || !*name) continue;
        if (e->nsyms == e->capsyms) {
            size_t nc = e->capsyms ? e->capsyms * 2 : 256;
            sym_t *ns = realloc(e->syms, nc * sizeof(sym_t));
            if (!ns) return;
            e->syms = ns;
            e->capsyms = nc;
        }
        e->syms[e->nsyms++] = (sym_t){s.st_value, s.st_size, GELF_ST_BIND(s.st_info), name};
    }
}

static void read_note(bpfs_elf *e, Elf_Scn *scn) {
    Elf_Data *data = elf_getdata(scn, NULL);
    if (!data) return;
    size_t off = 0, name_off, desc_off;
    GElf_Nhdr nh;
    while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            memcmp((char *)data->d_buf + name_off, "GNU", 4) == 0) {
            const unsigned char *d = (const unsigned char *)data->d_buf + desc_off;
            size_t n = nh.n_descsz > 40 ? 40 : nh.n_descsz;
            for (size_t i = 0; i < n; i++) {
                static const char hx[] = "0123456789abcdef";
                e->build_id[2 * i] = hx[d[i] >> 4];
                e->build_id[2 * i + 1] = hx[d[i] & 15];
            }
            e->build_id[2 * n] = 0;
            return;
        }
    }
}

bpfs_elf *bpfs_elf_open(const char *path) {
    if (elf_version(EV_CURRENT) == EV_NONE) return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    if (!elf || elf_kind(elf) != ELF_K_ELF) {
        if (elf) elf_end(elf);
        close(fd);
        return NULL;
    }
    bpfs_elf *e = calloc(1, sizeof *e);
    if (!e) {
        elf_end(elf);
        close(fd);
        return NULL;
    }
    e->fd = fd;
    e->elf = elf;
    GElf_Ehdr eh;
    if (gelf_getehdr(elf, &eh)) e->type = eh.e_type;
    size_t nph = 0;
    if (elf_getphdrnum(elf, &nph) == 0 && nph > 0) {
        e->loads = calloc(nph, sizeof(load_t));
        for (size_t i = 0; e->loads && i < nph; i++) {
            GElf_Phdr ph;
            if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD) continue;
            e->loads[e->nloads++] = (load_t){ph.p_vaddr, ph.p_offset, ph.p_filesz, ph.p_memsz};
        }
    }
    size_t shstrndx = 0;
    elf_getshdrstrndx(elf, &shstrndx);
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn))) {
        GElf_Shdr sh;
        if (!gelf_getshdr(scn, &sh)) continue;
        if (sh.sh_type == SHT_SYMTAB) {
            e->has_symtab = 1;
            add_syms(e, scn, &sh);
        } else if (sh.sh_type == SHT_DYNSYM) {
            add_syms(e, scn, &sh);
        } else if (sh.sh_type == SHT_NOTE && !e->build_id[0]) {
            read_note(e, scn);
        } else if (sh.sh_type == SHT_PROGBITS) {
            const char *nm = elf_strptr(elf, shstrndx, sh.sh_name);
            if (nm && strcmp(nm, ".gnu_debuglink") == 0) {
                Elf_Data *d = elf_getdata(scn, NULL);
                if (d && d->d_size > 0) {
                    size_t n = strnlen(d->d_buf, d->d_size);
                    if (n >= sizeof e->debuglink) n = sizeof e->debuglink - 1;
                    memcpy(e->debuglink, d->d_buf, n);
                    e->debuglink[n] = 0;
                }
            }
        }
    }
    return e;
}

void bpfs_elf_close(bpfs_elf *e) {
    if (!e) return;
    free(e->syms);
    free(e->loads);
    elf_end(e->elf);
    close(e->fd);
    free(e);
}
int bpfs_elf_type(const bpfs_elf *e) { return e->type; }
int bpfs_elf_has_symtab(const bpfs_elf *e) { return e->has_symtab; }
const char *bpfs_elf_build_id(const bpfs_elf *e) { return e->build_id; }
const char *bpfs_elf_debuglink(const bpfs_elf *e) { return e->debuglink; }
size_t bpfs_elf_symbol_count(const bpfs_elf *e) { return e->nsyms; }
const char *bpfs_elf_symbol(const bpfs_elf *e, size_t i, uint64_t *value, uint64_t *size, int *bind) {
    *value = e->syms[i].value;
    *size = e->syms[i].size;
    *bind = e->syms[i].bind;
    return e->syms[i].name;
}
size_t bpfs_elf_load_count(const bpfs_elf *e) { return e->nloads; }
void bpfs_elf_load(const bpfs_elf *e, size_t i, uint64_t *vaddr, uint64_t *offset, uint64_t *filesz,
                   uint64_t *memsz) {
    *vaddr = e->loads[i].vaddr;
    *offset = e->loads[i].offset;
    *filesz = e->loads[i].filesz;
    *memsz = e->loads[i].memsz;
}
