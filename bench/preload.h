/* SPDX-License-Identifier: Apache-2.0 */
/* bench_preload: history generated in SQL (bench/preload_history.sql) in a
 * bench's database, for scenario (f): cost against history size. */
#pragma once

#include "itest.h"

/* Days the history is spread over, ending yesterday. */
#define BENCH_PRELOAD_DAYS 30

/* @p rows decisions (with executions and calls) over BENCH_PRELOAD_DAYS
 * days, then VACUUM ANALYZE. Returns the seconds it took, or -1. */
double bench_preload(itest_t *t, long long rows);
