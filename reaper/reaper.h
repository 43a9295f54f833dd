/* SPDX-License-Identifier: Apache-2.0 */
/* runfleet-reaper: finds RUN decisions nothing is working on and hands them
 * to Kafka again, so an orphaned decision cannot last. */
#pragma once

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "rf_conf.h"
#include "rf_pg.h"

typedef struct sweep_stats {
        int abandoned;  /* RUNNING executions whose lease ran out */
        int unexecuted; /* produced (or not) but never started, past the grace period */
        int retried;    /* FAILED, TIMED_OUT or ABANDONED, re-produced after backoff */
        int dead;       /* out of failed executions (reaper.max_failed_executions) */
        int late;       /* LATE alerts fired (workflows[].alert_after), see late.c */
        int released;   /* waiting decisions (overlap buffer_one) produced, their workflow free */
        int paused;     /* workflows paused after pause_after_failures DEAD decisions in a row */
        int delivered;  /* re-produced decisions Kafka acknowledged */
        int skipped;    /* 1 when another reaper held the sweep lock */
} sweep_stats_t;

/* One sweep. Returns 0, or a negative errno with the reason in @p errstr. */
int reaper_sweep(const rf_conf_t *conf, rf_pg_t *pg, rd_kafka_t *rk, sweep_stats_t *stats, char *errstr,
                 size_t errstr_size);

/* LATE alerts (late.c). Inside the sweep's transaction: records the LATE
 * alerts now due, once per decision; *ret_fired gets the rows this call
 * created (the caller PQclear()s it; NULL when no workflow has an
 * alert_after). Returns 0, or a negative errno with the reason in @p errstr. */
int reaper_late(const rf_conf_t *conf, rf_pg_t *pg, PGresult **ret_fired, char *errstr, size_t errstr_size);

/* After the commit: one decision.late log line and one
 * runfleet_decisions_late_total increment per row of @p fired (may be
 * NULL). Returns the number of rows. */
int reaper_late_report(PGresult *fired);

/* Registers runfleet_decisions_late_total, at 0 for every workflow with an
 * alert_after. Without it (--once), reaper_late_report() only logs. */
void reaper_late_metrics_init(const rf_conf_t *conf);

/* Pauses the workflows that the decisions just marked DEAD (@p dead, the
 * rows of the sweep's DEAD statement: decision_id, workflow, attempt,
 * trace_id, error) leave with pause_after_failures DEAD decisions in a row,
 * inside the sweep's transaction, and owes a PAUSED alert for each when a
 * webhook is configured. *ret_paused gets how many. Returns 0, or a
 * negative errno with the reason in @p errstr. See autopause.c. */
int reaper_autopause(const rf_conf_t *conf, rf_pg_t *pg, PGresult *dead, int *ret_paused, char *errstr,
                     size_t errstr_size);

typedef struct alert_stats {
        int sent;   /* accepted by the webhook (2xx) */
        int failed; /* refused or unanswered, tried again after a backoff */
} alert_stats_t;

/* POSTs the due alerts (DEAD, LATE, PAUSED) to reaper.webhook_url (nothing when it is not
 * set), a bounded number per call; see alerts.c. Returns 0, or a negative
 * errno from the database with the reason in @p errstr. */
int reaper_alerts_send(const rf_conf_t *conf, rf_pg_t *pg, alert_stats_t *stats, char *errstr, size_t errstr_size);

/* Partition upkeep (retention.c): makes the coming days' partitions and
 * drops the days older than retention.days. Returns 0, or a negative errno
 * with the reason in @p errstr. */
int reaper_retention(const rf_conf_t *conf, rf_pg_t *pg, char *errstr, size_t errstr_size);

/* Registers runfleet_reaper_partitions_total{action}. */
void reaper_retention_metrics_init(void);
