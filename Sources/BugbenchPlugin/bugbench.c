/* bugbench: a bpfstress runtime plugin that forwards every bpf command to the kernel and
 * plants the four seed bugs on request (see include/bugbench.h). Each fault reproduces the
 * mechanism of its seed, not only its symptom, so that bpfstress has to find it the way it
 * would find the real one: a hang through the watchdog, a crash through the crash handler,
 * a failure through a scenario check.
 *
 * The bb_* functions named in the seeds are noinline and keep their frames (no sibling
 * calls), so that captured stacks name them. */
#include "bb_internal.h"

/* ---- the bpf entry ------------------------------------------------------------------ */

static long bb_bpf(void *ctx, int cmd, void *attr, unsigned int size) {
    struct bb_ctx *c = ctx;
    if (!c || !attr) return bb_kernel(cmd, attr, size);
    switch (cmd) {
    case BPF_PROG_LOAD:
        return bb_program_create(c, attr, size);
    case BPF_PROG_ATTACH:
    case BPF_LINK_CREATE: {
        if (size < 12) break;
        uint32_t type = ((uint32_t *)attr)[2]; /* attach_type: same offset in both commands */
        if (type == BPF_CGROUP_INET4_CONNECT || type == BPF_CGROUP_INET6_CONNECT)
            return bb_add_connect_filters(c, cmd, attr, size);
        break;
    }
    case BPF_MAP_UPDATE_ELEM:
        return bb_map_update_elem(c, attr, size);
    case BPF_MAP_LOOKUP_BATCH:
        return bb_map_lookup_batch(c, attr, size);
    default:
        break;
    }
    return bb_kernel(cmd, attr, size);
}

/* ---- the fault table, as data ---------------------------------------------------------- */

/* What each planted fault is and which campaign must find it, read by `bpfstress bugbench`
 * with dlsym. One fault a line, space-separated key=value fields:
 *   name, scenario, expect (hang|crash|failure), title (substrings the finding's title must
 *   hold, comma-separated), culprits (functions its title or dump must name), workers,
 *   threads, params (scenario parameters, name:value;...). */
__attribute__((visibility("default"))) const char bpfstress_bugbench_faults[] =
    "name=epoch-detach scenario=extension-restart expect=hang title=bb_ "
    "culprits=bb_epoch_synchronize,bb_program_information_detach_provider,bb_program_create "
    "workers=2 threads=3 params=churn:cgroup;period:10ms;churners:1\n"
    "name=shared-txn scenario=load-attach-v4v6 expect=failure title=EINVAL culprits= "
    "workers=2 threads=3 params=connects:2\n"
    "name=abba scenario=lock-contention-abba expect=hang title=bb_ "
    "culprits=bb_map_update_elem,bb_stats_account,bb_hook_invoke,bb_hook_map_update "
    "workers=2 threads=3 params=\n"
    "name=percpu-size scenario=percpu-batch-sizes expect=crash "
    "title=SIGSEGV%20in%20memcpy%20from%20bb_lookup_batch_copy_values "
    "culprits=bb_lookup_batch_copy_values,bb_map_lookup_batch workers=2 threads=2 params=\n";

/* ---- campaign init / fini / attach --------------------------------------------------- */

static const struct { const char *name; uint32_t bit; } bb_fault_names[] = {
    {"epoch-detach", BB_FAULT_EPOCH_DETACH},
    {"shared-txn", BB_FAULT_SHARED_TXN},
    {"abba", BB_FAULT_ABBA},
    {"percpu-size", BB_FAULT_PERCPU_SIZE},
};

/* CONFIG: comma-separated fault names, optionally after "faults="; "" or "none" = no fault. */
static int bb_parse_config(const char *config, uint32_t *faults, char *err, size_t errlen) {
    *faults = 0;
    if (!config) return 0;
    if (strncmp(config, "faults=", 7) == 0) config += 7;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", config);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (!*tok || strcmp(tok, "none") == 0) continue;
        int found = 0;
        for (size_t i = 0; i < sizeof bb_fault_names / sizeof bb_fault_names[0]; i++) {
            if (strcmp(tok, bb_fault_names[i].name) == 0) { *faults |= bb_fault_names[i].bit; found = 1; }
        }
        if (!found) {
            snprintf(err, errlen, "unknown fault '%s' (known: epoch-detach, shared-txn, abba, percpu-size, none)", tok);
            return -EINVAL;
        }
    }
    return 0;
}

/* Segments of campaigns whose coordinator died without campaign_fini. */
static void bb_remove_stale_segments(void) {
    DIR *d = opendir("/dev/shm");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid = 0;
        if (sscanf(e->d_name, "bpfstress-bugbench.%d.", &pid) != 1 || pid <= 0) continue;
        if (kill(pid, 0) == 0 || errno != ESRCH) continue;
        char name[300];
        snprintf(name, sizeof name, "/%s", e->d_name);
        shm_unlink(name);
    }
    closedir(d);
}

static int bb_campaign_init(const char *config, char *state, size_t len) {
    uint32_t faults;
    int r = bb_parse_config(config, &faults, state, len);
    if (r < 0) return r;
    bb_remove_stale_segments();
    static unsigned counter;
    char name[128];
    snprintf(name, sizeof name, "/bpfstress-bugbench.%d.%u.%llx", getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED),
             (unsigned long long)bb_now_ns());
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) { r = -errno; snprintf(state, len, "shm_open %s: %s", name, strerror(-r)); return r; }
    if (ftruncate(fd, sizeof(struct bb_shared)) < 0) {
        r = -errno; close(fd); shm_unlink(name);
        snprintf(state, len, "ftruncate: %s", strerror(-r));
        return r;
    }
    struct bb_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (sh == MAP_FAILED) { r = -errno; shm_unlink(name); snprintf(state, len, "mmap: %s", strerror(-r)); return r; }
    memset(sh, 0, sizeof *sh);
    sh->faults = faults;
    sh->ncpus = (uint32_t)bb_possible_cpus();
    bb_mutex_init(&sh->provider_lock);
    bb_mutex_init(&sh->engine_lock);
    bb_mutex_init(&sh->stats_lock);
    for (int i = 0; i < BB_BUCKETS; i++) bb_mutex_init(&sh->bucket_lock[i]);
    static const char *names[BB_PROVIDERS] = {"cgroup_sock_addr", "cgroup_sock", "sock_ops"};
    for (int i = 0; i < BB_PROVIDERS; i++) {
        snprintf(sh->providers[i].name, sizeof sh->providers[i].name, "%s", names[i]);
        sh->providers[i].registered = 1;
    }
    __atomic_store_n(&sh->magic, BB_MAGIC, __ATOMIC_RELEASE);
    munmap(sh, sizeof *sh);
    snprintf(state, len, "%s", name);
    return 0;
}

static void bb_campaign_fini(const char *state) {
    if (state && state[0] == '/') shm_unlink(state);
}

static int bb_attach(const char *state, void **ctx) {
    if (!state || state[0] != '/') return -EINVAL;
    int fd = shm_open(state, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct bb_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (sh == MAP_FAILED) return -e;
    if (sh->magic != BB_MAGIC) { munmap(sh, sizeof *sh); return -EPROTO; }
    struct bb_ctx *c = calloc(1, sizeof *c);
    if (!c) { munmap(sh, sizeof *sh); return -ENOMEM; }
    c->sh = sh;
    *ctx = c;
    return 0;
}

static const struct bpfstress_runtime bb_runtime = {
    .abi_version = BPFSTRESS_RUNTIME_ABI_VERSION,
    /* It forwards to the kernel, so it has the kernel's hooks; struct_ops registration goes
     * through libbpf, outside any runtime, so that one is not claimed. */
    .capabilities = BPFSTRESS_CAP_CGROUP_HOOKS | BPFSTRESS_CAP_TRACEPOINTS | BPFSTRESS_CAP_NETNS |
                    BPFSTRESS_CAP_EXTENSION_RESTART,
    .name = "bugbench",
    .campaign_init = bb_campaign_init,
    .campaign_fini = bb_campaign_fini,
    .attach = bb_attach,
    .bpf = bb_bpf,
    .restart_extension = bb_restart_extension,
    .invoke_hook = bb_hook_invoke,
};

const struct bpfstress_runtime *bpfstress_runtime_entry(uint32_t host_abi_version) {
    return host_abi_version == BPFSTRESS_RUNTIME_ABI_VERSION ? &bb_runtime : NULL;
}
