/* cpumap kthreads seen through /proc (see bpfs_fuzz_kthreads.h). */
#define _GNU_SOURCE
#include "bpfs_fuzz_kthreads.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The comm of `pid` into buf (newline stripped); -1 when unreadable. */
static int read_comm(const char *pid, char *buf, size_t n) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/comm", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r <= 0) return -1;
    buf[r] = 0;
    if (buf[r - 1] == '\n') buf[r - 1] = 0;
    return 0;
}

/* The cpu of a "cpumap/<cpu>/map:<id>" name for map_id, or -1. */
static int cpumap_cpu(const char *comm, uint32_t map_id) {
    unsigned cpu, id;
    char tail;
    if (strncmp(comm, "cpumap/", 7) != 0) return -1;
    if (sscanf(comm, "cpumap/%u/map:%u%c", &cpu, &id, &tail) != 2) return -1;
    return id == map_id ? (int)cpu : -1;
}

int bpfs_fuzz_cpumap_threads(uint32_t map_id, int32_t *pids, int32_t *cpus, int max) {
    DIR *d = opendir("/proc");
    if (!d) return -errno;
    int n = 0;
    struct dirent *e;
    char comm[64];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        if (read_comm(e->d_name, comm, sizeof comm) != 0) continue;
        int cpu = cpumap_cpu(comm, map_id);
        if (cpu < 0) continue;
        if (n < max) { pids[n] = (int32_t)atoi(e->d_name); cpus[n] = cpu; }
        n++;
    }
    closedir(d);
    return n;
}

int bpfs_fuzz_cpumap_thread_alive(int32_t pid, int32_t cpu, uint32_t map_id) {
    char p[16], comm[64];
    snprintf(p, sizeof p, "%d", pid);
    if (read_comm(p, comm, sizeof comm) != 0) return 0;
    return cpumap_cpu(comm, map_id) == cpu;
}
