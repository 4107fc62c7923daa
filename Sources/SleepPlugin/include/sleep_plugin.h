/* Test-only runtime plugin: forwards every bpf command to the kernel and sleeps before one.
 * Config "CMD,MICROSECONDS", e.g. plugin:libbpfstress-sleep-plugin.so:1,2000 sleeps 2 ms in
 * every BPF_MAP_LOOKUP_ELEM (1). Used to inject a known latency into the percentiles. */
#ifndef BPFSTRESS_SLEEP_PLUGIN_H
#define BPFSTRESS_SLEEP_PLUGIN_H
#include "bpfstress_runtime.h"
#endif
