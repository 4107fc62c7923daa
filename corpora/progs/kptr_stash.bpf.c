/* SEC("tc") programs, run with BPF_PROG_TEST_RUN, that store a local kptr (bpf_obj_new,
 * 6.2+; in map values since 6.4) in the `p` field of one element of a HASH, LRU_HASH or
 * ARRAY map, and peek at it. The kernel must drop that object whenever it frees the field
 * (delete, syscall update, LRU eviction, map free): an element created or overwritten
 * afterwards holds no kptr. Arguments follow the 14-byte Ethernet header (struct kargs).
 * Return: stash the tag of a node it displaced (0: none), peek the stored node's tag or 0
 * when empty (tags are below 1 << 16); a failure is
 * (step << 16) | (-err & 0xffff), step naming the call (KS_STEP_*). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __kptr __attribute__((btf_type_tag("kptr")))

extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;

struct bpfs_knode {
    __u64 tag;
};

/* Mirrored by SupportKptrStash.swift: 24 bytes, the kptr's 8 bytes at offset 8 are the kernel's. */
struct kval {
    __u64 tag;
    struct bpfs_knode __kptr *p;
    __u64 canary;
};

struct kargs {
    __u32 key;
    __u32 pad;
    __u64 tag;
};

#define KS_STEP_ARGS   1
#define KS_STEP_LOOKUP 2
#define KS_STEP_NEW    3

#define KS_MAP(NAME, TYPE)                      \
    struct {                                    \
        __uint(type, TYPE);                     \
        __uint(max_entries, 16);                \
        __type(key, __u32);                     \
        __type(value, struct kval);             \
    } NAME SEC(".maps")

KS_MAP(k_hash, BPF_MAP_TYPE_HASH);
KS_MAP(k_lru, BPF_MAP_TYPE_LRU_HASH);
KS_MAP(k_array, BPF_MAP_TYPE_ARRAY);

static __always_inline int fail(int step, long err)
{
    return (step << 16) | (int)(-err & 0xffff);
}

static __always_inline int stash(struct __sk_buff *skb, void *map)
{
    struct kargs a;
    struct kval *v;
    struct bpfs_knode *n, *old;
    int tag;

    if (bpf_skb_load_bytes(skb, 14, &a, sizeof(a)))
        return fail(KS_STEP_ARGS, -22);
    v = bpf_map_lookup_elem(map, &a.key);
    if (!v)
        return fail(KS_STEP_LOOKUP, -2);
    n = bpf_obj_new_impl(bpf_core_type_id_local(struct bpfs_knode), NULL);
    if (!n)
        return fail(KS_STEP_NEW, -12);
    n->tag = a.tag;
    old = bpf_kptr_xchg(&v->p, n);
    if (!old)
        return 0;
    /* User space stashes into fresh elements only: a node here outlived a freed field. */
    tag = (int)(old->tag & 0xffff);
    bpf_obj_drop_impl(old, NULL);
    return tag;
}

static __always_inline int peek(struct __sk_buff *skb, void *map)
{
    struct kargs a;
    struct kval *v;
    struct bpfs_knode *n, *old;
    int tag;

    if (bpf_skb_load_bytes(skb, 14, &a, sizeof(a)))
        return fail(KS_STEP_ARGS, -22);
    v = bpf_map_lookup_elem(map, &a.key);
    if (!v)
        return fail(KS_STEP_LOOKUP, -2);
    n = bpf_kptr_xchg(&v->p, NULL);
    if (!n)
        return 0;
    tag = (int)(n->tag & 0xffff);
    old = bpf_kptr_xchg(&v->p, n);  /* put it back */
    if (old)
        bpf_obj_drop_impl(old, NULL);
    return tag;
}

SEC("tc") int stash_hash(struct __sk_buff *skb) { return stash(skb, &k_hash); }
SEC("tc") int stash_lru(struct __sk_buff *skb) { return stash(skb, &k_lru); }
SEC("tc") int stash_array(struct __sk_buff *skb) { return stash(skb, &k_array); }
SEC("tc") int peek_hash(struct __sk_buff *skb) { return peek(skb, &k_hash); }
SEC("tc") int peek_lru(struct __sk_buff *skb) { return peek(skb, &k_lru); }
SEC("tc") int peek_array(struct __sk_buff *skb) { return peek(skb, &k_array); }

char LICENSE[] SEC("license") = "GPL";
