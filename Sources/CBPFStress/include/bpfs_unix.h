/* AF_UNIX stream client sockets (QMP): socket(2) + connect(2) by path. */
#pragma once

/* A close-on-exec AF_UNIX stream socket connected to `path`, or -errno. */
int bpfs_unix_connect(const char *path);
