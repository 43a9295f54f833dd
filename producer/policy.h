/* SPDX-License-Identifier: Apache-2.0 */
/* policy: what the evaluator decides for one workflow at one schedule tick,
 * from the workflow's configuration and the RUN decisions of the days
 * around the tick. No I/O: evaluate.c reads the history, this decides. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_conf.h"
#include "rf_lifecycle.h"

/* One RUN decision from the history; the strings are the caller's. */
typedef struct policy_run {
        const char *workflow;
        const char *decision_id;
        int64_t at_ms;             /* the tick it answered, or when it was decided (manual triggers) */
        int64_t state_at_ms;       /* when it reached its current state */
        rf_decision_state_t state; /* PENDING, RUNNING, SUCCEEDED, FAILED, DEAD or CANCELLED */
        bool replay;               /* a replay re-runs the past: it does not count for today */
        bool waiting;              /* PENDING behind an earlier run (overlap buffer_one), not produced yet */
} policy_run_t;

/* The workflow's active pause (runfleet.pauses); the strings are the caller's. */
typedef struct policy_pause {
        const char *by;
        int64_t since_ms;
        const char *reason;
        bool automatic; /* by pause_after_failures */
} policy_pause_t;

typedef struct policy_verdict {
        bool run;
        /* a RUN that must wait (overlap buffer_one): the decision in flight
         * it is buffered behind; "" for a RUN to produce now */
        char wait_for[40];
        char reason[512];
} policy_verdict_t;

/* Decides RUN or SKIP for workflow @p w at schedule tick @p tick_ms, days
 * being local days in zone @p tz. @p runs holds the RUN decisions of @p w
 * and of the workflows it runs after, at least those of the tick's local day
 * (others are ignored), and its runs still in flight whatever their day.
 * @p pause is the workflow's active pause, NULL when it is not paused.
 * The rules, in order:
 *  - a disabled workflow SKIPs;
 *  - a paused workflow SKIPs, saying who paused it, since when and why;
 *  - a tick outside the window SKIPs;
 *  - when max_runs_per_day is set and today's SUCCEEDED plus in-progress
 *    (PENDING, RUNNING) runs reach it, SKIP: FAILED and DEAD runs do not
 *    count, so a failed morning run is run again at the next tick;
 *  - each "after" workflow must have a SUCCEEDED run today, else SKIP;
 *  - when a run of @p w is in flight (PENDING or RUNNING, any day), the
 *    overlap policy: skip SKIPs naming it; buffer_one SKIPs naming the
 *    decision already waiting if there is one, else RUNs with wait_for set
 *    (record it, do not produce it: the reaper releases it); allow RUNs;
 *  - otherwise RUN.
 * Every verdict carries a reason a person can read. Returns 0, or -EINVAL
 * for an unknown zone. */
int policy_decide(const rf_workflow_conf_t *w, const char *tz, int64_t tick_ms, const policy_run_t *runs, size_t count,
                  const policy_pause_t *pause, policy_verdict_t *ret_verdict);
