/* bpfstress runtime plugin ABI, version 1.
 *
 * A runtime plugin is a shared library that exports one function,
 *
 *     const struct bpfstress_runtime *bpfstress_runtime_entry(uint32_t host_abi_version);
 *
 * returning a static table of functions. bpfstress loads it with
 * `--runtime plugin:PATH[:CONFIG]`:
 *
 *   coordinator:  entry() -> check abi_version -> campaign_init(CONFIG) -> state string
 *                 ... workers run ...
 *                 campaign_fini(state)                  (after every worker is gone)
 *   each worker:  entry() -> attach(state) -> ctx; then every bpf command of every
 *                 scenario and of the fuzzer goes through bpf(ctx, cmd, attr, size).
 *
 * The coordinator also attaches (it probes, and inventories objects for the leak check).
 * All functions may be called from many threads at once, except campaign_init/fini.
 * This header is self-contained (stdint/stddef only) so that plugins need nothing else.
 */
#ifndef BPFSTRESS_RUNTIME_H
#define BPFSTRESS_RUNTIME_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bump on any incompatible change of struct bpfstress_runtime. */
#define BPFSTRESS_RUNTIME_ABI_VERSION 1u
/** The one symbol bpfstress looks up with dlsym. */
#define BPFSTRESS_RUNTIME_ENTRY "bpfstress_runtime_entry"
/** Room for the campaign state string (and for an error message from campaign_init). */
#define BPFSTRESS_RUNTIME_STATE_MAX 1024u

/* Capability bits (same values as BPFKit's RuntimeCapabilities). A scenario that needs a
 * capability the plugin lacks is skipped with the reason. A plugin that forwards to the
 * kernel may claim the kernel's capabilities. */
#define BPFSTRESS_CAP_CGROUP_HOOKS      (1u << 0) /* cgroup attach points (connect4/6, ...) */
#define BPFSTRESS_CAP_TRACEPOINTS       (1u << 1) /* (raw) tracepoint programs */
#define BPFSTRESS_CAP_STRUCT_OPS        (1u << 2) /* struct_ops maps */
#define BPFSTRESS_CAP_NETNS             (1u << 3) /* network namespaces */
#define BPFSTRESS_CAP_EXTENSION_RESTART (1u << 4) /* restart_extension is provided */

struct bpfstress_runtime {
    /** Must be BPFSTRESS_RUNTIME_ABI_VERSION of the header the plugin was built with. */
    uint32_t abi_version;
    /** BPFSTRESS_CAP_* bits. */
    uint32_t capabilities;
    /** Short name for reports, e.g. "bugbench". */
    const char *name;

    /** Coordinator, once, before any worker exists. `config` is CONFIG from the command
     *  line ("" when absent). On success write a NUL-terminated string of at most
     *  `state_len` bytes to `state` (handed to every attach) and return 0. On failure
     *  return -errno and write a one-line message to `state`: -EINVAL means a bad CONFIG
     *  (exit code 2), anything else an environment problem (exit code 3). */
    int (*campaign_init)(const char *config, char *state, size_t state_len);
    /** Coordinator, once, after every worker is gone. May be NULL. */
    void (*campaign_fini)(const char *state);

    /** Every process (workers and the coordinator), once, before its first bpf call.
     *  Sets *ctx, which is passed to every call below. Returns 0 or -errno. */
    int (*attach)(const char *state, void **ctx);
    /** bpf(2): cmd, attr and size exactly as the syscall takes them. Returns >= 0 (an fd,
     *  an id, 0) or -errno; never sets errno as its error channel. */
    long (*bpf)(void *ctx, int cmd, void *attr, unsigned int size);

    /** Optional (NULL when absent): restart the named extension (provider of attach
     *  points) under load. Returns 0 or -errno. */
    int (*restart_extension)(void *ctx, const char *name);
    /** Optional (NULL when absent): run the programs of hook `attach_type` (enum
     *  bpf_attach_type) on `ctx_bytes`. Returns >= 0 or -errno. */
    long (*invoke_hook)(void *ctx, uint32_t attach_type, const void *ctx_bytes, size_t ctx_len);
};

/** The entry point, exported by the plugin. `host_abi_version` is the host's
 *  BPFSTRESS_RUNTIME_ABI_VERSION; a plugin may return NULL if it cannot serve it. */
typedef const struct bpfstress_runtime *(*bpfstress_runtime_entry_fn)(uint32_t host_abi_version);

#ifdef __cplusplus
}
#endif
#endif
