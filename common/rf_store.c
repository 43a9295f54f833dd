/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "rf_decision_span.h"
#include "rf_kafka.h"
#include "rf_store.h"
#include "rf_trace.h"
#include "rf_util.h"

static char *dup_or_null(PGresult *res, int row, int col) {
        return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

int rf_store_decision_from_row(PGresult *res, int row, rf_decision_t **ret_decision) {
        rf_decision_t *d = rf_decision_new();
        json_t *names = NULL;
        int r = -ENOMEM;

        if (!d)
                return -ENOMEM;
        d->decision_id = dup_or_null(res, row, 0);
        d->workflow = dup_or_null(res, row, 1);
        names = json_loads(PQgetvalue(res, row, 2), 0, NULL);
        if (!json_is_array(names)) {
                r = -EBADMSG;
                goto fail;
        }
        d->scraper_count = json_array_size(names);
        d->scrapers = calloc(d->scraper_count ? d->scraper_count : 1, sizeof(char *));
        if (!d->scrapers)
                goto fail;
        for (size_t i = 0; i < d->scraper_count; i++) {
                const char *s = json_string_value(json_array_get(names, i));
                d->scrapers[i] = strdup(s ? s : "");
        }
        d->decided_at_ms = strtoll(PQgetvalue(res, row, 3), NULL, 10);
        d->attempt = (int32_t)strtol(PQgetvalue(res, row, 4), NULL, 10);
        d->reason = dup_or_null(res, row, 5);
        d->deadline_ms = strtoll(PQgetvalue(res, row, 6), NULL, 10);
        d->replay_of = dup_or_null(res, row, 7);
        d->trace_id = dup_or_null(res, row, 8);
        json_decref(names);
        *ret_decision = d;
        return 0;
fail:
        json_decref(names);
        rf_decision_destroy(d);
        return r;
}

/* Fills in what a new decision lacks: its id, trace id, decision time and
 * attempt. A row that takes its tick's one place (a tick, and not a
 * backfill's deliberate second decision) gets the tick's own id, whatever
 * it had: that id, the primary key, is what keeps a tick decided once
 * (rf_uuid.h). Any other id is time-ordered by decided_at, so the row lands
 * in its day's partition. */
static int complete_new(rf_store_new_t *row) {
        rf_decision_t *d = row->d;
        char id[37];

        if (d->decided_at_ms <= 0)
                d->decided_at_ms = rf_now_ms();
        if (row->tick_ms >= 0 && !row->backfill_of) {
                rf_uuid_tick(d->workflow, row->tick_ms, id);
                free(d->decision_id);
                d->decision_id = strdup(id);
        } else if (!d->decision_id) {
                rf_uuid_at(d->decided_at_ms, id);
                d->decision_id = strdup(id);
        }
        if (!d->trace_id) {
                rf_uuid_new(id);
                d->trace_id = strdup(id);
        }
        if (d->attempt < 1)
                d->attempt = 1;
        return d->decision_id && d->trace_id ? 0 : -ENOMEM;
}

static json_t *string_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

/* One row of the batch as the JSON object the INSERT below reads. */
static json_t *row_json(const rf_store_new_t *row) {
        const rf_decision_t *d = row->d;
        json_t *scrapers = json_array();

        for (size_t i = 0; scrapers && i < d->scraper_count; i++)
                json_array_append_new(scrapers, json_string(d->scrapers[i]));
        return json_pack(
                "{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:I, s:i, s:o, s:s, s:o, s:o}", "decision_id", d->decision_id,
                "workflow", d->workflow, "action", row->action, "reason", d->reason ? d->reason : "", "decided_ms",
                (json_int_t)d->decided_at_ms, "tick_ms", row->tick_ms >= 0 ? json_integer(row->tick_ms) : json_null(),
                "scrapers", scrapers ? scrapers : json_array(), "deadline_ms", (json_int_t)d->deadline_ms, "attempt",
                (int)d->attempt, "replay_of", string_or_null(d->replay_of), "trace_id", d->trace_id, "backfill_of",
                string_or_null(row->backfill_of), "backfill_id", string_or_null(row->backfill_id));
}

/* The one INSERT of decisions: a batch in one statement, its rows in one
 * JSON parameter whatever the batch's size. A tick decided already is left
 * alone (ON CONFLICT on the primary key: a tick's decision has the tick's
 * id); RETURNING says which rows went in. */
static const char *const sql_insert =
        "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, decided_at, tick, scrapers,"
        " deadline_ms, attempt, replay_of, trace_id, state, backfill_of, backfill_id)"
        " SELECT x.decision_id, x.workflow, x.action, x.reason, to_timestamp(x.decided_ms / 1000.0),"
        " to_timestamp(x.tick_ms / 1000.0), x.scrapers, x.deadline_ms, x.attempt, x.replay_of, x.trace_id,"
        " CASE WHEN x.action = 'RUN' THEN 'PENDING' ELSE 'SKIPPED' END, x.backfill_of, x.backfill_id"
        "  FROM jsonb_to_recordset($1::jsonb) AS x(decision_id uuid, workflow text, action text, reason text,"
        "       decided_ms bigint, tick_ms bigint, scrapers text[], deadline_ms bigint, attempt integer,"
        "       replay_of uuid, trace_id text, backfill_of uuid, backfill_id uuid)"
        " ON CONFLICT (decision_id) DO NOTHING"
        " RETURNING decision_id::text";

static int by_decision_id(const void *a, const void *b) {
        return strcasecmp((*(rf_store_new_t *const *)a)->d->decision_id, (*(rf_store_new_t *const *)b)->d->decision_id);
}

int rf_store_insert_decisions(rf_pg_t *pg, rf_store_new_t *rows, size_t count, char *errstr, size_t errstr_size) {
        json_t *batch = json_array();
        rf_store_new_t **sorted = calloc(count ? count : 1, sizeof(*sorted));
        char *text = NULL;
        PGresult *res = NULL;
        int r = -ENOMEM;

        if (!batch || !sorted)
                goto oom;
        for (size_t i = 0; i < count; i++) {
                json_t *o;

                rows[i].inserted = false;
                if (complete_new(&rows[i]) < 0 || !(o = row_json(&rows[i])) || json_array_append_new(batch, o) < 0)
                        goto oom;
                sorted[i] = &rows[i];
        }
        text = json_dumps(batch, JSON_COMPACT);
        if (!text)
                goto oom;
        {
                const char *params[] = { text };
                r = rf_pg_exec(pg, sql_insert, 1, params, &res, errstr, errstr_size);
        }
        if (r < 0)
                goto out;
        qsort(sorted, count, sizeof(*sorted), by_decision_id);
        for (int i = 0; i < PQntuples(res); i++) {
                rf_decision_t key = { .decision_id = PQgetvalue(res, i, 0) };
                rf_store_new_t k = { .d = &key }, *kp = &k, **hit;

                hit = bsearch(&kp, sorted, count, sizeof(*sorted), by_decision_id);
                if (hit)
                        (*hit)->inserted = true;
        }
        r = 0;
        goto out;
oom:
        snprintf(errstr, errstr_size, "out of memory");
out:
        PQclear(res);
        free(text);
        free(sorted);
        json_decref(batch);
        return r;
}

int rf_store_insert_decision(rf_pg_t *pg, rf_decision_t *d, const char *action, int64_t tick_ms, char *errstr,
                             size_t errstr_size) {
        rf_store_new_t row = { .d = d, .action = action, .tick_ms = tick_ms };
        int r = rf_store_insert_decisions(pg, &row, 1, errstr, errstr_size);

        return r < 0 ? r : row.inserted ? 0 : -EEXIST;
}

#define DELIVERY_PENDING INT_MIN
#define DELIVERY_NOT_QUEUED (INT_MIN + 1)

/* Each message's opaque points at its slot in rf_store_publish()'s array of
 * results; the callback runs inside rd_kafka_poll()/flush() on the caller's thread. */
void rf_store_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
        int *slot = msg->_private;

        (void)rk;
        (void)opaque;
        if (slot)
                *slot = (int)msg->err;
}

int rf_store_publish(rd_kafka_t *rk, rf_pg_t *pg, const char *topic, rf_decision_t *const *decisions, size_t count,
                     int timeout_ms, size_t *ret_delivered, char *errstr, size_t errstr_size) {
        return rf_store_publish_acked(rk, pg, topic, decisions, count, timeout_ms, NULL, ret_delivered, errstr,
                                      errstr_size);
}

/* Why a message was not delivered, from its slot in the results. */
static const char *delivery_error(int result) {
        return result == DELIVERY_PENDING      ? "timed out waiting for the broker"
               : result == DELIVERY_NOT_QUEUED ? "not queued"
                                               : rd_kafka_err2str((rd_kafka_resp_err_t)result);
}

/* Sets delivered_at of the decisions Kafka acknowledged (results[i] 0), in
 * one statement for the whole batch. */
static int record_delivered(rf_pg_t *pg, rf_decision_t *const *decisions, const int *results, size_t count,
                            char *errstr, size_t errstr_size) {
        json_t *acked = json_array();
        char *text = NULL;
        int r = -ENOMEM;

        for (size_t i = 0; acked && i < count; i++)
                if (results[i] == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    json_array_append_new(acked, json_pack("{s:s, s:i}", "decision_id", decisions[i]->decision_id,
                                                           "attempt", (int)decisions[i]->attempt)) < 0)
                        goto out;
        if (!acked || !(text = json_dumps(acked, JSON_COMPACT)))
                goto out;
        {
                const char *params[] = { text };
                /* Rows a worker's claim has locked are skipped, not waited
                 * for: the claim sets delivered_at itself (begin_executions),
                 * and waiting could deadlock, the batch locking its rows in
                 * another order than a claim or a finish does (seen). */
                r = rf_pg_exec(pg,
                               "UPDATE runfleet.decisions d SET delivered_at = now()"
                               "  FROM (SELECT o.decision_id FROM runfleet.decisions o"
                               "          JOIN jsonb_to_recordset($1::jsonb) AS x(decision_id uuid, attempt integer)"
                               "            ON o.decision_id = x.decision_id AND o.attempt = x.attempt"
                               "         WHERE o.delivered_at IS NULL"
                               "         ORDER BY o.decision_id FOR UPDATE OF o SKIP LOCKED) l"
                               " WHERE d.decision_id = l.decision_id",
                               1, params, NULL, errstr, errstr_size);
        }
out:
        if (r == -ENOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        free(text);
        json_decref(acked);
        return r;
}

int rf_store_publish_acked(rd_kafka_t *rk, rf_pg_t *pg, const char *topic, rf_decision_t *const *decisions,
                           size_t count, int timeout_ms, bool *ret_acked, size_t *ret_delivered, char *errstr,
                           size_t errstr_size) {
        int *results = calloc(count ? count : 1, sizeof(int));
        size_t delivered = 0;
        int64_t until;
        int r = 0;

        if (!results)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++)
                results[i] = DELIVERY_PENDING;
        until = rf_mono_ms() + timeout_ms;
        for (size_t i = 0; i < count; i++) {
                char why[256];
                int pr;

                /* a batch larger than librdkafka's queue (100,000 messages by
                 * default) waits for room as delivery reports drain it */
                while ((pr = rf_kafka_produce_decision(rk, topic, decisions[i], &results[i], why, sizeof(why))) ==
                               -ENOBUFS &&
                       rf_mono_ms() < until)
                        rd_kafka_poll(rk, 10);
                if (pr < 0) {
                        results[i] = DELIVERY_NOT_QUEUED;
                        if (r == 0)
                                snprintf(errstr, errstr_size, "%s", why);
                        r = -EIO;
                }
        }
        rf_fault_point("after-produce");
        while (rd_kafka_outq_len(rk) > 0 && rf_mono_ms() < until)
                rd_kafka_flush(rk, 100);
        if (rd_kafka_outq_len(rk) > 0) {
                /* the delivery reports point into @results: purge what is left
                 * and serve its reports before the array goes away */
                rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_flush(rk, 1000);
        }

        for (size_t i = 0; i < count; i++) {
                uint64_t acked_ns = rf_trace_now_ns();

                rf_decision_span_submit(pg, topic, decisions[i], acked_ns,
                                        results[i] == RD_KAFKA_RESP_ERR_NO_ERROR ? NULL : delivery_error(results[i]));
                if (ret_acked)
                        ret_acked[i] = results[i] == RD_KAFKA_RESP_ERR_NO_ERROR;
                if (results[i] == RD_KAFKA_RESP_ERR_NO_ERROR)
                        delivered++;
                else if (r == 0) {
                        snprintf(errstr, errstr_size, "kafka: decision %s not delivered: %s", decisions[i]->decision_id,
                                 delivery_error(results[i]));
                        r = -EIO;
                }
        }
        if (delivered > 0) {
                char why[256];

                /* best effort: delivered_at is for operators; the reaper keys on executions */
                if (record_delivered(pg, decisions, results, count, why, sizeof(why)) < 0 && r == 0) {
                        snprintf(errstr, errstr_size, "%s", why);
                        r = -EIO;
                }
        }
        free(results);
        if (ret_delivered)
                *ret_delivered = delivered;
        return r;
}

void rf_fault_point(const char *point) {
        const char *fault = getenv("RUNFLEET_FAULT");

        if (fault && strcmp(fault, point) == 0)
                _exit(86);
}
