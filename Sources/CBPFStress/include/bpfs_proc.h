#ifndef BPFS_PROC_H
#define BPFS_PROC_H
#include <stdint.h>
#endif
