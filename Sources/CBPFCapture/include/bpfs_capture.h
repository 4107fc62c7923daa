/* ptrace + libunwind-ptrace capture of user stacks. Every ptrace request for a tracee must
 * come from the thread that seized it, so each entry point here is synchronous and does
 * all its ptrace work on the calling thread. */
#ifndef BPFS_CAPTURE_H
#define BPFS_CAPTURE_H
#include <stdint.h>
#include <sys/types.h>

typedef struct bpfs_capture bpfs_capture; /* opaque result: threads and frames */

/* Seizes every thread of pid (PTRACE_SEIZE + PTRACE_INTERRUPT + waitpid(__WALL)), unwinds
 * each with libunwind-ptrace, then PTRACE_DETACHes every seized thread, also on errors.
 * tids == NULL: enumerate /proc/pid/task (again after seizing, to catch new threads).
 * Threads in state D are not seized (they cannot stop; a seized running thread could not
 * be detached). with_names: also ask libunwind for proc names (slower).
 * Returns NULL only on allocation failure; per-thread problems are in the thread error. */
bpfs_capture *bpfs_capture_process(pid_t pid, const int32_t *tids, int ntids, int max_frames,
                                   int with_names);
/* Unwinds threads that the caller already traces and that are in a ptrace-stop now. */
bpfs_capture *bpfs_capture_stopped(pid_t pid, const int32_t *tids, int ntids, int max_frames,
                                   int with_names);
void bpfs_capture_free(bpfs_capture *c);
int bpfs_capture_thread_count(const bpfs_capture *c);
int32_t bpfs_capture_thread_tid(const bpfs_capture *c, int t);
/* 0 or a positive errno; the message says which step failed. */
int bpfs_capture_thread_errno(const bpfs_capture *c, int t);
const char *bpfs_capture_thread_error(const bpfs_capture *c, int t); /* "" when fine */
int bpfs_capture_frame_count(const bpfs_capture *c, int t);
uint64_t bpfs_capture_frame_pc(const bpfs_capture *c, int t, int f);
uint64_t bpfs_capture_frame_sp(const bpfs_capture *c, int t, int f);
/* libunwind's proc name ("" if unknown) and offset; only with with_names. */
const char *bpfs_capture_frame_name(const bpfs_capture *c, int t, int f);
uint64_t bpfs_capture_frame_offset(const bpfs_capture *c, int t, int f);
/* 1 if the frame is a signal trampoline (unw_is_signal_frame): the next frame's pc is the
 * interrupted instruction, not a return address. */
int bpfs_capture_frame_is_signal(const bpfs_capture *c, int t, int f);
/* Seconds spent with threads stopped (seize to last detach). */
double bpfs_capture_stopped_seconds(const bpfs_capture *c);

/* Thin ptrace(2) wrappers for the supervisor's tracing loop (ptrace is variadic, Swift
 * cannot call it). Each returns 0 or -errno. */
int bpfs_ptrace_seize(pid_t tid, unsigned long options);     /* PTRACE_SEIZE */
int bpfs_ptrace_interrupt(pid_t tid);                          /* PTRACE_INTERRUPT */
int bpfs_ptrace_cont(pid_t tid, int sig);                      /* PTRACE_CONT */
int bpfs_ptrace_detach(pid_t tid, int sig);                    /* PTRACE_DETACH */
int bpfs_ptrace_geteventmsg(pid_t tid, unsigned long *msg);    /* PTRACE_GETEVENTMSG */
/* PTRACE_GETSIGINFO: signo, si_code and si_addr. */
/* PTRACE_GETSIGINFO: addr is si_addr for a fault (si_code > 0), else 0 and sender is the
 * si_pid of the kill(2) that sent it. */
int bpfs_ptrace_getsiginfo(pid_t tid, int *signo, int *code, uint64_t *addr, int *sender);
/* waitpid(tid, &status, __WALL | (nohang ? WNOHANG : 0)); returns pid, 0 or -errno. */
int bpfs_waitpid(pid_t tid, int *status, int nohang);

/* ptrace option and event constants for Swift. */
enum {
    BPFS_O_TRACEFORK = 0x02, BPFS_O_TRACEVFORK = 0x04, BPFS_O_TRACECLONE = 0x08,
    BPFS_O_TRACEEXEC = 0x10, BPFS_O_TRACEEXIT = 0x40, BPFS_O_EXITKILL = 0x100000,
    BPFS_EVENT_FORK = 1, BPFS_EVENT_VFORK = 2, BPFS_EVENT_CLONE = 3, BPFS_EVENT_EXEC = 4,
    BPFS_EVENT_EXIT = 6, BPFS_EVENT_STOP = 128,
};
#endif
