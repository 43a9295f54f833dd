/* SPDX-License-Identifier: Apache-2.0 */
/* history: what PostgreSQL recorded about a time range, read into memory
 * for `timeline` and `explain`: the decisions made in the range (by
 * decided_at, which the decisions_day index serves), each with its
 * executions and their scraper calls, whether the orphans view lists it,
 * and the operator events of the range (pauses, backfills, replays, DLQ
 * redrives). Every query is bounded by the range. */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_lifecycle.h"
#include "rf_pg.h"
#include "span.h"

/* Strings point into the history's query results: valid until history_free(). */
typedef struct hist_call {
        const char *scraper, *error; /* error: "" when none */
        rf_call_outcome_t outcome;
        int try_no;
        int http_status; /* 0: no HTTP answer */
        int64_t started_ms;
        int duration_ms;
} hist_call_t;

typedef struct hist_execution {
        const char *execution_id, *worker_id, *error; /* error: "" when none */
        rf_exec_status_t status;
        int attempt;
        int64_t started_ms;
        int64_t finished_ms;  /* 0 while RUNNING */
        int64_t heartbeat_ms; /* its last lease renewal */
        hist_call_t *calls;   /* points into history_t.calls */
        size_t call_count;
} hist_execution_t;

typedef struct hist_decision {
        const char *decision_id, *workflow, *reason;
        rf_decision_action_t action;
        rf_decision_state_t state;
        /* NULL when not set */
        const char *replay_of, *backfill_of, *backfill_id, *cancelled_by, *cancel_reason, *orphan_why;
        int64_t decided_ms, state_ms;
        int64_t tick_ms;              /* -1: no tick (a manual trigger, a replay) */
        int attempt;                  /* the last attempt produced to Kafka */
        hist_execution_t *executions; /* by attempt; points into history_t.executions */
        size_t execution_count;
} hist_decision_t;

/* An operator event: kind PAUSE, UNPAUSE, PAUSED (a pause that began before
 * the range and still held at its start), BACKFILL, REPLAY or REDRIVE. */
typedef struct hist_event {
        int64_t at_ms;
        const char *kind;
        const char *workflows; /* "a, b", or "" for every workflow */
        const char *text;      /* what happened, times in local time */
} hist_event_t;

typedef struct history {
        span_t span;
        hist_decision_t *decisions; /* by workflow, then tick (or decided_at when none), then decided_at */
        size_t count;
        hist_execution_t *executions;
        size_t execution_count;
        hist_call_t *calls;
        size_t call_count;
        hist_event_t *events; /* by time */
        size_t event_count;
        long long orphans_any_day; /* rows of runfleet.orphans, whatever their day */
        PGresult *res[4];
} history_t;

/* Reads the history of @p span in zone @p tz (for the times in event
 * texts), only of @p workflows when @p workflow_count > 0. Fills
 * @p ret_history, which the caller frees with history_free(). Returns 0, or
 * a negative errno with the reason in @p errstr. */
int history_load(rf_pg_t *pg, const span_t *span, const char *tz, char *const *workflows, size_t workflow_count,
                 history_t *ret_history, char *errstr, size_t errstr_size);

void history_free(history_t *h);

/* Execution duration: until it finished, or for an ABANDONED one until its
 * last lease renewal (how long it is known to have run, not how long the
 * reaper took to notice); -1 while it runs. */
int64_t hist_execution_ms(const hist_execution_t *e);

/* The decision of @p h whose id ends with @p suffix and whose workflow is
 * @p workflow, or NULL (reasons name decisions by their short id,
 * rf_uuid_short: the last 8 characters). */
const hist_decision_t *history_find(const history_t *h, const char *workflow, const char *suffix);
