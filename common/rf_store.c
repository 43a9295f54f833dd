/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* The one INSERT of a decision, with the columns only some callers set. */
static int insert_decision(rf_pg_t *pg, rf_decision_t *d, const char *action, int64_t tick_ms, const char *backfill_of,
                           const char *backfill_id, char *errstr, size_t errstr_size) {
        char decided[32], tick[32], deadline[32], attempt[16], id[37];
        char *scrapers = NULL;
        PGresult *res = NULL;
        int r;

        if (!d->decision_id) {
                rf_uuid_new(id);
                d->decision_id = strdup(id);
        }
        if (!d->trace_id) {
                rf_uuid_new(id);
                d->trace_id = strdup(id);
        }
        if (d->decided_at_ms <= 0)
                d->decided_at_ms = rf_now_ms();
        if (d->attempt < 1)
                d->attempt = 1;
        if (!d->decision_id || !d->trace_id)
                return -ENOMEM;
        scrapers = rf_pg_array_literal(d->scrapers, d->scraper_count);
        if (!scrapers)
                return -ENOMEM;
        snprintf(decided, sizeof(decided), "%lld", (long long)d->decided_at_ms);
        snprintf(tick, sizeof(tick), "%lld", (long long)tick_ms);
        snprintf(deadline, sizeof(deadline), "%lld", (long long)d->deadline_ms);
        snprintf(attempt, sizeof(attempt), "%d", (int)d->attempt);
        {
                const char *params[] = { d->decision_id, d->workflow,
                                         action,         d->reason ? d->reason : "",
                                         decided,        tick_ms >= 0 ? tick : NULL,
                                         scrapers,       deadline,
                                         attempt,        d->replay_of,
                                         d->trace_id,    backfill_of,
                                         backfill_id };
                r = rf_pg_exec(pg,
                               "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, "
                               " decided_at, tick, scrapers, deadline_ms, attempt, replay_of, trace_id, state,"
                               " backfill_of, backfill_id)"
                               " VALUES ($1, $2, $3, $4, to_timestamp($5::bigint / 1000.0),"
                               " to_timestamp($6::bigint / 1000.0), $7::text[], $8, $9, $10, $11,"
                               " CASE WHEN $3 = 'RUN' THEN 'PENDING' ELSE 'SKIPPED' END, $12, $13)"
                               " ON CONFLICT (workflow, tick) WHERE tick IS NOT NULL AND backfill_of IS NULL DO NOTHING"
                               " RETURNING decision_id",
                               13, params, &res, errstr, errstr_size);
        }
        free(scrapers);
        if (r < 0)
                return r;
        r = PQntuples(res) == 1 ? 0 : -EEXIST;
        PQclear(res);
        return r;
}

int rf_store_insert_decision(rf_pg_t *pg, rf_decision_t *d, const char *action, int64_t tick_ms, char *errstr,
                             size_t errstr_size) {
        return insert_decision(pg, d, action, tick_ms, NULL, NULL, errstr, errstr_size);
}

int rf_store_insert_backfill_decision(rf_pg_t *pg, rf_decision_t *d, int64_t tick_ms, const char *backfill_of,
                                      const char *backfill_id, char *errstr, size_t errstr_size) {
        return insert_decision(pg, d, "RUN", tick_ms, backfill_of, backfill_id, errstr, errstr_size);
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
        for (size_t i = 0; i < count; i++) {
                char why[256];
                if (rf_kafka_produce_decision(rk, topic, decisions[i], &results[i], why, sizeof(why)) < 0) {
                        results[i] = DELIVERY_NOT_QUEUED;
                        if (r == 0)
                                snprintf(errstr, errstr_size, "%s", why);
                        r = -EIO;
                }
        }
        rf_fault_point("after-produce");
        until = rf_mono_ms() + timeout_ms;
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
                                        results[i] == RD_KAFKA_RESP_ERR_NO_ERROR ? NULL
                                        : results[i] == DELIVERY_PENDING         ? "timed out waiting for the broker"
                                        : results[i] == DELIVERY_NOT_QUEUED
                                                ? "not queued"
                                                : rd_kafka_err2str((rd_kafka_resp_err_t)results[i]));
                if (ret_acked)
                        ret_acked[i] = results[i] == RD_KAFKA_RESP_ERR_NO_ERROR;
                if (results[i] == RD_KAFKA_RESP_ERR_NO_ERROR) {
                        char attempt[16], why[256];
                        const char *params[] = { decisions[i]->decision_id, attempt };
                        snprintf(attempt, sizeof(attempt), "%d", (int)decisions[i]->attempt);
                        /* best effort: delivered_at is for operators; the reaper keys on executions */
                        if (rf_pg_exec(pg,
                                       "UPDATE runfleet.decisions SET delivered_at = now()"
                                       " WHERE decision_id = $1 AND attempt = $2 AND delivered_at IS NULL",
                                       2, params, NULL, why, sizeof(why)) < 0 &&
                            r == 0) {
                                snprintf(errstr, errstr_size, "%s", why);
                                r = -EIO;
                        }
                        delivered++;
                } else if (r == 0) {
                        snprintf(errstr, errstr_size, "kafka: decision %s not delivered: %s", decisions[i]->decision_id,
                                 results[i] == DELIVERY_PENDING ? "timed out waiting for the broker"
                                 : results[i] == DELIVERY_NOT_QUEUED
                                         ? "not queued"
                                         : rd_kafka_err2str((rd_kafka_resp_err_t)results[i]));
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
