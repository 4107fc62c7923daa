/* The fuzzer's object pool shim: loopback sockets, minimal programs, perf events, files, pidfds, children. */
#define _GNU_SOURCE
#include "bpfs_pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

extern char **environ;

static int fail_close(int fd, int fd2) {
    int e = errno;
    if (fd >= 0) close(fd);
    if (fd2 >= 0) close(fd2);
    return -e;
}

/* bind(2) to 127.0.0.1:0 or [::1]:0. */
static int bind_loopback(int fd, int v6) {
    if (v6) {
        struct sockaddr_in6 a6;
        memset(&a6, 0, sizeof a6);
        a6.sin6_family = AF_INET6;
        a6.sin6_addr = in6addr_loopback;
        return bind(fd, (struct sockaddr *)&a6, sizeof a6);
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return bind(fd, (struct sockaddr *)&a, sizeof a);
}

static int reuseport(int fd) {
    int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
}

/* An established loopback TCP pair: the client in *out, the accepted end in *peer. */
static int tcp_pair(int *out, int *peer) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) return -errno;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (bind_loopback(l, 0) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &len)) return fail_close(l, -1);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0) return fail_close(l, -1);
    /* A loopback connect completes the handshake before it returns: the accept does not wait. */
    if (connect(c, (struct sockaddr *)&a, len)) { int e = errno; close(c); close(l); return -e; }
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (s < 0) { int e = errno; close(c); close(l); return -e; }
    close(l);
    *out = c;
    *peer = s;
    return 0;
}

int bpfs_pool_socket(int kind, int *peer, uint64_t *cookie) {
    int fd = -1, sv[2];
    *peer = -1;
    *cookie = 0;
    switch (kind) {
    case BPFS_POOL_UDP:
    case BPFS_POOL_UDP_UNBOUND:
    case BPFS_POOL_UDP_REUSEPORT:
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        if (kind == BPFS_POOL_UDP_REUSEPORT && reuseport(fd)) return fail_close(fd, -1);
        if (kind != BPFS_POOL_UDP_UNBOUND && bind_loopback(fd, 0)) return fail_close(fd, -1);
        break;
    case BPFS_POOL_UDP6:
        fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        if (bind_loopback(fd, 1)) return fail_close(fd, -1);
        break;
    case BPFS_POOL_TCP_LISTEN:
    case BPFS_POOL_TCP_REUSEPORT_LISTEN:
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        if (kind == BPFS_POOL_TCP_REUSEPORT_LISTEN && reuseport(fd)) return fail_close(fd, -1);
        if (bind_loopback(fd, 0) || listen(fd, 4)) return fail_close(fd, -1);
        break;
    case BPFS_POOL_TCP: {
        int rc = tcp_pair(&fd, peer);
        if (rc) return rc;
        break;
    }
    case BPFS_POOL_TCP_UNCONNECTED:
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        break;
    case BPFS_POOL_UNIX_STREAM:
    case BPFS_POOL_UNIX_DGRAM:
        if (socketpair(AF_UNIX, (kind == BPFS_POOL_UNIX_STREAM ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0, sv)) return -errno;
        fd = sv[0];
        *peer = sv[1];
        break;
    case BPFS_POOL_XSK:
        fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
        if (fd < 0) return -errno;
        break;
    default:
        return -EINVAL;
    }
    socklen_t len = sizeof *cookie;
    if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len)) {
        int e = errno;
        close(fd);
        if (*peer >= 0) close(*peer);
        *peer = -1;
        return -e;
    }
    return fd;
}

int bpfs_pool_prog(const struct bpfs_rt *rt, uint32_t prog_type, uint32_t expected_attach_type,
                   int32_t verdict, uint32_t *id) {
    struct bpf_insn insns[2] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = verdict},
        {.code = BPF_JMP | BPF_EXIT},
    };
    *id = 0;
    int fd = bpfs_prog_load(rt, prog_type, insns, 2, "GPL", NULL, 0, 0, expected_attach_type, "bpfs_fuzz_obj", 0, 0);
    if (fd < 0) return fd;
    struct bpfs_prog_info info;
    memset(&info, 0, sizeof info);
    int rc = bpfs_prog_info(rt, fd, &info);
    if (rc < 0) { close(fd); return rc; }
    *id = info.id;
    return fd;
}

int bpfs_pool_perf(int cpu) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.type = PERF_TYPE_SOFTWARE;
    a.size = sizeof a;
    a.config = PERF_COUNT_SW_BPF_OUTPUT;
    a.sample_type = PERF_SAMPLE_RAW;
    a.sample_period = 1;
    a.wakeup_events = 1;
    long fd = syscall(__NR_perf_event_open, &a, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
    return fd < 0 ? -errno : (int)fd;
}

int bpfs_pool_tmpfile(const char *dir) {
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    return fd < 0 ? -errno : fd;
}

int bpfs_pool_pidfd(pid_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) return -errno;
    /* pidfd_open sets O_CLOEXEC itself. */
    return (int)fd;
}

pid_t bpfs_pool_spawn_sleep(unsigned seconds) {
    char secs[16];
    snprintf(secs, sizeof secs, "%u", seconds);
    char *argv[] = {"sleep", secs, NULL};
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t fa;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawn_file_actions_init(&fa);
    /* The child must hold none of the pool's fds (a socket it kept would outlive its drop). */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, "sleep", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc ? -rc : pid;
}

int bpfs_pool_kill_reap(pid_t pid) {
    if (pid <= 0) return -EINVAL;
    if (kill(pid, SIGKILL) && errno != ESRCH) return -errno;
    for (;;) {
        pid_t w = waitpid(pid, NULL, 0);
        if (w == pid) return 0;
        if (w < 0 && errno == EINTR) continue;
        return w < 0 ? -errno : -ECHILD;
    }
}

uint64_t bpfs_pool_serial(void) {
    static uint64_t n;
    return __atomic_fetch_add(&n, 1, __ATOMIC_RELAXED);
}
