/* SPDX-License-Identifier: Apache-2.0 */
/* What the chaos tests share: running a service script beside the test,
 * the duplicate side effects they count, and the explanation a run that
 * does not settle prints (the invariant they assert is
 * itest_invariant_violations()). */
#pragma once

#include "itest.h"

/* Runs "<root>/scripts/<cmd>" with @p env ("NAME=value ..." shell
 * assignments, or NULL) in front, its output appended to <t->dir>/services.log.
 * Returns its exit status (-1 when it could not run). */
int chaos_script(const itest_t *t, const char *root, const char *env, const char *cmd);

/* The fake scraper's calls under @p prefix: how many (scraper, idempotency
 * key) pairs it saw, and how many of them more than once. */
void chaos_duplicates(itest_t *t, const char *prefix, long long *ret_keys, long long *ret_dups);

/* Why the fleet did not settle, for the log of a failed run: where the
 * unsettled decisions stand, how far the group has committed, what the
 * database is waiting on, and what each program logged most. */
void chaos_explain_unsettled(itest_t *t);
