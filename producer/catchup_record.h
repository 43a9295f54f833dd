/* SPDX-License-Identifier: Apache-2.0 */
/* catchup_record: writes a catch-up plan's SKIP and MISSED ticks. */
#pragma once

#include <stddef.h>

#include "catchup.h"
#include "rf_pg.h"

/* Records every tick of @p plan that is not CATCHUP_DECIDE as a decision of
 * workflow @p w (SKIP or MISSED, state SKIPPED, with the plan's reasons). A
 * tick that already has a decision keeps it. *ret_skipped and *ret_missed
 * count the rows written. Returns 0, or a negative errno with the reason in
 * @p errstr (rows of earlier batches stay: each is a correct decision). */
int catchup_record(rf_pg_t *pg, const rf_workflow_conf_t *w, const catchup_plan_t *plan, size_t *ret_skipped,
                   size_t *ret_missed, char *errstr, size_t errstr_size);
