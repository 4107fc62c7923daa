/* C shim for capture: ptrace, libunwind-ptrace, libelf symbol tables. */
#ifndef CBPFCAPTURE_H
#define CBPFCAPTURE_H
#include <stdint.h>
#endif
