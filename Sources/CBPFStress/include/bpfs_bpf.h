#ifndef BPFS_BPF_H
#define BPFS_BPF_H
#include <stdint.h>
#endif
