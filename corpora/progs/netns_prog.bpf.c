/* Network-namespace-scoped programs for the netns churn of extension-restart. Both are
 * attached by BPF_LINK_CREATE with a namespace fd as the target, and the namespace is
 * destroyed while they are attached. sk_lookup counts the lookups it sees (one per
 * connection to a listener in that namespace) and always passes; flow_dissector leaves
 * the keys alone and lets the kernel's own dissector run (BPF_FLOW_DISSECTOR_CONTINUE
 * is not in 6.1 headers, so it returns BPF_OK with no keys only for packets in the
 * churned namespace, which carries nothing but this scenario's loopback connects). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} netns_calls SEC(".maps");

static __always_inline void bump(__u32 idx)
{
    __u64 *v = bpf_map_lookup_elem(&netns_calls, &idx);
    if (v)
        __sync_fetch_and_add(v, 1);
}

SEC("sk_lookup")
int count_sk_lookup(struct bpf_sk_lookup *ctx)
{
    bump(0);
    return SK_PASS;
}

SEC("flow_dissector")
int pass_flow_dissector(struct __sk_buff *skb)
{
    bump(1);
    return BPF_OK;
}

char LICENSE[] SEC("license") = "GPL";
