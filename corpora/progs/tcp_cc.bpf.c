/* A minimal TCP congestion control as struct_ops (registered through libbpf, which
 * does the BTF relocation the plain loader does not). It behaves like a frozen Reno
 * (halve on loss, never grow) and counts its callbacks, so that user space can prove
 * that a connection really ran through it. The name in `.struct_ops` is a default:
 * the loader overwrites it per registration so concurrent churners do not collide. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Only the fields this program reads; CO-RE relocates them against vmlinux BTF. */
struct sock;
struct tcp_sock {
    __u32 snd_cwnd;
    __u32 snd_ssthresh;
} __attribute__((preserve_access_index));

/* The members this program sets; libbpf matches them by name to the kernel's. */
struct tcp_congestion_ops {
    __u32 (*ssthresh)(struct sock *sk);
    void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
    __u32 (*undo_cwnd)(struct sock *sk);
    void (*init)(struct sock *sk);
    void (*release)(struct sock *sk);
    char name[16];
};

/* [0] init calls (one per connection that reached ESTABLISHED with this CC),
 * [1] release calls, [2] ssthresh calls, [3] cong_avoid calls. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} cc_calls SEC(".maps");

static __always_inline void bump(__u32 idx)
{
    __u64 *v = bpf_map_lookup_elem(&cc_calls, &idx);
    if (v)
        __sync_fetch_and_add(v, 1);
}

SEC("struct_ops/bpfs_cc_init")
int bpfs_cc_init(unsigned long long *ctx)
{
    bump(0);
    return 0;
}

SEC("struct_ops/bpfs_cc_release")
int bpfs_cc_release(unsigned long long *ctx)
{
    bump(1);
    return 0;
}

SEC("struct_ops/bpfs_cc_ssthresh")
__u32 bpfs_cc_ssthresh(unsigned long long *ctx)
{
    const struct tcp_sock *tp = (const struct tcp_sock *)ctx[0];
    __u32 half = tp->snd_cwnd >> 1;
    bump(2);
    return half < 2 ? 2 : half;
}

SEC("struct_ops/bpfs_cc_cong_avoid")
int bpfs_cc_cong_avoid(unsigned long long *ctx)
{
    bump(3);
    return 0;
}

SEC("struct_ops/bpfs_cc_undo_cwnd")
__u32 bpfs_cc_undo_cwnd(unsigned long long *ctx)
{
    const struct tcp_sock *tp = (const struct tcp_sock *)ctx[0];
    return tp->snd_cwnd;
}

SEC(".struct_ops")
struct tcp_congestion_ops bpfs_cc = {
    .init = (void *)bpfs_cc_init,
    .release = (void *)bpfs_cc_release,
    .ssthresh = (void *)bpfs_cc_ssthresh,
    .cong_avoid = (void *)bpfs_cc_cong_avoid,
    .undo_cwnd = (void *)bpfs_cc_undo_cwnd,
    .name = "bpfs_cc",
};

char LICENSE[] SEC("license") = "GPL";
