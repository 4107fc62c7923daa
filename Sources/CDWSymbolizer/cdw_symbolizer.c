// C shim over elfutils libdw/libdwfl: symbols and file:line of one ELF file (a vmlinux with debug info).
#include "cdw_symbolizer.h"

#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cdw_handle {
    Dwfl *dwfl;
    Dwfl_Module *mod;
};

static const Dwfl_Callbacks offline_callbacks = {
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

cdw_handle *cdw_open(const char *path, char *err, size_t errlen) {
    Dwfl *dwfl = dwfl_begin(&offline_callbacks);
    if (dwfl == NULL) {
        snprintf(err, errlen, "dwfl_begin: %s", dwfl_errmsg(-1));
        return NULL;
    }
    Dwfl_Module *mod = dwfl_report_offline(dwfl, "vmlinux", path, -1);
    if (mod == NULL) {
        snprintf(err, errlen, "%s", dwfl_errmsg(-1));
        dwfl_end(dwfl);
        return NULL;
    }
    dwfl_report_end(dwfl, NULL, NULL);
    cdw_handle *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        dwfl_end(dwfl);
        return NULL;
    }
    h->dwfl = dwfl;
    h->mod = mod;
    return h;
}

void cdw_close(cdw_handle *h) {
    if (h == NULL) return;
    dwfl_end(h->dwfl);
    free(h);
}

int cdw_symbol_count(cdw_handle *h) { return dwfl_module_getsymtab(h->mod); }

int cdw_symbol_at(cdw_handle *h, int i, const char **name, uint64_t *addr, uint64_t *size) {
    GElf_Sym sym;
    GElf_Addr value = 0;
    const char *n = dwfl_module_getsym_info(h->mod, i, &sym, &value, NULL, NULL, NULL);
    if (n == NULL || n[0] == '\0') return -1;
    int type = GELF_ST_TYPE(sym.st_info);
    if (type != STT_FUNC && type != STT_OBJECT && type != STT_NOTYPE) return -1;
    *name = n;
    *addr = value;
    *size = sym.st_size;
    return 0;
}

int cdw_line(cdw_handle *h, uint64_t pc, char *file, size_t filelen, int *line) {
    Dwfl_Line *l = dwfl_module_getsrc(h->mod, (Dwarf_Addr)pc);
    if (l == NULL) return -1;
    int lineno = 0;
    const char *src = dwfl_lineinfo(l, NULL, &lineno, NULL, NULL, NULL);
    if (src == NULL) return -1;
    snprintf(file, filelen, "%s", src);
    *line = lineno;
    return 0;
}
