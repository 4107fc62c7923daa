// The shipped executable: the CLI, and no test scenarios or fixtures.
import BPFStressCLI

Entry.main()
