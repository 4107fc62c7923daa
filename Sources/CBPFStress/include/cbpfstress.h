/* Umbrella header of the CBPFStress C shim: the only code that touches bpf_attr,
 * the shared telemetry layout, process spawning details and signal handlers. */
#ifndef CBPFSTRESS_H
#define CBPFSTRESS_H
#include "bpfs_bpf.h"
#include "bpfs_telemetry.h"
#include "bpfs_ledger.h"
#include "bpfs_proc.h"
#include "bpfs_bench.h"
#include "bpfs_netns.h"
#include "bpfs_structops.h"
#include "bpfs_fentry.h"
#include "bpfs_unix.h"
#include "bpfs_fuzzbench.h"
#include "bpfs_fuzz_maps.h"
#include "bpfs_fuzz_ident.h"
#include "bpfs_fuzz_race.h"
#include "bpfs_fuzz_netns.h"
#include "bpfs_fuzz_kthreads.h"
#include "bpfs_libbpf_obj.h"
#include "bpfs_pool.h"
#endif
