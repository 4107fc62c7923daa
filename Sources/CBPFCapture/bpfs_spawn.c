/* fork-gate-exec spawner (see bpfs_spawn.h). */
#define _GNU_SOURCE
#include "include/bpfs_spawn.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;
pid_t _Fork(void);

static char **split_blob(const char *blob, int count) {
    char **v = calloc((size_t)count + 1, sizeof(char *));
    if (!v) return NULL;
    const char *p = blob;
    for (int i = 0; i < count; i++) {
        v[i] = (char *)p;
        p += strlen(p) + 1;
    }
    return v;
}

static int resolve(const char *name, char *out, size_t cap) {
    if (strchr(name, '/')) {
        snprintf(out, cap, "%s", name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        snprintf(out, cap, "%.*s/%s", (int)len, path, name);
        if (access(out, X_OK) == 0) return 0;
        path += len + (end ? 1 : 0);
    }
    return -ENOENT;
}

pid_t bpfs_spawn(const char *argv_blob, int argc, const char *env_blob, int env_count,
                 const int *fd_map, int nfd, int gate_fd) {
    if (argc < 1 || nfd < 0 || nfd > 64) return -EINVAL;
    char **argv = split_blob(argv_blob, argc);
    char **envp = env_count >= 0 ? split_blob(env_blob, env_count) : environ;
    if (!argv || !envp) return -ENOMEM;
    char exe[PATH_MAX];
    int rc = resolve(argv[0], exe, sizeof exe);
    if (rc) {
        free(argv);
        if (envp != environ) free(envp);
        return rc;
    }
    pid_t pid = _Fork();
    if (pid < 0) {
        int e = errno;
        free(argv);
        if (envp != environ) free(envp);
        return -e;
    }
    if (pid == 0) {
        setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++)
            if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, NULL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* Move sources above the target range first so dup2 cannot clobber one. */
        int high[64];
        for (int i = 0; i < nfd; i++) {
            int src = fd_map[i] >= 0 ? fd_map[i] : open("/dev/null", O_RDWR);
            high[i] = fcntl(src, F_DUPFD, 200);
        }
        int gate = gate_fd >= 0 ? fcntl(gate_fd, F_DUPFD, 200 + nfd) : -1;
        for (int i = 0; i < nfd; i++) {
            dup2(high[i], i);
        }
        if (gate >= 0) {
            char b;
            ssize_t n;
            do n = read(gate, &b, 1); while (n < 0 && errno == EINTR);
            if (n != 1) _exit(127);
        }
        syscall(SYS_close_range, (unsigned)nfd, ~0U, 0);
        execve(exe, argv, envp);
        _exit(127);
    }
    free(argv);
    if (envp != environ) free(envp);
    return pid;
}

int bpfs_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno; }
int bpfs_socketpair_cloexec(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0 ? 0 : -errno;
}
