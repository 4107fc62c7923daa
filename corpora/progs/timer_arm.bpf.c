/* SEC("tc") programs, run with BPF_PROG_TEST_RUN, that arm the bpf_timer field of one
 * element of a HASH, LRU_HASH or ARRAY map (bpf_timer_init + set_callback + start), so that
 * the kernel's field freeing on delete, update, LRU eviction and map release has a live
 * timer to cancel. The callback counts fires per tag in `fires`; user space checks that a
 * timer whose element is gone never fires. Arguments come in the test packet after the
 * 14-byte Ethernet header (struct arm_args); the return value is 0 or
 * (step << 16) | (-err & 0xffff), step naming the call that failed (TA_STEP_*). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define TA_FIRES 1024

/* The value layout the Swift side mirrors (SupportTimerArming.swift): 32 bytes,
 * the timer's 16 bytes at offset 8 belong to the kernel. */
struct tval {
    __u64 tag;           /* index into `fires`, written by user space */
    struct bpf_timer t;
    __u64 canary;        /* user bytes after the timer, must survive lookups */
};

struct arm_args {
    __u32 key;
    __u32 pad;
    __u64 delay_ns;
};

#define TA_STEP_ARGS   1  /* bpf_skb_load_bytes of the arguments */
#define TA_STEP_LOOKUP 2  /* the element is absent (-ENOENT) */
#define TA_STEP_INIT   3
#define TA_STEP_CB     4
#define TA_STEP_START  5

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, struct tval);
} t_hash SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, struct tval);
} t_lru SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, struct tval);
} t_array SEC(".maps");

/* fires[tag]: how often a callback ran for an element carrying `tag`. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, TA_FIRES);
    __type(key, __u32);
    __type(value, __u64);
} fires SEC(".maps");

static int on_fire(void *map, __u32 *key, struct tval *v)
{
    __u32 tag = (__u32)v->tag;
    __u64 *n;
    if (tag >= TA_FIRES)
        tag = TA_FIRES - 1;  /* a tag user space never hands out: counted as a stray */
    n = bpf_map_lookup_elem(&fires, &tag);
    if (n)
        __sync_fetch_and_add(n, 1);
    return 0;
}

static __always_inline int fail(int step, long err)
{
    return (step << 16) | (int)(-err & 0xffff);
}

static __always_inline int arm(struct __sk_buff *skb, void *map)
{
    struct arm_args a;
    struct tval *v;
    long err;

    if (bpf_skb_load_bytes(skb, 14, &a, sizeof(a)))
        return fail(TA_STEP_ARGS, -22);
    v = bpf_map_lookup_elem(map, &a.key);
    if (!v)
        return fail(TA_STEP_LOOKUP, -2);
    /* User space arms each element once, right after creating it: -EBUSY here means the
     * element came with a live timer, one that survived the free of a reused element. */
    err = bpf_timer_init(&v->t, map, 1 /* CLOCK_MONOTONIC */);
    if (err)
        return fail(TA_STEP_INIT, err);
    err = bpf_timer_set_callback(&v->t, on_fire);
    if (err)
        return fail(TA_STEP_CB, err);
    err = bpf_timer_start(&v->t, a.delay_ns, 0);
    if (err)
        return fail(TA_STEP_START, err);
    return 0;
}

SEC("tc")
int arm_hash(struct __sk_buff *skb) { return arm(skb, &t_hash); }

SEC("tc")
int arm_lru(struct __sk_buff *skb) { return arm(skb, &t_lru); }

SEC("tc")
int arm_array(struct __sk_buff *skb) { return arm(skb, &t_array); }

/* Only references the element (the LRU ref bit), arming nothing. An element armed by arm_lru
 * is referenced and moves to the active list; the LRU rotates that list only once it
 * outgrows the inactive one, so fillers that are never referenced would evict each other
 * for ever and the armed element never. User space touches its fillers with this. */
SEC("tc")
int touch_lru(struct __sk_buff *skb)
{
    struct arm_args a;
    if (bpf_skb_load_bytes(skb, 14, &a, sizeof(a)))
        return fail(TA_STEP_ARGS, -22);
    return bpf_map_lookup_elem(&t_lru, &a.key) ? 0 : fail(TA_STEP_LOOKUP, -2);
}

char LICENSE[] SEC("license") = "GPL";
