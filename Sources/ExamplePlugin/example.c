/* A minimal bpfstress runtime plugin: forwards every bpf command to the kernel and counts
 * them. Build: cc -shared -fPIC -I Sources/CBPFStress/include example.c -o libexample.so
 * Run:   bpfstress run --runtime plugin:./libexample.so --scenario map-parallel */
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "bpfstress_runtime.h"

static unsigned long calls; /* per process; a real runtime keeps its state here */

static int ex_init(const char *config, char *state, size_t len) {
    /* Coordinator, before any worker: set up shared state, describe it in `state`. */
    snprintf(state, len, "example:%s", config);
    return 0;
}

static int ex_attach(const char *state, void **ctx) {
    (void)state; /* every worker gets the string ex_init wrote */
    *ctx = &calls;
    return 0;
}

static long ex_bpf(void *ctx, int cmd, void *attr, unsigned int size) {
    __atomic_fetch_add((unsigned long *)ctx, 1, __ATOMIC_RELAXED);
    long r = syscall(__NR_bpf, cmd, attr, size);
    return r < 0 ? -errno : r;
}

static const struct bpfstress_runtime example = {
    .abi_version = BPFSTRESS_RUNTIME_ABI_VERSION,
    /* It forwards to the kernel, so it offers the kernel's hooks (struct_ops excepted). */
    .capabilities = BPFSTRESS_CAP_CGROUP_HOOKS | BPFSTRESS_CAP_TRACEPOINTS | BPFSTRESS_CAP_NETNS,
    .name = "example",
    .campaign_init = ex_init,
    .attach = ex_attach,
    .bpf = ex_bpf,
};

const struct bpfstress_runtime *bpfstress_runtime_entry(uint32_t host_abi_version) {
    return host_abi_version == BPFSTRESS_RUNTIME_ABI_VERSION ? &example : NULL;
}
