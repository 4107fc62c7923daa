/* The fuzz thread's private network namespace (devmap ifindexes resolve in it). */
#ifndef BPFS_FUZZ_NETNS_H
#define BPFS_FUZZ_NETNS_H
#include <stdint.h>

/** unshare(CLONE_NEWNET) on the CALLING thread (network namespaces are per task), then
 *  brings that namespace's `lo` up (SIOCGIFFLAGS / SIOCSIFFLAGS). Threads the caller creates
 *  afterwards inherit the namespace. 0, or -errno of the step that failed. */
int bpfs_fuzz_netns_enter(void);

/** Inode of the calling thread's network namespace (stat of /proc/thread-self/ns/net), 0 on error. */
uint64_t bpfs_fuzz_netns_current(void);

/** if_nametoindex("lo") in the calling thread's namespace (0 when absent). */
unsigned bpfs_fuzz_netns_lo_index(void);

/** The ifindexes of the calling thread's netns (if_nameindex(3)), at most `max` into `out`:
 *  their count, or -errno. A kernel with built-in tunnels has their fallback devices in every
 *  netns (sit0, tunl0, ip6tnl0, ...), not only lo. */
int bpfs_fuzz_netns_ifindexes(unsigned *out, int max);
#endif
