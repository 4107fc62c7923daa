// bpfstress-selftest: the CLI plus the test-only scenarios and fixtures, for the project's own tests.
import BPFStressCLI
import TestScenarios

TestScenarios.install()
Entry.main()
