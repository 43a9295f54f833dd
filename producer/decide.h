/* SPDX-License-Identifier: Apache-2.0 */
/* decide: one round of an evaluation, set-based. Each job is one
 * workflow's schedule tick; a round holds at most one tick per workflow,
 * so no decision of the round is history for another. The round costs a
 * fixed number of statements whatever the number of workflows: which ticks
 * are decided already, the RUN history of every workflow involved, the
 * active pauses, and one INSERT of every decision (plus one transaction
 * per RUN that must wait, overlap buffer_one). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "rf_conf.h"
#include "rf_decision.h"
#include "rf_pg.h"

typedef struct decide_job {
        const rf_workflow_conf_t *w;
        int64_t tick_ms;
        const char *note; /* appended to the policy's reason; NULL: none */
        /* filled in by decide_round() */
        rf_decision_t *d; /* recorded by this round (the caller owns it); NULL: decided already */
        bool run;         /* RUN, else SKIP */
        bool waiting;     /* a RUN recorded waiting (overlap buffer_one): not produced now */
        char reason[512]; /* the policy's reason, as recorded */
} decide_job_t;

/* Decides and records every job of @p jobs (at most one per workflow) in
 * zone @p tz. Returns 0, or a negative errno with the first reason in
 * @p errstr. Either way, a job's d is set exactly when its decision was
 * recorded by this call: after an error, what went in still goes out. */
int decide_round(rf_pg_t *pg, const char *tz, decide_job_t *jobs, size_t count, char *errstr, size_t errstr_size);

/* Frees what decide_round() left in @p jobs. */
void decide_jobs_clear(decide_job_t *jobs, size_t count);
