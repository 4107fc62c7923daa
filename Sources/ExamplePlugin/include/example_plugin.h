/* The minimal bpfstress runtime plugin (see example.c and the README). It exports only
 * bpfstress_runtime_entry, declared in bpfstress_runtime.h. */
#ifndef EXAMPLE_PLUGIN_H
#define EXAMPLE_PLUGIN_H
#include "bpfstress_runtime.h"
const struct bpfstress_runtime *bpfstress_runtime_entry(uint32_t host_abi_version);
#endif
