/* SPDX-License-Identifier: Apache-2.0 */
/* bench_workflows: the workflows the evaluator benches configure. */
#pragma once

/* The workflows list of a configuration: "w00000" ... "w<n-1>", each on
 * the same cron tick ("* * * * *") and the one scraper "s" (malloc()ed;
 * NULL: out of memory). */
char *bench_workflows(int n);

/* The same list with names "<prefix>00000" ... (a set never decided
 * before, for one more measurement of the same work). */
char *bench_workflows_named(int n, const char *prefix);
