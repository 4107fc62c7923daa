/* Shared by connect4/connect6: count connect() calls per destination port. */
#ifndef BPFSTRESS_CONNECT_COMMON_H
#define BPFSTRESS_CONNECT_COMMON_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* key: destination port in host byte order; value: number of connects seen. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, __u64);
} connects SEC(".maps");

/* Adds one to connects[port]. The insert can race with another CPU inserting the
 * same port: NOEXIST makes the loser fall through to the atomic add. */
static __always_inline void count_port(__u32 user_port_be)
{
    __u32 port = bpf_ntohs((__u16)user_port_be);
    __u64 *count = bpf_map_lookup_elem(&connects, &port);
    if (!count) {
        __u64 one = 1;
        if (bpf_map_update_elem(&connects, &port, &one, BPF_NOEXIST) == 0)
            return;
        count = bpf_map_lookup_elem(&connects, &port);
        if (!count)
            return;
    }
    __sync_fetch_and_add(count, 1);
}

char LICENSE[] SEC("license") = "GPL";

#endif
