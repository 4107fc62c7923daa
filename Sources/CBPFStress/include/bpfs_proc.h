/* Process plumbing that Swift cannot express: prctl, posix_spawn attributes with
 * signal resets, async-signal-safe stop flags, memfd. */
#ifndef BPFS_PROC_H
#define BPFS_PROC_H
#include <stdint.h>
#include <sys/types.h>

/* prctl(PR_SET_NAME): sets the calling thread's comm (truncated to 15 bytes). */
int bpfs_set_comm(const char *name);

/* pthread_tryjoin_np(thread, NULL): 0 when the thread had ended and is now joined,
 * EBUSY while it runs (a GNU extension the Swift Glibc module does not import). */
int bpfs_thread_tryjoin(unsigned long thread);
/* prctl(PR_SET_PDEATHSIG): the worker dies with the coordinator. */
int bpfs_set_parent_death_signal(int sig);
/* gettid(2). */
int32_t bpfs_gettid(void);

/* posix_spawn(3) of `path` with argv/envp, in a new process group, with every signal
 * reset to default and only the stop signals (TERM, INT, HUP, USR1) blocked, so that a TERM
 * sent before the worker has installed its handlers waits for them instead of killing it
 * (the worker calls bpfs_unblock_stop_signals); each (from_fds[i] -> to_fds[i]) pair is
 * dup2'ed in the child and every fd above the highest target is closed. Returns the pid
 * or -errno. */
pid_t bpfs_spawn_worker(const char *path, char *const argv[], char *const envp[],
                 const int *from_fds, const int *to_fds, int nfds);

/* sigaction(2) for SIGTERM and SIGINT: the handler only sets a flag, read with
 * bpfs_stop_requested(). SIGPIPE is ignored. */
int bpfs_install_stop_handlers(void);
/* sigprocmask(SIG_UNBLOCK) of TERM, INT, HUP and USR1: a worker calls it once its handlers
 * are installed; a signal that arrived during start-up is delivered now. */
int bpfs_unblock_stop_signals(void);
int bpfs_stop_requested(void);
/* Which signal asked us to stop (0 if none). */
int bpfs_stop_signal(void);
void bpfs_request_stop(void);

/* socket(2)+bind(2)+listen(2) on 127.0.0.1:0 (AF_INET) or [::1]:0 (AF_INET6), CLOEXEC.
 * Returns the fd and stores the kernel-chosen port in *port, or returns -errno. */
int bpfs_tcp_listen(int family, uint16_t *port);
/* socket(2)+connect(2) to the loopback address of `family` at `port`, bounded by
 * timeout_ms (SO_SNDTIMEO). Returns the connected fd or -errno. */
int bpfs_tcp_connect(int family, uint16_t port, int timeout_ms);
/* poll(2)+accept4(2) on a listener, bounded by timeout_ms. Returns the fd or -errno
 * (-ETIMEDOUT when nothing arrived). */
int bpfs_tcp_accept(int listen_fd, int timeout_ms);
#endif
