int bpfs_capture_placeholder_symbol(void) { return 0; }
