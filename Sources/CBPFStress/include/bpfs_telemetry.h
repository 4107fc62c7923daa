#ifndef BPFS_TELEMETRY_H
#define BPFS_TELEMETRY_H
#include <stdint.h>
#endif
