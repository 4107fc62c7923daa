/* C shim for capture: ptrace, libunwind-ptrace, libelf symbol tables, crash handler, spawn. */
#ifndef CBPFCAPTURE_H
#define CBPFCAPTURE_H
#include <stdint.h>
#include "bpfs_capture.h"
#include "bpfs_elf.h"
#include "bpfs_crash.h"
#include "bpfs_spawn.h"
#endif
