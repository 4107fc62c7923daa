/* The fuzzer's object pool (Sources/Fuzz/Pool.swift): sockets on loopback, minimal programs,
 * perf events, temp files, pidfds and sleeping children, made with the raw calls. Every fd is
 * O_CLOEXEC. Results are an fd (>= 0) or -errno; partial work is undone on failure. */
#ifndef BPFS_POOL_H
#define BPFS_POOL_H
#include <stdint.h>
#include <sys/types.h>
#include "bpfs_bpf.h"

/* Socket kinds of bpfs_pool_socket (the order of PoolKind's socket cases). */
enum {
    BPFS_POOL_UDP = 0, BPFS_POOL_UDP6, BPFS_POOL_UDP_UNBOUND, BPFS_POOL_UDP_REUSEPORT,
    BPFS_POOL_TCP_LISTEN, BPFS_POOL_TCP_REUSEPORT_LISTEN, BPFS_POOL_TCP, BPFS_POOL_TCP_UNCONNECTED,
    BPFS_POOL_UNIX_STREAM, BPFS_POOL_UNIX_DGRAM, BPFS_POOL_XSK,
};

/* A socket of `kind`: AF_INET on 127.0.0.1 or AF_INET6 on ::1 (port 0), never another address;
 * socketpair(2) for the unix kinds; socket(AF_XDP) unbound for xsk. *peer gets the fd the pool
 * keeps besides (tcp: the accepted end; unix: the other end of the pair), else -1. *cookie gets
 * getsockopt(SO_COOKIE). */
int bpfs_pool_socket(int kind, int *peer, uint64_t *cookie);

/* BPF_PROG_LOAD of `r0 = verdict; exit` (prog_type, expected_attach_type, GPL, name
 * "bpfs_fuzz_obj") through rt; *id gets the program id (BPF_OBJ_GET_INFO_BY_FD). */
int bpfs_pool_prog(const struct bpfs_rt *rt, uint32_t prog_type, uint32_t expected_attach_type,
                   int32_t verdict, uint32_t *id);

/* perf_event_open(2) of PERF_TYPE_SOFTWARE / PERF_COUNT_SW_BPF_OUTPUT, pid -1, on `cpu`,
 * PERF_FLAG_FD_CLOEXEC. */
int bpfs_pool_perf(int cpu);

/* open(2) of an unlinked temp file in `dir` (O_TMPFILE | O_RDWR, mode 0600). */
int bpfs_pool_tmpfile(const char *dir);

/* pidfd_open(2) of `pid` (flags 0). */
int bpfs_pool_pidfd(pid_t pid);

/* posix_spawnp of `sleep SECONDS` (default signal dispositions, empty mask, its own process
 * group, every fd above 2 closed): the child's pid, or -errno. The caller kills it by pid. */
pid_t bpfs_pool_spawn_sleep(unsigned seconds);

/* kill(pid, SIGKILL) then waitpid(pid) (retried on EINTR): 0 or -errno. */
int bpfs_pool_kill_reap(pid_t pid);

/* A process-wide serial for pool cgroup names (atomic). */
uint64_t bpfs_pool_serial(void);

#endif
