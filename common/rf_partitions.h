/* SPDX-License-Identifier: Apache-2.0 */
/* rf_partitions: the day partitions of the history tables, made ahead and
 * dropped by retention (schemas/sql/018_partitioned_history.sql, and the
 * functions create_partitions and prune_partitions). migrate and the
 * reaper's timer make them; the reaper's timer and `runfleet-producer
 * prune` drop them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "rf_pg.h"

/* Days made ahead, from yesterday (a clock behind the database's still
 * finds its day) to a week from today: the reaper's hourly timer can miss
 * a week before an insert lands in the default partition. */
#define RF_PARTITIONS_FROM_DAY (-1)
#define RF_PARTITIONS_DAYS 9

/* Makes the partitions of the days around today that do not exist yet.
 * Returns 0 with how many tables it made, or a negative errno. */
int rf_partitions_create(rf_pg_t *pg, size_t *ret_created, char *errstr, size_t errstr_size);

/* What prune did, or would do, to one day (or to a default partition). */
typedef struct rf_prune_row {
        const char *part;   /* "decisions_20261104 + executions_20261104", "scraper_calls_20261104", ... */
        const char *day;    /* "2026-11-04", or "" for a default partition */
        long long est_rows; /* the planner's estimate, or a count if never analyzed (old rows for a default) */
        const char *action; /* "dropped", "would drop", "kept: 2 open decisions, 0 running executions", ... */
} rf_prune_row_t;

typedef void rf_prune_row_fn(const rf_prune_row_t *row, void *userdata);

/* Retention: drops the days older than @p keep_days (>= 1), except days
 * that still hold an open decision or a running execution; with @p dry_run
 * only says what would go. Calls @p fn for each day considered; counts
 * the days (and default partitions) dropped, or that would be, and those
 * kept. Returns 0,
 * or a negative errno with the reason in @p errstr. */
int rf_partitions_prune(rf_pg_t *pg, int keep_days, bool dry_run, rf_prune_row_fn *fn, void *userdata,
                        size_t *ret_dropped, size_t *ret_kept, char *errstr, size_t errstr_size);
