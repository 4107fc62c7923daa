/* libelf reader for the symbolizer: function symbols, PT_LOAD segments and build-id. */
#ifndef BPFS_ELF_H
#define BPFS_ELF_H
#include <stdint.h>
#include <stddef.h>

typedef struct bpfs_elf bpfs_elf;

/* Opens path with elf_begin and collects STT_FUNC/STT_GNU_IFUNC symbols from .symtab and
 * .dynsym (defined ones only), PT_LOAD headers and the GNU build-id. NULL on failure. */
bpfs_elf *bpfs_elf_open(const char *path);
void bpfs_elf_close(bpfs_elf *e);
int bpfs_elf_type(const bpfs_elf *e);            /* ET_EXEC, ET_DYN, ... */
int bpfs_elf_has_symtab(const bpfs_elf *e);      /* 1 if a full .symtab was present */
const char *bpfs_elf_build_id(const bpfs_elf *e); /* lowercase hex, "" if none */
const char *bpfs_elf_debuglink(const bpfs_elf *e); /* .gnu_debuglink file name, "" if none */
size_t bpfs_elf_symbol_count(const bpfs_elf *e);
/* name stays valid until bpfs_elf_close. bind: STB_LOCAL 0, GLOBAL 1, WEAK 2. */
const char *bpfs_elf_symbol(const bpfs_elf *e, size_t i, uint64_t *value, uint64_t *size, int *bind);
size_t bpfs_elf_load_count(const bpfs_elf *e);
void bpfs_elf_load(const bpfs_elf *e, size_t i, uint64_t *vaddr, uint64_t *offset, uint64_t *filesz,
                   uint64_t *memsz);
#endif
