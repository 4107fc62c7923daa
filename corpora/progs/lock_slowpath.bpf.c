/* fentry on the queued spin lock slow path (the seed's own recipe, bpftrace's
 * kfunc:native_queued_spin_lock_slowpath): every time some CPU has to wait for a
 * contended spinlock, this program updates the same few keys of a hash map that user
 * space updates and deletes on every CPU. Before 6.15 the hash map's bucket lock is a raw
 * spinlock, so a program waiting for a bucket lock held by a CPU that itself waits in the
 * slow path is the ABBA of the seed. The target function is set at load time
 * (bpf_program__set_attach_target), the section says only "fentry". */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define LS_KEYS 4

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} slow_shared SEC(".maps");

/* [0] fired, [1] ok, [2] EBUSY, [3] EDEADLK, [4] ETIMEDOUT, [5] other, [6] last other (negated),
 * [7] E2BIG (map full: the user-space side holds the other slots) */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} slow_outcomes SEC(".maps");

static __always_inline void bump(__u32 idx, __u64 by)
{
    __u64 *v = bpf_map_lookup_elem(&slow_outcomes, &idx);
    if (v)
        __sync_fetch_and_add(v, by);
}

SEC("fentry")
int on_slowpath(void *ctx)
{
    __u32 key = bpf_get_prandom_u32() % LS_KEYS;
    __u64 val = bpf_ktime_get_ns();
    /* Compared as int: on Debian 6.1 the helper's -EBUSY came back zero-extended (0xfffffff0),
     * so a 64-bit compare with -16 missed it. */
    int err = (int)bpf_map_update_elem(&slow_shared, &key, &val, BPF_ANY);
    bump(0, 1);
    if (err == 0) bump(1, 1);
    else if (err == -16) bump(2, 1);
    else if (err == -35) bump(3, 1);
    else if (err == -110) bump(4, 1);
    else if (err == -7) bump(7, 1);
    else {
        __u32 idx = 6;
        __u64 *v;
        bump(5, 1);
        v = bpf_map_lookup_elem(&slow_outcomes, &idx);
        if (v) *v = (__u64)(-err);
    }
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
