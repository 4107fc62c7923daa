/* Deliberate failures for the harness's own tests (test-only scenarios). Their names do
 * not start with bpfs_ on purpose: the culprit logic treats bpfs_* frames as harness
 * plumbing, and these must be named as culprits. */
#ifndef BPFS_FIXTURES_H
#define BPFS_FIXTURES_H
/* Blocks in read(2) on a pipe that a timer thread writes only after `seconds`
 * (bounded hang). Returns 0 when released. */
int fixture_block_in_pipe_read(int seconds);
/* memcpy of two pages into a one-page buffer that sits against a PROT_NONE guard page:
 * SIGSEGV inside memcpy, called from this function. */
void fixture_overrun_guard_page(void);
#endif
