/* The campaign's ownership ledger: which BPF objects, network namespaces and pins the
 * campaign's own processes created, recorded at the moment of creation.
 *
 * One memfd-backed block, shared by the coordinator and every worker (fd 5 in a worker).
 * Object ids and namespace inode numbers are bits in sparse bitmaps (the kernel's ids are
 * < 2^31 and allocated cyclically, so only the pages near the current id are ever touched):
 * a set bit never overflows and costs one atomic OR. Pins are paths in a fixed table whose
 * overflow is counted. After teardown the leak check asks which live objects have their
 * bit set: those are the campaign's leaks, whatever their names, and nothing another
 * campaign on the machine made is ever attributed. */
#ifndef BPFS_LEDGER_H
#define BPFS_LEDGER_H
#include <stdint.h>
#include "bpfs_bpf.h"

enum bpfs_ledger_kind {
    BPFS_LEDGER_PROG = 0, BPFS_LEDGER_MAP = 1, BPFS_LEDGER_LINK = 2, BPFS_LEDGER_BTF = 3,
    BPFS_LEDGER_NETNS = 4, BPFS_LEDGER_NKINDS = 5,
};

#define BPFS_LEDGER_ID_BITS (1ull << 31)
/* Namespace inode numbers start at PROC_DYNAMIC_FIRST (0xF0000000). */
#define BPFS_LEDGER_NETNS_BASE 0xF0000000ull
#define BPFS_LEDGER_NETNS_BITS (1ull << 28)
#define BPFS_LEDGER_PINS 4096
#define BPFS_LEDGER_PIN_LEN 256

/* Creates the block (coordinator); returns its fd (CLOEXEC, >= 10) or -errno, and maps it
 * as this process's ledger. */
int bpfs_ledger_create(void);
/* Maps an inherited ledger fd as this process's ledger (worker). */
int bpfs_ledger_attach(int fd);
/* Unmaps this process's ledger: it records nothing more. */
void bpfs_ledger_detach(void);
/* 1 when this process records into a ledger. */
int bpfs_ledger_active(void);

/* Records a new object by its fd: asks BPF_OBJ_GET_INFO_BY_FD through `rt` for its id.
 * Called by the shim after every successful MAP_CREATE, PROG_LOAD, LINK_CREATE,
 * BTF_LOAD and RAW_TRACEPOINT_OPEN; exported for objects made outside the shim (libbpf's
 * struct_ops loader). A failed lookup is counted in `unidentified`. */
void bpfs_ledger_note_fd(const struct bpfs_rt *rt, enum bpfs_ledger_kind kind, int fd);
/* Records every map, program and the BTF of a libbpf object (struct bpf_object *), made with
 * libbpf's own bpf() calls past the shim (struct_ops, fentry), on the kernel. */
struct bpf_object;
void bpfs_ledger_note_libbpf_object(struct bpf_object *obj);
/* Records an id, or a namespace inode number, directly. */
void bpfs_ledger_note(enum bpfs_ledger_kind kind, uint64_t id);
/* Records a pin path (BPF_OBJ_PIN). */
void bpfs_ledger_note_pin(const char *path);

/* Reader side (coordinator, after teardown). */
int bpfs_ledger_has(enum bpfs_ledger_kind kind, uint64_t id);
uint32_t bpfs_ledger_pin_count(void);
/* Pin path `i` (< bpfs_ledger_pin_count()), NUL-terminated. */
const char *bpfs_ledger_pin(uint32_t i);
/* Pins that did not fit the table, and creations whose id could not be read. */
uint64_t bpfs_ledger_pins_dropped(void);
uint64_t bpfs_ledger_unidentified(void);
/* Clears everything (tests). */
void bpfs_ledger_reset(void);
#endif
