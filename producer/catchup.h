/* SPDX-License-Identifier: Apache-2.0 */
/* catchup: which schedule ticks of one workflow an evaluation must account
 * for, and what becomes of each. No I/O: evaluate.c reads the workflow's
 * last decided tick, this plans, evaluate.c records.
 *
 * The gap is every tick after the workflow's last decided tick up to now.
 * A tick within the lookback (one or two evaluation periods) is on time and
 * decided by the policy like any tick. An older one was missed: nobody
 * evaluated while it passed (the evaluator was down or stalled). A missed
 * tick older than the workflow's catch-up window is MISSED; one within the
 * window is decided (catch-up "all"), decided only when it is the gap's
 * newest tick ("latest"), or SKIPped ("none", and "latest" for the others).
 * At most producer.catchup_max_ticks ticks of a gap get a row each; older
 * ones of a longer gap are counted by one MISSED row at the gap's first
 * tick, whose reason says so, so a week of "@every 1s" costs one row and
 * not 600,000, and still nothing passes without a trace. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "rf_conf.h"

typedef enum catchup_action {
        CATCHUP_DECIDE, /* the policy decides RUN or SKIP */
        CATCHUP_SKIP,   /* recorded SKIP, with plan.skip_reason */
        CATCHUP_MISSED, /* recorded MISSED, with plan.missed_reason (or bound_reason for the summary row) */
} catchup_action_t;

typedef struct catchup_tick {
        int64_t tick_ms;
        catchup_action_t action;
        int summary; /* 1: the row that stands for the older ticks beyond the bound */
} catchup_tick_t;

typedef struct catchup_plan {
        catchup_tick_t *ticks; /* oldest first; free() */
        size_t count;
        size_t missed;  /* ticks of the gap that were missed, summarised ones included when counted */
        char range[96]; /* the missed ticks, "09:00–12:00" local time */
        char skip_reason[320];
        char late_note[200]; /* appended to the reason of a missed tick the policy decides */
        char missed_reason[320];
        char bound_reason[400];
} catchup_plan_t;

/* Plans the gap of workflow @p w at @p now_ms in zone @p tz: the ticks after
 * @p last_tick_ms (-1: never decided, then only the newest tick counts, and
 * only when it is on time). @p lookback_ms: how old a tick may be and still
 * be on time. @p max_ticks: producer.catchup_max_ticks. Returns 0 (an empty
 * plan when there is nothing to do), -ENOMEM, or -EINVAL for an unknown
 * zone. The caller frees plan->ticks. */
int catchup_plan(const rf_workflow_conf_t *w, const char *tz, int64_t last_tick_ms, int64_t now_ms, int64_t lookback_ms,
                 int max_ticks, catchup_plan_t *ret_plan);

/* "latest", "all" or "none". */
const char *catchup_policy_name(rf_catchup_t policy);
