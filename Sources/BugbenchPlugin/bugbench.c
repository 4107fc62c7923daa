int bb_placeholder(void) { return 0; }
