/* What the chaos tests share: running a service script beside the test,
 * the invariant they assert once the fleet has settled, the duplicate side
 * effects they count, and the explanation a run that does not settle
 * prints. */
#pragma once

#include "itest.h"

/* Runs "<root>/scripts/<cmd>" with @p env ("NAME=value ..." shell
 * assignments, or NULL) in front, its output appended to <t->dir>/services.log.
 * Returns its exit status (-1 when it could not run). */
int chaos_script(const itest_t *t, const char *root, const char *env, const char *cmd);

/* Counts the violations of the invariant in t's database, printing a "#"
 * line for each kind found: every RUN decision SUCCEEDED or DEAD; a
 * SUCCEEDED decision has exactly one SUCCEEDED execution, a DEAD one none
 * and at least one attempt; no decision has two SUCCEEDED executions; no
 * execution is still RUNNING; the orphans view is empty. 0 when it holds. */
long long chaos_invariant_violations(itest_t *t);

/* The fake scraper's calls under @p prefix: how many (scraper, idempotency
 * key) pairs it saw, and how many of them more than once. */
void chaos_duplicates(itest_t *t, const char *prefix, long long *ret_keys, long long *ret_dups);

/* Why the fleet did not settle, for the log of a failed run: where the
 * unsettled decisions stand, how far the group has committed, what the
 * database is waiting on, and what each program logged most. */
void chaos_explain_unsettled(itest_t *t);
