/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "rf_decision_span.h"
#include "rf_json_text.h"
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

/* One row of the batch as the JSON object the INSERT below reads, written
 * as text: jansson's values and dump cost as much client time as the
 * server spent inserting (callgrind over a 100,000-tick backfill). */
static void row_json(rf_json_text_t *t, const rf_store_new_t *row) {
        const rf_decision_t *d = row->d;

        rf_json_text_open(t, '{');
        rf_json_text_key(t, "decision_id");
        rf_json_text_string(t, d->decision_id);
        rf_json_text_key(t, "workflow");
        rf_json_text_string(t, d->workflow);
        rf_json_text_key(t, "action");
        rf_json_text_string(t, row->action);
        rf_json_text_key(t, "reason");
        rf_json_text_string(t, d->reason ? d->reason : "");
        rf_json_text_key(t, "decided_ms");
        rf_json_text_int(t, d->decided_at_ms);
        rf_json_text_key(t, "tick_ms");
        if (row->tick_ms >= 0)
                rf_json_text_int(t, row->tick_ms);
        else
                rf_json_text_lit(t, "null");
        rf_json_text_key(t, "scrapers");
        rf_json_text_open(t, '[');
        for (size_t i = 0; i < d->scraper_count; i++) {
                if (i)
                        rf_json_text_raw(t, ",", 1);
                rf_json_text_string(t, d->scrapers[i]);
        }
        rf_json_text_raw(t, "]", 1);
        rf_json_text_key(t, "deadline_ms");
        rf_json_text_int(t, d->deadline_ms);
        rf_json_text_key(t, "attempt");
        rf_json_text_int(t, d->attempt);
        rf_json_text_key(t, "replay_of");
        rf_json_text_string(t, d->replay_of);
        rf_json_text_key(t, "trace_id");
        rf_json_text_string(t, d->trace_id);
        rf_json_text_key(t, "backfill_of");
        rf_json_text_string(t, row->backfill_of);
        rf_json_text_key(t, "backfill_id");
        rf_json_text_string(t, row->backfill_id);
        rf_json_text_raw(t, "}", 1);
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
        rf_json_text_t batch = { 0 };
        rf_store_new_t **sorted = calloc(count ? count : 1, sizeof(*sorted));
        char *text = NULL;
        PGresult *res = NULL;
        int r = -ENOMEM;

        if (!sorted)
                goto oom;
        rf_json_text_open(&batch, '[');
        for (size_t i = 0; i < count; i++) {
                rows[i].inserted = false;
                if (complete_new(&rows[i]) < 0)
                        goto oom;
                row_json(&batch, &rows[i]);
                sorted[i] = &rows[i];
        }
        rf_json_text_raw(&batch, "]", 1);
        text = rf_json_text_take(&batch);
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
        rf_json_text_free(&batch);
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
 * one statement for the whole batch. The ids go as an array parameter, not
 * in a JSON document, so the planner knows them and reads only the day
 * partitions that can hold them (a join to a set it learns only when it
 * runs probes every day's index for every row). Each one's attempt is
 * matched as the text "id/attempt" in a second array, which the server
 * hashes: a join to unnest(ids, attempts) was planned, on a fresh table
 * with no statistics, as a nested loop over both arrays (10,000 rows:
 * 10^8 comparisons, 16 s instead of 0.3 s). The rows the subquery locked
 * are found again by id alone, one probe per partition: an array there
 * made each row's probe sort the whole array again (3 s for 10,000), and
 * a range of ids let the planner scan a whole partition per row (60 s
 * for 100,000). The plans seen since are linear in the batch. */
static int record_delivered(rf_pg_t *pg, rf_decision_t *const *decisions, const int *results, size_t count,
                            char *errstr, size_t errstr_size) {
        char *ids = malloc(count * 37 + 3), *pairs = malloc(count * 49 + 3);
        size_t at_i = 0, at_p = 0, n = 0;
        int r = -ENOMEM;

        if (!ids || !pairs)
                goto out;
        ids[at_i++] = '{';
        pairs[at_p++] = '{';
        for (size_t i = 0; i < count; i++) {
                const char *id = decisions[i]->decision_id;

                if (results[i] != RD_KAFKA_RESP_ERR_NO_ERROR)
                        continue;
                if (strlen(id) != 36) {
                        r = -EINVAL;
                        snprintf(errstr, errstr_size, "decision id '%s' is not a uuid", id);
                        goto out;
                }
                if (n++) {
                        ids[at_i++] = ',';
                        pairs[at_p++] = ',';
                }
                /* lower case, as the server writes a uuid as text */
                for (size_t k = 0; k < 36; k++)
                        ids[at_i + k] = pairs[at_p + k] = (char)tolower((unsigned char)id[k]);
                at_i += 36;
                at_p += 36;
                at_p += (size_t)sprintf(pairs + at_p, "/%d", (int)decisions[i]->attempt);
        }
        memcpy(ids + at_i, "}", 2);
        memcpy(pairs + at_p, "}", 2);
        if (n == 0) {
                r = 0;
                goto out;
        }
        {
                const char *params[] = { ids, pairs };
                /* Rows a worker's claim has locked are skipped, not waited
                 * for: the claim sets delivered_at itself (begin_executions),
                 * and waiting could deadlock, the batch locking its rows in
                 * another order than a claim or a finish does (seen). */
                r = rf_pg_exec(pg,
                               "UPDATE runfleet.decisions d SET delivered_at = now()"
                               "  FROM (SELECT o.decision_id FROM runfleet.decisions o"
                               "         WHERE o.decision_id = ANY ($1::uuid[]) AND o.delivered_at IS NULL"
                               "           AND o.decision_id::text || '/' || o.attempt::text = ANY ($2::text[])"
                               "         ORDER BY o.decision_id FOR UPDATE OF o SKIP LOCKED) l"
                               " WHERE d.decision_id = l.decision_id",
                               2, params, NULL, errstr, errstr_size);
        }
out:
        if (r == -ENOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        free(ids);
        free(pairs);
        return r;
}

struct rf_store_publish {
        rd_kafka_t *rk;
        const char *topic;
        rf_decision_t *const *decisions;
        size_t count;
        int *results; /* one slot per decision: the delivery callback writes it */
        int64_t until;
        bool waited; /* no delivery report of it can come any more */
        int r;       /* the first failure so far, its reason in why */
        char why[1024];
};

int rf_store_publish_start(rd_kafka_t *rk, const char *topic, rf_decision_t *const *decisions, size_t count,
                           int timeout_ms, rf_store_publish_t **ret_pub) {
        rf_store_publish_t *pub = calloc(1, sizeof(*pub));

        if (!pub)
                return -ENOMEM;
        pub->results = calloc(count ? count : 1, sizeof(int));
        if (!pub->results) {
                free(pub);
                return -ENOMEM;
        }
        pub->rk = rk;
        pub->topic = topic;
        pub->decisions = decisions;
        pub->count = count;
        for (size_t i = 0; i < count; i++)
                pub->results[i] = DELIVERY_PENDING;
        pub->until = rf_mono_ms() + timeout_ms;
        for (size_t i = 0; i < count; i++) {
                char why[256];
                int pr;

                /* a batch larger than librdkafka's queue (100,000 messages by
                 * default) waits for room as delivery reports drain it */
                while ((pr = rf_kafka_produce_decision(rk, topic, decisions[i], &pub->results[i], why, sizeof(why))) ==
                               -ENOBUFS &&
                       rf_mono_ms() < pub->until)
                        rd_kafka_poll(rk, 10);
                if (pr < 0) {
                        pub->results[i] = DELIVERY_NOT_QUEUED;
                        if (pub->r == 0)
                                snprintf(pub->why, sizeof(pub->why), "%s", why);
                        pub->r = -EIO;
                }
        }
        rf_fault_point("after-produce");
        *ret_pub = pub;
        return 0;
}

int rf_store_publish_wait(rf_store_publish_t *pub) {
        rd_kafka_t *rk = pub->rk;

        while (rd_kafka_outq_len(rk) > 0 && rf_mono_ms() < pub->until)
                rd_kafka_flush(rk, 100);
        if (rd_kafka_outq_len(rk) > 0) {
                /* the delivery reports point into results: purge what is left
                 * and serve its reports before the array goes away */
                rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_flush(rk, 1000);
        }
        pub->waited = true;
        for (size_t i = 0; i < pub->count; i++)
                if (pub->results[i] != RD_KAFKA_RESP_ERR_NO_ERROR)
                        return -EIO;
        return 0;
}

int rf_store_publish_finish(rf_store_publish_t *pub, rf_pg_t *pg, bool *ret_acked, size_t *ret_delivered, char *errstr,
                            size_t errstr_size) {
        rf_decision_t *const *decisions = pub->decisions;
        size_t delivered = 0;
        int r = pub->r;

        if (!pub->waited)
                rf_store_publish_wait(pub);

        if (r < 0)
                snprintf(errstr, errstr_size, "%s", pub->why);
        for (size_t i = 0; i < pub->count; i++) {
                uint64_t acked_ns = rf_trace_now_ns();
                int result = pub->results[i];

                rf_decision_span_submit(pg, pub->topic, decisions[i], acked_ns,
                                        result == RD_KAFKA_RESP_ERR_NO_ERROR ? NULL : delivery_error(result));
                if (ret_acked)
                        ret_acked[i] = result == RD_KAFKA_RESP_ERR_NO_ERROR;
                if (result == RD_KAFKA_RESP_ERR_NO_ERROR)
                        delivered++;
                else if (r == 0) {
                        snprintf(errstr, errstr_size, "kafka: decision %s not delivered: %s", decisions[i]->decision_id,
                                 delivery_error(result));
                        r = -EIO;
                }
        }
        if (delivered > 0) {
                char why[256];

                /* best effort: delivered_at is for operators; the reaper keys on executions */
                if (record_delivered(pg, decisions, pub->results, pub->count, why, sizeof(why)) < 0 && r == 0) {
                        snprintf(errstr, errstr_size, "%s", why);
                        r = -EIO;
                }
        }
        if (ret_delivered)
                *ret_delivered = delivered;
        rf_store_publish_free(pub);
        return r;
}

void rf_store_publish_free(rf_store_publish_t *pub) {
        if (!pub)
                return;
        if (!pub->waited)
                rf_store_publish_wait(pub); /* no delivery report may outlive results */
        free(pub->results);
        free(pub);
}

int rf_store_publish_acked(rd_kafka_t *rk, rf_pg_t *pg, const char *topic, rf_decision_t *const *decisions,
                           size_t count, int timeout_ms, bool *ret_acked, size_t *ret_delivered, char *errstr,
                           size_t errstr_size) {
        rf_store_publish_t *pub;
        int r;

        r = rf_store_publish_start(rk, topic, decisions, count, timeout_ms, &pub);
        if (r < 0)
                return r;
        rf_store_publish_wait(pub);
        return rf_store_publish_finish(pub, pg, ret_acked, ret_delivered, errstr, errstr_size);
}

void rf_fault_point(const char *point) {
        const char *fault = getenv("RUNFLEET_FAULT");

        if (fault && strcmp(fault, point) == 0)
                _exit(86);
}
