#define _GNU_SOURCE
#include "bpfs_fixtures.h"
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct release { int fd; int seconds; };

static void *release_later(void *arg) {
    struct release *r = arg;
    struct timespec ts = { .tv_sec = r->seconds, .tv_nsec = 0 };
    nanosleep(&ts, NULL);
    char b = 1;
    (void)!write(r->fd, &b, 1);
    return NULL;
}

__attribute__((noinline)) int fixture_block_in_pipe_read(int seconds) {
    int p[2];
    if (pipe(p)) return -1;
    struct release r = { p[1], seconds };
    pthread_t t;
    pthread_create(&t, NULL, release_later, &r);
    char b;
    ssize_t n = read(p[0], &b, 1);
    pthread_join(t, NULL);
    close(p[0]);
    close(p[1]);
    return n == 1 ? 0 : -1;
}

__attribute__((noinline)) void fixture_overrun_guard_page(void) {
    long page = sysconf(_SC_PAGESIZE);
    char *area = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) return;
    mprotect(area + page, (size_t)page, PROT_NONE);
    static char source[1 << 14];
    /* volatile size: the compiler must not see the overrun and fold it away. */
    volatile size_t n = (size_t)page * 2;
    memcpy(area, source, n);
    munmap(area, (size_t)page * 2);
}
