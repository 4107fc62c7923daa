/* Crash handler (see bpfs_crash.h). Self-contained on purpose: test fixtures compile this
 * file alone with cc. Everything in the handler is async-signal-safe (raw syscalls only). */
#define _GNU_SOURCE
#include "include/bpfs_crash.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE};
#define NSIG_CRASH (int)(sizeof(crash_signals) / sizeof(crash_signals[0]))
static struct sigaction saved[NSIG_CRASH];
static volatile int g_notify_fd = -1, g_release_fd = -1, g_timeout_ms = 10000, g_installed = 0;

static int index_of(int sig) {
    for (int i = 0; i < NSIG_CRASH; i++)
        if (crash_signals[i] == sig) return i;
    return -1;
}

static void fill_regs(bpfs_crash_record *r, void *uctx) {
#if defined(__x86_64__)
    const ucontext_t *uc = uctx;
    if (!uc) return;
    const greg_t *g = uc->uc_mcontext.gregs;
    const int order[BPFS_CRASH_NREGS] = {REG_RIP, REG_RSP, REG_RBP, REG_RAX, REG_RBX, REG_RCX,
                                         REG_RDX, REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10,
                                         REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_EFL};
    for (int i = 0; i < BPFS_CRASH_NREGS; i++) r->regs[i] = (uint64_t)g[order[i]];
#else
    (void)r; (void)uctx;
#endif
}

static void bpfs_crash_handler(int sig, siginfo_t *si, void *uctx) {
    int saved_errno = errno;
    bpfs_crash_record rec;
    memset(&rec, 0, sizeof rec);
    rec.magic = BPFS_CRASH_MAGIC;
    rec.size = sizeof rec;
    rec.signo = sig;
    rec.code = si ? si->si_code : 0;
    if (si && si->si_code <= 0) {
        rec.sender_pid = si->si_pid;
        rec.sender_uid = (int32_t)si->si_uid;
    } else {
        rec.address = si ? (uint64_t)(uintptr_t)si->si_addr : 0;
    }
    rec.pid = (int32_t)syscall(SYS_getpid);
    rec.tid = (int32_t)syscall(SYS_gettid);
    fill_regs(&rec, uctx);
    if (g_notify_fd >= 0) {
        ssize_t n;
        do n = write(g_notify_fd, &rec, sizeof rec); while (n < 0 && errno == EINTR);
        /* Wait (bounded) so the supervisor can capture all threads of a live process. */
        if (n == (ssize_t)sizeof rec && g_release_fd >= 0) {
            struct pollfd p = {.fd = g_release_fd, .events = POLLIN};
            if (poll(&p, 1, g_timeout_ms) > 0 && (p.revents & POLLIN)) {
                char b;
                (void)read(g_release_fd, &b, 1);
            }
        }
    }
    /* Restore the previous disposition and make the signal fatal again. */
    int i = index_of(sig);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    const struct sigaction *prev = (i >= 0) ? &saved[i] : &dfl;
    int prev_is_handler = !(prev->sa_flags & SA_SIGINFO) ? (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) : 1;
    sigaction(sig, prev_is_handler ? prev : &dfl, NULL);
    int fault = si && si->si_code > 0 && sig != SIGTRAP && sig != SIGABRT;
    /* A hardware fault re-executes the instruction on return and faults again into the
     * restored disposition (keeps si_addr for a chained handler); anything else is re-sent. */
    if (!fault) syscall(SYS_tgkill, rec.pid, rec.tid, sig);
    errno = saved_errno;
}

int bpfs_crash_thread_init(void) {
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE) && cur.ss_sp) return 0;
    size_t sz = 64 * 1024;
    void *mem = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return -errno;
    stack_t ss = {.ss_sp = mem, .ss_size = sz, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        int e = errno;
        munmap(mem, sz);
        return -e;
    }
    return 0;
}

int bpfs_crash_install_ex(int notify_fd, int release_fd, int timeout_ms) {
    int rc = bpfs_crash_thread_init();
    if (rc) return rc;
    g_notify_fd = notify_fd;
    g_release_fd = release_fd;
    g_timeout_ms = timeout_ms < 0 ? 0 : (timeout_ms > 60000 ? 60000 : timeout_ms);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = bpfs_crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < NSIG_CRASH; i++) {
        if (sigaction(crash_signals[i], &sa, g_installed ? NULL : &saved[i]) != 0) return -errno;
    }
    g_installed = 1;
    return 0;
}

int bpfs_crash_install(int notify_fd) { return bpfs_crash_install_ex(notify_fd, notify_fd, 10000); }

void bpfs_crash_uninstall(void) {
    if (!g_installed) return;
    for (int i = 0; i < NSIG_CRASH; i++) sigaction(crash_signals[i], &saved[i], NULL);
    g_installed = 0;
}
