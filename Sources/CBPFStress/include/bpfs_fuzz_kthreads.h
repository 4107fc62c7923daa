/* cpumap kthreads seen through /proc: the fuzzer's lifetime oracle for cpumap entries. */
#ifndef BPFS_FUZZ_KTHREADS_H
#define BPFS_FUZZ_KTHREADS_H
#include <stdint.h>

/** Scans /proc/<pid>/comm for kernel threads named "cpumap/<cpu>/map:<map_id>" (the name
 *  __cpu_map_entry_alloc gives the entry's kthread). Writes up to `max` (pid, cpu) pairs and
 *  returns how many there are (may exceed max), or -errno when /proc cannot be read. */
int bpfs_fuzz_cpumap_threads(uint32_t map_id, int32_t *pids, int32_t *cpus, int max);

/** 1 when /proc/<pid>/comm still reads "cpumap/<cpu>/map:<map_id>", 0 when the task is gone
 *  or has another name. */
int bpfs_fuzz_cpumap_thread_alive(int32_t pid, int32_t cpu, uint32_t map_id);
#endif
