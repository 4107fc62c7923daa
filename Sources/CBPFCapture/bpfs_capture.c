/* ptrace seize/unwind/detach (see bpfs_capture.h). */
#define _GNU_SOURCE
#include "include/bpfs_capture.h"
#include <dirent.h>
#include <errno.h>
#include <libunwind-ptrace.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    uint64_t pc, sp, off;
    char *name;
    int signal_frame;
} frame_t;

typedef struct {
    int32_t tid;
    int err;
    char msg[128];
    int nframes;
    frame_t *frames;
    /* bookkeeping */
    int seized, stopped, pending_sig;
} thread_t;

struct bpfs_capture {
    int n, cap;
    thread_t *t;
    double stopped_seconds;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static thread_t *add_thread(bpfs_capture *c, int32_t tid) {
    for (int i = 0; i < c->n; i++)
        if (c->t[i].tid == tid) return NULL;
    if (c->n == c->cap) {
        int ncap = c->cap ? c->cap * 2 : 16;
        thread_t *nt = realloc(c->t, sizeof(thread_t) * ncap);
        if (!nt) return NULL;
        c->t = nt;
        c->cap = ncap;
    }
    thread_t *t = &c->t[c->n++];
    memset(t, 0, sizeof *t);
    t->tid = tid;
    return t;
}

static void set_err(thread_t *t, int e, const char *what) {
    if (t->err) return;
    t->err = e;
    snprintf(t->msg, sizeof t->msg, "%s: %s", what, strerror(e));
}

static char thread_state(pid_t pid, int32_t tid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may contain spaces and parens */
    return (p && p[1] == ' ') ? p[2] : 0;
}

static int list_tasks(pid_t pid, int32_t *out, int max) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d) return -errno;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        out[n++] = (int32_t)atoi(e->d_name);
    }
    closedir(d);
    return n;
}

/* Waits (bounded) for a seized+interrupted thread to report a stop. */
static void wait_stop(thread_t *t, double deadline) {
    for (;;) {
        int st = 0;
        pid_t r = waitpid(t->tid, &st, __WALL | WNOHANG);
        if (r < 0) {
            set_err(t, errno, "waitpid");
            t->seized = 0; /* gone: nothing to detach */
            return;
        }
        if (r == t->tid) {
            if (WIFEXITED(st) || WIFSIGNALED(st)) {
                set_err(t, ESRCH, "thread exited");
                t->seized = 0;
                return;
            }
            if (WIFSTOPPED(st)) {
                int event = st >> 16;
                /* A signal-delivery-stop instead of our interrupt: keep the signal to
                 * deliver it again on detach. Group-stop and interrupt: nothing to redeliver. */
                if (event == 0 && WSTOPSIG(st) != SIGTRAP) t->pending_sig = WSTOPSIG(st);
                t->stopped = 1;
                return;
            }
        }
        if (now_s() > deadline) {
            set_err(t, ETIMEDOUT, "did not stop");
            return;
        }
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void unwind_thread(unw_addr_space_t as, thread_t *t, int max_frames, int with_names) {
    void *upt = _UPT_create(t->tid);
    if (!upt) {
        set_err(t, ENOMEM, "_UPT_create");
        return;
    }
    unw_cursor_t cur;
    int rc = unw_init_remote(&cur, as, upt);
    if (rc < 0) {
        set_err(t, EIO, "unw_init_remote");
        _UPT_destroy(upt);
        return;
    }
    t->frames = calloc(max_frames, sizeof(frame_t));
    if (!t->frames) {
        set_err(t, ENOMEM, "calloc");
        _UPT_destroy(upt);
        return;
    }
    do {
        unw_word_t ip = 0, sp = 0, off = 0;
        if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0) break;
        unw_get_reg(&cur, UNW_REG_SP, &sp);
        frame_t *f = &t->frames[t->nframes++];
        f->pc = ip;
        f->sp = sp;
        f->signal_frame = unw_is_signal_frame(&cur) > 0;
        if (with_names) {
            char name[256];
            if (unw_get_proc_name(&cur, name, sizeof name, &off) == 0) {
                f->name = strdup(name);
                f->off = off;
            }
        }
    } while (t->nframes < max_frames && unw_step(&cur) > 0);
    _UPT_destroy(upt);
}

static void unwind_all(bpfs_capture *c, int max_frames, int with_names) {
    unw_addr_space_t as = unw_create_addr_space(&_UPT_accessors, 0);
    if (as) unw_set_caching_policy(as, UNW_CACHE_GLOBAL);
    for (int i = 0; i < c->n; i++) {
        thread_t *t = &c->t[i];
        if (!t->stopped) continue;
        if (!as) {
            set_err(t, ENOMEM, "unw_create_addr_space");
            continue;
        }
        unwind_thread(as, t, max_frames, with_names);
    }
    if (as) unw_destroy_addr_space(as);
}

bpfs_capture *bpfs_capture_process(pid_t pid, const int32_t *tids, int ntids, int max_frames,
                                   int with_names) {
    bpfs_capture *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (max_frames <= 0) max_frames = 64;
    int32_t buf[4096];
    double t0 = 0;
    /* Seize in rounds: a thread created during the first round shows up in the next. */
    for (int round = 0; round < (tids ? 1 : 8); round++) {
        int n = tids ? ntids : list_tasks(pid, buf, 4096);
        const int32_t *src = tids ? tids : buf;
        int added = 0;
        for (int i = 0; i < n; i++) {
            thread_t *t = add_thread(c, src[i]);
            if (!t) continue;
            added++;
            char st = thread_state(pid, t->tid);
            if (st == 0) {
                set_err(t, ESRCH, "thread gone");
                continue;
            }
            if (st == 'D') {
                set_err(t, EAGAIN, "uninterruptible (D), user stack skipped");
                continue;
            }
            if (ptrace(PTRACE_SEIZE, t->tid, 0, 0) != 0) {
                set_err(t, errno, "PTRACE_SEIZE");
                continue;
            }
            if (t0 == 0) t0 = now_s();
            t->seized = 1;
            if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) != 0) set_err(t, errno, "PTRACE_INTERRUPT");
        }
        if (!added || n <= 0) break;
    }
    double deadline = now_s() + 2.0;
    for (int i = 0; i < c->n; i++)
        if (c->t[i].seized && !c->t[i].err) wait_stop(&c->t[i], deadline);
    unwind_all(c, max_frames, with_names);
    /* Detach everything we seized. A thread that never stopped cannot be detached yet:
     * give it one more bounded chance so it is not left traced. */
    for (int i = 0; i < c->n; i++) {
        thread_t *t = &c->t[i];
        if (!t->seized) continue;
        if (!t->stopped) {
            int st;
            double end = now_s() + 1.0;
            while (now_s() < end) {
                pid_t r = waitpid(t->tid, &st, __WALL | WNOHANG);
                if (r == t->tid || r < 0) { t->stopped = (r == t->tid && WIFSTOPPED(st)); break; }
                struct timespec ts = {0, 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
        if (ptrace(PTRACE_DETACH, t->tid, 0, (void *)(long)t->pending_sig) != 0 && errno != ESRCH)
            set_err(t, errno, "PTRACE_DETACH");
        t->seized = 0;
    }
    if (t0 != 0) c->stopped_seconds = now_s() - t0;
    return c;
}

bpfs_capture *bpfs_capture_stopped(pid_t pid, const int32_t *tids, int ntids, int max_frames,
                                   int with_names) {
    (void)pid;
    bpfs_capture *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (max_frames <= 0) max_frames = 64;
    for (int i = 0; i < ntids; i++) {
        thread_t *t = add_thread(c, tids[i]);
        if (t) t->stopped = 1;
    }
    unwind_all(c, max_frames, with_names);
    return c;
}

void bpfs_capture_free(bpfs_capture *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        for (int f = 0; f < c->t[i].nframes; f++) free(c->t[i].frames[f].name);
        free(c->t[i].frames);
    }
    free(c->t);
    free(c);
}

int bpfs_capture_thread_count(const bpfs_capture *c) { return c ? c->n : 0; }
int32_t bpfs_capture_thread_tid(const bpfs_capture *c, int t) { return c->t[t].tid; }
int bpfs_capture_thread_errno(const bpfs_capture *c, int t) { return c->t[t].err; }
const char *bpfs_capture_thread_error(const bpfs_capture *c, int t) { return c->t[t].msg; }
int bpfs_capture_frame_count(const bpfs_capture *c, int t) { return c->t[t].nframes; }
uint64_t bpfs_capture_frame_pc(const bpfs_capture *c, int t, int f) { return c->t[t].frames[f].pc; }
uint64_t bpfs_capture_frame_sp(const bpfs_capture *c, int t, int f) { return c->t[t].frames[f].sp; }
const char *bpfs_capture_frame_name(const bpfs_capture *c, int t, int f) {
    const char *n = c->t[t].frames[f].name;
    return n ? n : "";
}
int bpfs_capture_frame_is_signal(const bpfs_capture *c, int t, int f) { return c->t[t].frames[f].signal_frame; }
uint64_t bpfs_capture_frame_offset(const bpfs_capture *c, int t, int f) { return c->t[t].frames[f].off; }
double bpfs_capture_stopped_seconds(const bpfs_capture *c) { return c ? c->stopped_seconds : 0; }

int bpfs_ptrace_seize(pid_t tid, unsigned long options) {
    return ptrace(PTRACE_SEIZE, tid, 0, (void *)options) == 0 ? 0 : -errno;
}
int bpfs_ptrace_interrupt(pid_t tid) { return ptrace(PTRACE_INTERRUPT, tid, 0, 0) == 0 ? 0 : -errno; }
int bpfs_ptrace_cont(pid_t tid, int sig) {
    return ptrace(PTRACE_CONT, tid, 0, (void *)(long)sig) == 0 ? 0 : -errno;
}
int bpfs_ptrace_detach(pid_t tid, int sig) {
    return ptrace(PTRACE_DETACH, tid, 0, (void *)(long)sig) == 0 ? 0 : -errno;
}
int bpfs_ptrace_geteventmsg(pid_t tid, unsigned long *msg) {
    return ptrace(PTRACE_GETEVENTMSG, tid, 0, msg) == 0 ? 0 : -errno;
}
int bpfs_ptrace_getsiginfo(pid_t tid, int *signo, int *code, uint64_t *addr, int *sender) {
    siginfo_t si;
    if (ptrace(PTRACE_GETSIGINFO, tid, 0, &si) != 0) return -errno;
    *signo = si.si_signo;
    *code = si.si_code;
    /* si_addr and si_pid share a union: only a fault (si_code > 0) has an address. */
    *addr = si.si_code > 0 ? (uint64_t)(uintptr_t)si.si_addr : 0;
    *sender = si.si_code <= 0 ? si.si_pid : 0;
    return 0;
}
int bpfs_waitpid(pid_t tid, int *status, int nohang) {
    pid_t r = waitpid(tid, status, __WALL | (nohang ? WNOHANG : 0));
    return r < 0 ? -errno : r;
}
