/* bugbench: the built-in bpfstress runtime plugin that forwards every bpf command to the
 * kernel and can plant the four seed bugs, each switched on by name in CONFIG:
 *
 *   --runtime plugin:.build/debug/libbpfstress-bugbench.so:epoch-detach,abba
 *
 *   epoch-detach  bb_program_create enters an epoch, then takes the provider lock; a provider
 *                 restart takes the provider lock and, for a provider that never attached,
 *                 bb_program_information_detach_provider calls bb_epoch_synchronize (which
 *                 waits for every thread in an older epoch) while still holding it: deadlock.
 *   shared-txn    attaching connect4/connect6 begins a filter transaction on the one engine
 *                 handle of the runtime; a second begin while one is open fails -> EINVAL.
 *   abba          map update: bucket lock then stats lock; hook: stats lock then bucket lock.
 *   percpu-size   per-CPU lookup_batch stages values in value_size x count bytes (guard page
 *                 behind) and copies round_up(value_size, 8) x CPUs x count into it: SIGSEGV
 *                 in memcpy called from bb_lookup_batch_copy_values.
 *
 * State shared by every worker process lives in a POSIX shared-memory segment created by
 * campaign_init (process-shared robust mutexes and futexes). */
#ifndef BPFSTRESS_BUGBENCH_H
#define BPFSTRESS_BUGBENCH_H
#include "bpfstress_runtime.h"

#define BB_FAULT_EPOCH_DETACH (1u << 0)
#define BB_FAULT_SHARED_TXN   (1u << 1)
#define BB_FAULT_ABBA         (1u << 2)
#define BB_FAULT_PERCPU_SIZE  (1u << 3)

const struct bpfstress_runtime *bpfstress_runtime_entry(uint32_t host_abi_version);

#endif
