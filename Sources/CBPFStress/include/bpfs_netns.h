/* Network namespace and cgroup-member helpers for churn scenarios. Namespace changes
 * happen only on short-lived helper threads, so no caller thread ever leaves its
 * network namespace and the root namespace's interfaces are never touched. */
#ifndef BPFS_NETNS_H
#define BPFS_NETNS_H
#include <stdint.h>
#include <sys/types.h>
#include "bpfs_bpf.h"

/** A new, anonymous network namespace held by the returned fd (O_CLOEXEC): a helper
 *  thread calls unshare(CLONE_NEWNET), opens /proc/thread-self/ns/net and exits.
 *  Closing the last fd destroys the namespace. -errno on failure. */
int bpfs_netns_create(void);

/** Inode number of the namespace an nsfs fd refers to (fstat st_ino), 0 on error. */
uint64_t bpfs_netns_inode(int netns_fd);

/** Loopback traffic inside `netns_fd`: a helper thread does setns(CLONE_NEWNET), brings
 *  `lo` up there (SIOCSIFFLAGS), listens on 127.0.0.1:0 and makes `connects` TCP
 *  connections to itself, each accepted. Returns the number completed, or -errno of the
 *  first failure. Bounded by timeout_ms per step. */
int bpfs_netns_loopback(int netns_fd, int connects, int timeout_ms);

/** BPF_OBJ_GET_INFO_BY_FD on a netns link (sk_lookup, flow_dissector) through `rt`:
 *  the namespace inode it is attached to (0 once the namespace is gone) and the attach
 *  type. 0 or -errno. */
int bpfs_netns_link_info(const struct bpfs_rt *rt, int link_fd, uint32_t *netns_ino, uint32_t *attach_type);

/** A child process created directly in the cgroup `cgroup_fd` (clone3 with
 *  CLONE_INTO_CGROUP). It dies with its parent thread (PR_SET_PDEATHSIG SIGKILL);
 *  when `port` is non-zero it makes one TCP connect to 127.0.0.1:port (family AF_INET)
 *  or [::1]:port (AF_INET6) and closes it; then it sleeps until killed, at most
 *  `max_ms`. Uses only raw syscalls in the child (safe after fork in a threaded
 *  process). Returns the pid, or -errno. The caller kills and reaps it by pid. */
pid_t bpfs_spawn_cgroup_member(int cgroup_fd, int family, uint16_t port, int max_ms);

/** kill(pid, SIGKILL) then waitpid with a bound; 0 when reaped, -errno otherwise. */
int bpfs_kill_and_reap(pid_t pid, int timeout_ms);

#endif
