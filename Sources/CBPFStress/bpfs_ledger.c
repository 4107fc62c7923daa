/* The ownership ledger: sparse bitmaps of created object ids in a shared memfd. */
#define _GNU_SOURCE
#include "bpfs_ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct bpfs_ledger_header {
    uint64_t magic;
    uint64_t pins_used;      /* reservations; entries past BPFS_LEDGER_PINS are dropped */
    uint64_t unidentified;
};

#define LEDGER_MAGIC 0x3130676c73667062ull /* "bpfslg01" */
#define HEADER_BYTES 4096ull
#define ID_MAP_BYTES (BPFS_LEDGER_ID_BITS / 8)
#define NETNS_MAP_BYTES (BPFS_LEDGER_NETNS_BITS / 8)
#define PINS_OFFSET (HEADER_BYTES + 4 * ID_MAP_BYTES + NETNS_MAP_BYTES)
#define LEDGER_BYTES (PINS_OFFSET + (uint64_t)BPFS_LEDGER_PINS * BPFS_LEDGER_PIN_LEN)

static char *g_base;

static struct bpfs_ledger_header *header(void) { return (struct bpfs_ledger_header *)g_base; }

static int map_fd(int fd) {
    bpfs_ledger_detach();
    void *p = mmap(NULL, LEDGER_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) return -errno;
    g_base = p;
    return 0;
}

int bpfs_ledger_create(void) {
    int fd0 = memfd_create("bpfstress-ledger", MFD_CLOEXEC);
    if (fd0 < 0) return -errno;
    int fd = fcntl(fd0, F_DUPFD_CLOEXEC, 10);
    close(fd0);
    if (fd < 0) return -errno;
    if (ftruncate(fd, (off_t)LEDGER_BYTES) != 0 || map_fd(fd) != 0) { int e = errno; close(fd); return -e; }
    header()->magic = LEDGER_MAGIC;
    return fd;
}

int bpfs_ledger_attach(int fd) {
    uint64_t magic = 0;
    if (pread(fd, &magic, sizeof magic, 0) != (ssize_t)sizeof magic || magic != LEDGER_MAGIC) return -EPROTO;
    return map_fd(fd);
}

int bpfs_ledger_active(void) { return g_base != NULL; }

void bpfs_ledger_detach(void) {
    if (g_base) munmap(g_base, LEDGER_BYTES);
    g_base = NULL;
}

/* The bitmap word holding `bit` of kind `kind`, or NULL when out of range. */
static uint64_t *word(enum bpfs_ledger_kind kind, uint64_t id, uint64_t *mask) {
    uint64_t bit;
    char *map;
    if (kind == BPFS_LEDGER_NETNS) {
        if (id < BPFS_LEDGER_NETNS_BASE || id - BPFS_LEDGER_NETNS_BASE >= BPFS_LEDGER_NETNS_BITS) return NULL;
        bit = id - BPFS_LEDGER_NETNS_BASE;
        map = g_base + HEADER_BYTES + 4 * ID_MAP_BYTES;
    } else {
        if (kind > BPFS_LEDGER_BTF || id >= BPFS_LEDGER_ID_BITS) return NULL;
        bit = id;
        map = g_base + HEADER_BYTES + (uint64_t)kind * ID_MAP_BYTES;
    }
    *mask = 1ull << (bit % 64);
    return (uint64_t *)map + bit / 64;
}

void bpfs_ledger_note(enum bpfs_ledger_kind kind, uint64_t id) {
    if (!g_base) return;
    uint64_t mask;
    uint64_t *w = word(kind, id, &mask);
    if (w) __atomic_fetch_or(w, mask, __ATOMIC_RELAXED);
    else __atomic_fetch_add(&header()->unidentified, 1, __ATOMIC_RELAXED);
}

void bpfs_ledger_note_fd(const struct bpfs_rt *rt, enum bpfs_ledger_kind kind, int fd) {
    if (!g_base || fd < 0) return;
    /* Every info struct of these kinds has the id at offset 4 (prog, map, link: type then
     * id; btf: the 8-byte btf pointer comes first, so its id sits at offset 12). A short
     * info_len is fine: the kernel copies min(info_len, sizeof(info)). */
    uint32_t info[4] = {0};
    uint32_t len = kind == BPFS_LEDGER_BTF ? 16 : 8;
    int rc = bpfs_obj_get_info_by_fd(rt, fd, info, &len);
    uint32_t id = kind == BPFS_LEDGER_BTF ? info[3] : info[1];
    if (rc != 0 || id == 0) { __atomic_fetch_add(&header()->unidentified, 1, __ATOMIC_RELAXED); return; }
    bpfs_ledger_note(kind, id);
}

void bpfs_ledger_note_pin(const char *path) {
    if (!g_base || !path) return;
    uint64_t i = __atomic_fetch_add(&header()->pins_used, 1, __ATOMIC_RELAXED);
    if (i >= BPFS_LEDGER_PINS) return;
    char *dst = g_base + PINS_OFFSET + i * BPFS_LEDGER_PIN_LEN;
    size_t n = strnlen(path, BPFS_LEDGER_PIN_LEN - 1);
    memcpy(dst, path, n);
    dst[n] = 0;
}

int bpfs_ledger_has(enum bpfs_ledger_kind kind, uint64_t id) {
    if (!g_base) return 0;
    uint64_t mask;
    uint64_t *w = word(kind, id, &mask);
    return w && (__atomic_load_n(w, __ATOMIC_RELAXED) & mask) != 0;
}

uint32_t bpfs_ledger_pin_count(void) {
    if (!g_base) return 0;
    uint64_t n = __atomic_load_n(&header()->pins_used, __ATOMIC_RELAXED);
    return (uint32_t)(n < BPFS_LEDGER_PINS ? n : BPFS_LEDGER_PINS);
}

const char *bpfs_ledger_pin(uint32_t i) { return g_base + PINS_OFFSET + (uint64_t)i * BPFS_LEDGER_PIN_LEN; }

uint64_t bpfs_ledger_pins_dropped(void) {
    if (!g_base) return 0;
    uint64_t n = __atomic_load_n(&header()->pins_used, __ATOMIC_RELAXED);
    return n > BPFS_LEDGER_PINS ? n - BPFS_LEDGER_PINS : 0;
}

uint64_t bpfs_ledger_unidentified(void) { return g_base ? __atomic_load_n(&header()->unidentified, __ATOMIC_RELAXED) : 0; }

void bpfs_ledger_reset(void) {
    if (!g_base) return;
    /* Punch the bitmaps out rather than writing 1 GiB of zeroes. */
    madvise(g_base + HEADER_BYTES, LEDGER_BYTES - HEADER_BYTES, MADV_REMOVE);
    header()->pins_used = 0;
    header()->unidentified = 0;
}

void bpfs_ledger_note_libbpf_object(struct bpf_object *obj) {
    static const struct bpfs_rt kernel = { bpfs_kernel_sys, NULL };
    struct bpf_map *m;
    struct bpf_program *p;
    if (!g_base || !obj) return;
    bpf_object__for_each_map(m, obj) if (bpf_map__fd(m) >= 0) bpfs_ledger_note_fd(&kernel, BPFS_LEDGER_MAP, bpf_map__fd(m));
    bpf_object__for_each_program(p, obj) if (bpf_program__fd(p) >= 0) bpfs_ledger_note_fd(&kernel, BPFS_LEDGER_PROG, bpf_program__fd(p));
    struct btf *btf = bpf_object__btf(obj);
    if (btf && btf__fd(btf) >= 0) bpfs_ledger_note_fd(&kernel, BPFS_LEDGER_BTF, btf__fd(btf));
}
