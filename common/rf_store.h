/* SPDX-License-Identifier: Apache-2.0 */
/* rf_store: decisions in PostgreSQL and their hand-over to Kafka. A RUN
 * decision is always inserted before it is produced, so a crash between the
 * two leaves a row the reaper finds, never a message without a record. */
#pragma once

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "rf_decision.h"
#include "rf_pg.h"

/* The columns rf_store_decision_from_row() reads, in its order. */
#define RF_STORE_DECISION_COLUMNS                                                                                      \
        "decision_id, workflow, array_to_json(scrapers)::text, "                                                       \
        "(extract(epoch FROM decided_at) * 1000)::bigint, attempt, reason, deadline_ms, "                              \
        "replay_of, trace_id"

/* Builds a decision from row @p row of @p res, selected with
 * RF_STORE_DECISION_COLUMNS. The caller owns *ret_decision. */
int rf_store_decision_from_row(PGresult *res, int row, rf_decision_t **ret_decision);

/* One decision of a batch rf_store_insert_decisions() inserts. */
typedef struct rf_store_new {
        /* decision_id, trace_id, decided_at and attempt filled in when empty;
         * a tick's decision (tick_ms >= 0, backfill_of NULL) always gets the
         * tick's own id (rf_uuid_tick), whatever decision_id held */
        rf_decision_t *d;
        const char *action; /* "RUN" or "SKIP" */
        int64_t tick_ms;    /* the schedule tick it answers, -1: none */
        /* a backfill's decision: @backfill_id names its runfleet.backfills
         * row, @backfill_of (NULL: none) the decision of the same tick it
         * runs again. With backfill_of NULL a tick is still decided once
         * (the row has the tick's id); with it, the row is the tick's
         * deliberate second decision, with an id of its own. */
        const char *backfill_of;
        const char *backfill_id;
        bool inserted; /* out: false when its tick was decided already (another evaluator) */
} rf_store_new_t;

/* Inserts @p count decisions in one statement; each row's inserted says
 * whether it went in. Returns 0, or a negative errno with the reason in
 * @p errstr (then none went in). */
int rf_store_insert_decisions(rf_pg_t *pg, rf_store_new_t *rows, size_t count, char *errstr, size_t errstr_size);

/* Inserts @p d (decision_id, trace_id and decided_at filled in when empty).
 * @p action is "RUN" or "SKIP"; @p tick_ms >= 0 names the schedule tick, and
 * then -EEXIST means another evaluator already decided that tick. */
int rf_store_insert_decision(rf_pg_t *pg, rf_decision_t *d, const char *action, int64_t tick_ms, char *errstr,
                             size_t errstr_size);

/* Delivery report callback for producers made for rf_store_publish(). */
void rf_store_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* Produces each of @p decisions to @p topic, waits up to @p timeout_ms for
 * Kafka to acknowledge them and records delivered_at for those it did.
 * *ret_delivered gets how many were acknowledged; the rest stay for the
 * reaper. Returns 0 when all were delivered, else -EIO with the first
 * reason in @p errstr. */
int rf_store_publish(rd_kafka_t *rk, rf_pg_t *pg, const char *topic, rf_decision_t *const *decisions, size_t count,
                     int timeout_ms, size_t *ret_delivered, char *errstr, size_t errstr_size);

/* rf_store_publish(), telling which decisions Kafka acknowledged:
 * @p ret_acked (@p count entries) gets true for each, so a caller logs what
 * happened to each decision and not what it hoped. */
int rf_store_publish_acked(rd_kafka_t *rk, rf_pg_t *pg, const char *topic, rf_decision_t *const *decisions,
                           size_t count, int timeout_ms, bool *ret_acked, size_t *ret_delivered, char *errstr,
                           size_t errstr_size);

/* rf_store_publish_acked() in three steps, so a caller does other work
 * (records its next batch) while Kafka acknowledges this one. At most one
 * publish may be in flight on a producer handle: the wait waits for all of
 * the handle's messages. */
typedef struct rf_store_publish rf_store_publish_t;

/* Queues @p count decisions for @p topic and returns without waiting;
 * @p decisions must stay alive until rf_store_publish_finish(). A decision
 * that cannot be queued is reported by the finish. The caller owns
 * *ret_pub. Returns 0 or -ENOMEM. */
int rf_store_publish_start(rd_kafka_t *rk, const char *topic, rf_decision_t *const *decisions, size_t count,
                           int timeout_ms, rf_store_publish_t **ret_pub);

/* Waits until Kafka acknowledged or refused every queued decision of
 * @p pub, or its time (the start's @p timeout_ms) is up; no database.
 * Returns 0 when all were delivered, else -EIO. */
int rf_store_publish_wait(rf_store_publish_t *pub);

/* After rf_store_publish_wait(): records delivered_at of the acknowledged
 * decisions, as rf_store_publish_acked() does and with its results, and
 * frees @p pub. */
int rf_store_publish_finish(rf_store_publish_t *pub, rf_pg_t *pg, bool *ret_acked, size_t *ret_delivered, char *errstr,
                            size_t errstr_size);

/* Frees @p pub unfinished (waiting for its delivery reports first); NULL is fine. */
void rf_store_publish_free(rf_store_publish_t *pub);

/* A test-only fault point: when RUNFLEET_FAULT names @p point, the process
 * exits at once with status 86, as a crash there would. */
void rf_fault_point(const char *point);
