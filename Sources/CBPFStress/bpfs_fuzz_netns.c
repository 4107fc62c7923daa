/* The fuzz thread's private network namespace (see bpfs_fuzz_netns.h). */
#define _GNU_SOURCE
#include "bpfs_fuzz_netns.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int bpfs_fuzz_netns_enter(void) {
    if (unshare(CLONE_NEWNET) != 0) return -errno;
    /* Only this namespace's lo is touched: the thread is inside it now. */
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int e = 0;
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) e = -errno;
    else {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) e = -errno;
    }
    close(s);
    return e;
}

uint64_t bpfs_fuzz_netns_current(void) {
    struct stat st;
    return stat("/proc/thread-self/ns/net", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

unsigned bpfs_fuzz_netns_lo_index(void) { return if_nametoindex("lo"); }

int bpfs_fuzz_netns_ifindexes(unsigned *out, int max) {
    struct if_nameindex *all = if_nameindex();
    if (!all) return -errno;
    int n = 0;
    for (struct if_nameindex *i = all; i->if_index != 0 && n < max; i++) out[n++] = i->if_index;
    if_freenameindex(all);
    return n;
}
