/* raw_tp/contention_begin: runs inside the kernel's lock slow path and updates the
 * same few hash keys that user-space threads update and delete at the same time, so
 * that the program's bucket-lock acquisition can meet a bucket lock held by another
 * CPU (the ABBA of the seed bug). Since 6.15 the hash map's bucket lock is an
 * rqspinlock: the update must fail with -EBUSY/-EDEADLK/-ETIMEDOUT, never hang.
 * Every outcome is counted in `outcomes` so user space can judge them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Keys 0..LC_KEYS-1 are the contended ones (user space uses the same set). */
#define LC_KEYS 4

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u64);
} shared SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u64);
} pcpu SEC(".maps");

/* Outcome counters, index = LC_* below; one array slot per outcome per variant:
 * [0..7] for the hash program, [8..15] for the per-CPU one. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 16);
    __type(key, __u32);
    __type(value, __u64);
} outcomes SEC(".maps");

#define LC_FIRED     0  /* program ran */
#define LC_OK        1  /* update succeeded */
#define LC_EBUSY     2
#define LC_EDEADLK   3
#define LC_ETIMEDOUT 4
#define LC_OTHER     5  /* any other error: a finding */
#define LC_LAST_ERR  6  /* the last "other" error, negated */

#define E_BUSY      16
#define E_DEADLK    35
#define E_TIMEDOUT 110

static __always_inline void bump(__u32 idx, __u64 by)
{
    __u64 *v = bpf_map_lookup_elem(&outcomes, &idx);
    if (v)
        __sync_fetch_and_add(v, by);
}

static __always_inline void record(__u32 base, long err)
{
    __u32 idx;
    bump(base + LC_FIRED, 1);
    if (err == 0) {
        bump(base + LC_OK, 1);
        return;
    }
    if (err == -E_BUSY)
        idx = LC_EBUSY;
    else if (err == -E_DEADLK)
        idx = LC_EDEADLK;
    else if (err == -E_TIMEDOUT)
        idx = LC_ETIMEDOUT;
    else {
        __u32 last = base + LC_LAST_ERR;
        __u64 *v = bpf_map_lookup_elem(&outcomes, &last);
        if (v)
            *v = (__u64)(-err);
        idx = LC_OTHER;
    }
    bump(base + idx, 1);
}

/* args[0] is the lock address, args[1] the LCB_F_* flags. */
SEC("raw_tp/contention_begin")
int abba_hash(struct bpf_raw_tracepoint_args *ctx)
{
    __u32 key = (__u32)(ctx->args[0] >> 6) % LC_KEYS;
    __u64 val = ctx->args[1];
    long err = bpf_map_update_elem(&shared, &key, &val, BPF_ANY);
    record(0, err);
    return 0;
}

SEC("raw_tp/contention_begin")
int abba_percpu(struct bpf_raw_tracepoint_args *ctx)
{
    __u32 key = (__u32)(ctx->args[0] >> 6) % LC_KEYS;
    __u64 val = ctx->args[1];
    long err = bpf_map_update_elem(&pcpu, &key, &val, BPF_ANY);
    record(8, err);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
