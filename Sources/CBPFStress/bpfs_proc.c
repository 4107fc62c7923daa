#define _GNU_SOURCE
#include "bpfs_proc.h"
#include <pthread.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int bpfs_set_comm(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0) == 0 ? 0 : -errno;
}

int bpfs_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0) == 0 ? 0 : -errno;
}

int32_t bpfs_gettid(void) { return (int32_t)syscall(SYS_gettid); }

pid_t bpfs_spawn_worker(const char *path, char *const argv[], char *const envp[],
                 const int *from_fds, const int *to_fds, int nfds) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t stops, all;
    pid_t pid = -1;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc) return -rc;
    rc = posix_spawnattr_init(&at);
    if (rc) { posix_spawn_file_actions_destroy(&fa); return -rc; }
    int highest = 2;
    for (int i = 0; i < nfds && !rc; i++) {
        rc = posix_spawn_file_actions_adddup2(&fa, from_fds[i], to_fds[i]);
        if (to_fds[i] > highest) highest = to_fds[i];
    }
    /* Nothing else leaks in: an inherited pipe (say, our caller's stdout) held open by a
     * worker would keep the caller waiting for EOF as long as the worker lives. */
    if (!rc) rc = posix_spawn_file_actions_addclosefrom_np(&fa, highest + 1);
    /* Blocked until the worker's handlers exist: a TERM in the first milliseconds (a 10 ms
     * campaign stops at once) would otherwise kill it with the default action. */
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGHUP);
    sigaddset(&stops, SIGUSR1);
    sigfillset(&all);
    /* A shell's background job inherits SIG_IGN for INT/QUIT: reset everything. */
    if (!rc) rc = posix_spawnattr_setsigmask(&at, &stops);
    if (!rc) rc = posix_spawnattr_setsigdefault(&at, &all);
    if (!rc) rc = posix_spawnattr_setpgroup(&at, 0);
    if (!rc) rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (!rc) rc = posix_spawn(&pid, path, &fa, &at, argv, envp);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return rc ? -rc : pid;
}

static volatile sig_atomic_t stop_signal = 0;

static void on_stop(int sig) { stop_signal = sig; }

int bpfs_install_stop_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    /* SA_RESTART: a TERM during a ptrace capture must not break its waitpid calls. */
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    /* HUP (a closed terminal or ssh session) and USR1 end a run as TERM does: with a report. */
    if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) || sigaction(SIGHUP, &sa, NULL) ||
        sigaction(SIGUSR1, &sa, NULL))
        return -errno;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int bpfs_unblock_stop_signals(void) {
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGHUP);
    sigaddset(&stops, SIGUSR1);
    return sigprocmask(SIG_UNBLOCK, &stops, NULL) ? -errno : 0;
}

int bpfs_stop_requested(void) { return stop_signal != 0; }
int bpfs_stop_signal(void) { return stop_signal; }
void bpfs_request_stop(void) { if (!stop_signal) stop_signal = SIGTERM; }

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

static socklen_t loopback_addr(int family, uint16_t port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons(port);
        return sizeof *a;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(port);
    return sizeof *a;
}

int bpfs_tcp_listen(int family, uint16_t *port) {
    struct sockaddr_storage ss;
    socklen_t len = loopback_addr(family, 0, &ss);
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 256)) { int e = errno; close(fd); return -e; }
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len)) { int e = errno; close(fd); return -e; }
    *port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

int bpfs_tcp_connect(int family, uint16_t port, int timeout_ms) {
    struct sockaddr_storage ss;
    socklen_t len = loopback_addr(family, port, &ss);
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&ss, len)) { int e = errno; close(fd); return -e; }
    return fd;
}

int bpfs_tcp_accept(int listen_fd, int timeout_ms) {
    struct pollfd p = { .fd = listen_fd, .events = POLLIN };
    int r = poll(&p, 1, timeout_ms);
    if (r < 0) return -errno;
    if (r == 0) return -ETIMEDOUT;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int bpfs_thread_tryjoin(unsigned long thread) { return pthread_tryjoin_np((pthread_t)thread, NULL); }
