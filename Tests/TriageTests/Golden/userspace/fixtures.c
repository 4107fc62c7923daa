/* Fixture programs whose gdb / eu-stack dumps are the golden files next to this file.
 * Build: gcc -g -O0 -pthread -o fixtures fixtures.c
 * Usage: fixtures abba | pipe | crash   (abba and pipe hang for 60 s at most, then exit) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_b = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both_hold_one;

__attribute__((noinline)) static void *abba_take_a_then_b(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock_a);
    pthread_barrier_wait(&both_hold_one);
    pthread_mutex_lock(&lock_b);
    return NULL;
}

__attribute__((noinline)) static void *abba_take_b_then_a(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock_b);
    pthread_barrier_wait(&both_hold_one);
    pthread_mutex_lock(&lock_a);
    return NULL;
}

__attribute__((noinline)) static void *block_in_pipe_read(void *arg) {
    int fds[2];
    char c;
    (void)arg;
    if (pipe(fds) != 0) return NULL;
    (void)read(fds[0], &c, 1); /* nobody writes: blocks */
    return NULL;
}

__attribute__((noinline)) static void overrun_guard_page(void) {
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(p + page, page, PROT_NONE);
    char src[8192];
    memset(src, 1, sizeof src);
    volatile size_t n = sizeof src; /* not a constant: keeps the libc memcpy call */
    memcpy(p + page / 2, src, n); /* runs into the guard page */
}

int main(int argc, char **argv) {
    pthread_t t1, t2;
    const char *mode = argc > 1 ? argv[1] : "abba";
    alarm(60); /* bounded: never outlive a test */
    if (strcmp(mode, "abba") == 0) {
        pthread_barrier_init(&both_hold_one, NULL, 2);
        pthread_create(&t1, NULL, abba_take_a_then_b, NULL);
        pthread_create(&t2, NULL, abba_take_b_then_a, NULL);
        pthread_join(t1, NULL);
    } else if (strcmp(mode, "pipe") == 0) {
        pthread_create(&t1, NULL, block_in_pipe_read, NULL);
        pthread_join(t1, NULL);
    } else {
        overrun_guard_page();
    }
    return 0;
}
