/* Process spawning for the supervisor and capture fixtures. */
#ifndef BPFS_SPAWN_H
#define BPFS_SPAWN_H
#include <stddef.h>
#include <sys/types.h>

/* Starts argv (NUL-separated strings in argv_blob, argc of them; argv[0] searched in PATH)
 * with envp (NUL-separated, env_count of them; env_count < 0: inherit environ) in its own
 * process group with default signal dispositions and an empty signal mask. Child fd i is
 * fd_map[i] for i < nfd (-1: /dev/null); every other fd is closed.
 * gate_fd >= 0: the child blocks reading one byte from it before execve, so the parent can
 * PTRACE_SEIZE it before it runs a single instruction of the program (posix_spawn cannot
 * give that). Between fork and execve the child runs only async-signal-safe C.
 * Returns the pid or -errno. */
pid_t bpfs_spawn(const char *argv_blob, int argc, const char *env_blob, int env_count,
                 const int *fd_map, int nfd, int gate_fd);
/* pipe() with O_CLOEXEC on both ends; 0 or -errno. */
int bpfs_pipe_cloexec(int fds[2]);
/* socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC); 0 or -errno. */
int bpfs_socketpair_cloexec(int fds[2]);
#endif
