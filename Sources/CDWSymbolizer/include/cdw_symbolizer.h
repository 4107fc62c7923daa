// C shim over elfutils libdw/libdwfl: symbols and file:line of one ELF file (a vmlinux with debug info).
#ifndef CDW_SYMBOLIZER_H
#define CDW_SYMBOLIZER_H
#include <stddef.h>
#include <stdint.h>

typedef struct cdw_handle cdw_handle;

/// Opens `path` offline (dwfl_report_offline). NULL on failure, with a one-line reason in `err`.
cdw_handle *cdw_open(const char *path, char *err, size_t errlen);
void cdw_close(cdw_handle *h);

/// Number of symbols in the ELF symbol table (dwfl_module_getsymtab).
int cdw_symbol_count(cdw_handle *h);
/// Symbol `i` (dwfl_module_getsym_info): its name (valid while `h` is open), address and size;
/// returns 0 for a function or object symbol with a name, -1 otherwise.
int cdw_symbol_at(cdw_handle *h, int i, const char **name, uint64_t *addr, uint64_t *size);

/// Source file and line of `pc` (dwfl_module_getsrc + dwfl_lineinfo): 0 and the file copied into `file`,
/// or -1 when the address has no line information.
int cdw_line(cdw_handle *h, uint64_t pc, char *file, size_t filelen, int *line);
#endif
