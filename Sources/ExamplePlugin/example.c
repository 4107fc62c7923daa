int example_placeholder(void) { return 0; }
