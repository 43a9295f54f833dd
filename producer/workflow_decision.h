/* SPDX-License-Identifier: Apache-2.0 */
/* workflow_decision: a new RUN decision for a configured workflow, as the
 * evaluator, `trigger` and `backfill` all make it. */
#pragma once

#include "rf_conf.h"
#include "rf_decision.h"

/* A new decision of @p w (its name, scrapers and deadline) with @p reason;
 * the caller owns it (rf_decision_destroy). NULL when out of memory. */
rf_decision_t *workflow_decision_new(const rf_workflow_conf_t *w, const char *reason);
