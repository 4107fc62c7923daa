/* Test-only runtime plugin: the kernel's bpf(2), with a fixed sleep before one command. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "sleep_plugin.h"

struct sleep_ctx { int cmd; long us; };
static struct sleep_ctx ctx_storage;

static int sp_parse(const char *config, struct sleep_ctx *c) {
    int cmd = -1;
    long us = -1;
    if (!config || sscanf(config, "%d,%ld", &cmd, &us) != 2 || cmd < 0 || us < 0 || us > 10000000) return -EINVAL;
    c->cmd = cmd;
    c->us = us;
    return 0;
}

static int sp_init(const char *config, char *state, size_t len) {
    struct sleep_ctx c;
    int rc = sp_parse(config, &c);
    if (rc) return rc;
    snprintf(state, len, "%d,%ld", c.cmd, c.us);
    return 0;
}

static int sp_attach(const char *state, void **ctx) {
    int rc = sp_parse(state, &ctx_storage);
    if (rc) return rc;
    *ctx = &ctx_storage;
    return 0;
}

static long sp_bpf(void *ctx, int cmd, void *attr, unsigned int size) {
    const struct sleep_ctx *c = ctx;
    if (cmd == c->cmd) {
        struct timespec ts = { c->us / 1000000, (c->us % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
    long r = syscall(__NR_bpf, cmd, attr, size);
    return r < 0 ? -errno : r;
}

static const struct bpfstress_runtime sleeper = {
    .abi_version = BPFSTRESS_RUNTIME_ABI_VERSION,
    .capabilities = BPFSTRESS_CAP_CGROUP_HOOKS | BPFSTRESS_CAP_TRACEPOINTS | BPFSTRESS_CAP_NETNS,
    .name = "sleep",
    .campaign_init = sp_init,
    .attach = sp_attach,
    .bpf = sp_bpf,
};

const struct bpfstress_runtime *bpfstress_runtime_entry(uint32_t host_abi_version) {
    return host_abi_version == BPFSTRESS_RUNTIME_ABI_VERSION ? &sleeper : NULL;
}
