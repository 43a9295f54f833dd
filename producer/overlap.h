/* SPDX-License-Identifier: Apache-2.0 */
/* overlap: recording the RUN decision that overlap = "buffer_one" holds
 * back while an earlier run of its workflow is in flight (see overlap.c). */
#pragma once

#include "rf_decision.h"
#include "rf_pg.h"

/* Records RUN decision @p d for tick @p tick_ms as waiting behind decision
 * @p wait_for: inserted and marked waiting in one transaction, so it is
 * never, even for a moment, a decision the reaper would produce while the
 * one before it runs. The caller does not produce it. Returns 0, -EEXIST
 * when the tick is decided already, or a negative errno with the reason in
 * @p errstr. */
int overlap_insert_waiting(rf_pg_t *pg, rf_decision_t *d, int64_t tick_ms, const char *wait_for, char *errstr,
                           size_t errstr_size);
