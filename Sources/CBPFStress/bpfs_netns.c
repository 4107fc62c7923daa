/* Network namespace and cgroup-member helpers (see bpfs_netns.h). */
#define _GNU_SOURCE
#include "bpfs_netns.h"
#include "bpfs_ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/sched.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

struct ns_job {
    int netns_fd;     /* in: target for loopback, -1 for create */
    int connects;
    int timeout_ms;
    int result;       /* out: fd / count, or -errno */
};

static void *create_thread(void *arg) {
    struct ns_job *j = arg;
    if (unshare(CLONE_NEWNET) != 0) { j->result = -errno; return NULL; }
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    j->result = fd < 0 ? -errno : fd;
    if (fd >= 0) bpfs_ledger_note(BPFS_LEDGER_NETNS, bpfs_netns_inode(fd));
    return NULL;
}

/* Runs fn on a fresh joinable thread: its namespace changes die with it. */
static int on_helper_thread(void *(*fn)(void *), struct ns_job *j) {
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, j);
    if (rc != 0) return -rc;
    pthread_join(t, NULL);
    return j->result;
}

int bpfs_netns_create(void) {
    struct ns_job j = { .netns_fd = -1, .result = -EINVAL };
    return on_helper_thread(create_thread, &j);
}

uint64_t bpfs_netns_inode(int netns_fd) {
    struct stat st;
    return fstat(netns_fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static int wait_fd(int fd, short events, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = events };
    int r;
    do { r = poll(&p, 1, timeout_ms); } while (r < 0 && errno == EINTR);
    if (r == 0) return -ETIMEDOUT;
    return r < 0 ? -errno : 0;
}

static void *loopback_thread(void *arg) {
    struct ns_job *j = arg;
    int l = -1, done = 0, e = 0;
    if (setns(j->netns_fd, CLONE_NEWNET) != 0) { j->result = -errno; return NULL; }
    /* This thread is now in the new namespace: its lo is the only interface touched. */
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) { j->result = -errno; return NULL; }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) { e = -errno; close(s); j->result = e; return NULL; }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) { e = -errno; close(s); j->result = e; return NULL; }
    close(s);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 64) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) != 0) {
        e = -errno;
        goto out;
    }
    for (int i = 0; i < j->connects; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c < 0) { e = -errno; break; }
        if (connect(c, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) { e = -errno; close(c); break; }
        if ((e = wait_fd(c, POLLOUT, j->timeout_ms)) != 0) { close(c); break; }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        getsockopt(c, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) { e = -soerr; close(c); break; }
        if ((e = wait_fd(l, POLLIN, j->timeout_ms)) != 0) { close(c); break; }
        int x = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (x < 0) { e = -errno; close(c); break; }
        close(x);
        close(c);
        done++;
    }
out:
    if (l >= 0) close(l);
    j->result = e ? e : done;
    return NULL;
}

int bpfs_netns_loopback(int netns_fd, int connects, int timeout_ms) {
    struct ns_job j = { .netns_fd = netns_fd, .connects = connects, .timeout_ms = timeout_ms, .result = -EINVAL };
    return on_helper_thread(loopback_thread, &j);
}

int bpfs_netns_link_info(const struct bpfs_rt *rt, int link_fd, uint32_t *netns_ino, uint32_t *attach_type) {
    struct bpf_link_info info;
    union bpf_attr attr;
    memset(&info, 0, sizeof info);
    memset(&attr, 0, sizeof attr);
    attr.info.bpf_fd = (uint32_t)link_fd;
    attr.info.info_len = sizeof info;
    attr.info.info = (uint64_t)(uintptr_t)&info;
    long rc = rt->sys(rt->ctx, BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof attr);
    if (rc < 0) return (int)rc;
    if (info.type != BPF_LINK_TYPE_NETNS) return -EINVAL;
    if (netns_ino) *netns_ino = info.netns.netns_ino;
    if (attach_type) *attach_type = info.netns.attach_type;
    return 0;
}

static long ms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Child side of bpfs_spawn_cgroup_member: raw syscalls only, never returns. */
static void member_main(pid_t parent, int family, uint16_t port, int max_ms) {
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (syscall(SYS_getppid) != parent) syscall(SYS_exit_group, 0);
    if (port) {
        struct sockaddr_in6 a6;
        struct sockaddr_in a4;
        memset(&a6, 0, sizeof a6);
        memset(&a4, 0, sizeof a4);
        a4.sin_family = AF_INET;
        a4.sin_port = htons(port);
        a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons(port);
        a6.sin6_addr = in6addr_loopback;
        long s = syscall(SYS_socket, family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s >= 0) {
            struct timeval tv = { .tv_sec = 2 };
            syscall(SYS_setsockopt, s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            if (family == AF_INET6) syscall(SYS_connect, s, &a6, sizeof a6);
            else syscall(SYS_connect, s, &a4, sizeof a4);
            syscall(SYS_close, s);
        }
    }
    struct timespec ts = { .tv_sec = max_ms / 1000, .tv_nsec = (max_ms % 1000) * 1000000L };
    syscall(SYS_nanosleep, &ts, NULL);
    syscall(SYS_exit_group, 0);
}

pid_t bpfs_spawn_cgroup_member(int cgroup_fd, int family, uint16_t port, int max_ms) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    pid_t parent = getpid();
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) return -errno;
    if (pid == 0) member_main(parent, family, port, max_ms);
    return (pid_t)pid;
}

int bpfs_kill_and_reap(pid_t pid, int timeout_ms) {
    if (pid <= 0) return -EINVAL;
    if (kill(pid, SIGKILL) != 0 && errno != ESRCH) return -errno;
    long deadline = ms_now() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return 0;
        if (r < 0) return -errno;
        if (ms_now() >= deadline) return -ETIMEDOUT;
        usleep(1000);
    }
}
