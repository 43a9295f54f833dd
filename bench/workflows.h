/* SPDX-License-Identifier: Apache-2.0 */
/* bench_workflows: the workflows the evaluator benches configure. */
#pragma once

/* The workflows list of a configuration: "w00000" ... "w<n-1>", each on
 * the same cron tick ("* * * * *") and the one scraper "s" (malloc()ed;
 * NULL: out of memory). */
char *bench_workflows(int n);
