/* Crash handler for worker processes: report a fatal signal to the supervisor, wait so it
 * can ptrace-capture every thread while the process still exists, then die by the signal.
 *
 * SWIFT_BACKTRACE: workers are spawned with SWIFT_BACKTRACE=enable=no. Swift's backtracer
 * would install its own handlers for the same signals and then try to ptrace the process
 * from a helper, which fails while our supervisor is the tracer; two mechanisms fighting
 * over one crash gives neither a good report. This handler plus the supervisor's
 * all-thread capture replaces it. */
#ifndef BPFS_CRASH_H
#define BPFS_CRASH_H
#include <stdint.h>

#define BPFS_CRASH_MAGIC 0x48435342u /* "BSCH" little-endian */
#define BPFS_CRASH_NREGS 18

/* Fixed-size record written with one write() (atomic on a pipe: < PIPE_BUF).
 * Register order: rip rsp rbp rax rbx rcx rdx rsi rdi r8 r9 r10 r11 r12 r13 r14 r15 eflags. */
typedef struct bpfs_crash_record {
    uint32_t magic;
    uint32_t size;      /* sizeof(struct bpfs_crash_record) */
    int32_t signo;
    int32_t code;       /* si_code */
    uint64_t address;   /* si_addr */
    int32_t pid;
    int32_t tid;
    uint64_t regs[BPFS_CRASH_NREGS];
    /* si_code <= 0 (SI_USER, SI_TKILL, SI_QUEUE): sent by kill(2) or tgkill(2) from this
     * process (si_pid, si_uid); address is then 0, since si_addr overlays si_pid there. */
    int32_t sender_pid;
    int32_t sender_uid;
} bpfs_crash_record;

/* Installs handlers for SEGV, BUS, ILL, TRAP, ABRT, FPE (SA_SIGINFO|SA_ONSTACK) and a
 * sigaltstack for the calling thread. The record goes to notify_fd; the handler then waits
 * for one byte on the same fd (use a socketpair) for at most 10 s.
 * Returns 0 or -errno. */
int bpfs_crash_install(int notify_fd);
/* Same with a separate release fd (-1: no wait) and wait bound in milliseconds. */
int bpfs_crash_install_ex(int notify_fd, int release_fd, int timeout_ms);
/* Gives the calling thread its own sigaltstack so a stack overflow there is still reported.
 * sigaltstack is per thread. Returns 0 or -errno. */
int bpfs_crash_thread_init(void);
/* Restores the dispositions saved by install. */
void bpfs_crash_uninstall(void);
#endif
