/* SPDX-License-Identifier: Apache-2.0 */
/* The database side of executions: claim, renew, finish. Claims and
 * finishes are batched — everything one loop turn has to say goes in one
 * round trip to a server-side function (schemas/sql/007_*.sql) that makes
 * the batch's checks and writes in one transaction. The batches are JSON
 * written as text (rf_json_text), not built as jansson values.
 *
 * Each batch is sent here and its answer read here; db.c decides what is
 * sent when, on the worker's asynchronous connection. Between the two an
 * execution of the batch may have been released (its slot is then NULL). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_json_text.h"
#include "rf_util.h"
#include "record.h"

/* Sends a batch function with (..., batch JSON text). Takes @p batch over. */
static int send_batch(db_conn_t *c, const char *sql, const char *const *params, int nparams, rf_json_text_t *batch,
                      rf_pg_async_done_fn *done) {
        const char *all[4];
        char *text = rf_json_text_take(batch);
        int r;

        if (!text)
                return -ENOMEM;
        for (int i = 0; i < nparams; i++)
                all[i] = params[i];
        all[nparams] = text;
        /* libpq copies the parameters into its buffer: text may go now */
        r = rf_pg_async_send(c->pg, sql, nparams + 1, all, done, c);
        free(text);
        return r;
}

/* The batch index of a result row, or -1 when it names none. */
static long row_index(const PGresult *res, int row, size_t n) {
        long i = strtol(PQgetvalue(res, row, 0), NULL, 10);

        return i >= 0 && (size_t)i < n ? i : -1;
}

int record_begin_send(db_conn_t *c, rf_pg_async_done_fn *done) {
        const worker_t *w = c->w;
        const db_batch_t *b = &c->batch;
        char lease[16];
        const char *params[] = { w->id, lease, w->conf->kafka.topic };
        rf_json_text_t batch = { 0 };

        snprintf(lease, sizeof(lease), "%d", w->conf->worker.lease_ms);
        rf_json_text_open(&batch, '[');
        for (size_t i = 0; i < b->n; i++) {
                const execution_t *ex = b->exs[i];
                rf_json_text_open(&batch, '{');
                rf_json_text_key(&batch, "i");
                rf_json_text_int(&batch, (long long)i);
                rf_json_text_key(&batch, "decision_id");
                rf_json_text_string(&batch, ex->d->decision_id);
                rf_json_text_key(&batch, "attempt");
                rf_json_text_int(&batch, ex->d->attempt);
                rf_json_text_key(&batch, "execution_id");
                rf_json_text_string(&batch, ex->execution_id);
                rf_json_text_key(&batch, "partition");
                rf_json_text_int(&batch, ex->partition);
                rf_json_text_key(&batch, "offset");
                rf_json_text_int(&batch, ex->offset);
                rf_json_text_lit(&batch, "}");
        }
        rf_json_text_lit(&batch, "]");
        return send_batch(c, "SELECT idx, verdict FROM runfleet.begin_executions($1, $2, $3, $4::jsonb)", params, 3,
                          &batch, done);
}

void record_begin_read(worker_t *w, const db_batch_t *b, const PGresult *res, rf_claim_verdict_t *ret_verdicts) {
        for (size_t i = 0; i < b->n; i++)
                ret_verdicts[i] = RF_VERDICT_UNKNOWN;
        for (int row = 0; row < PQntuples(res); row++) {
                long i = row_index(res, row, b->n);
                if (i < 0)
                        continue;
                /* an unknown name leaves UNKNOWN: dead-lettered, as before */
                (void)rf_claim_verdict_from_name(PQgetvalue(res, row, 1), &ret_verdicts[i]);
                /* the lease runs from the claim's sending: the database's clock started no earlier */
                if (b->exs[i] && ret_verdicts[i] == RF_VERDICT_STARTED)
                        b->exs[i]->lease_ok_until = b->sent_ms + w->conf->worker.lease_ms;
        }
}

static void append_calls(rf_json_text_t *t, const execution_t *ex) {
        rf_json_text_open(t, '[');
        for (size_t i = 0; i < ex->record_count; i++) {
                const try_record_t *c = &ex->records[i];
                rf_json_text_open(t, '{');
                rf_json_text_key(t, "scraper");
                rf_json_text_string(t, c->scraper);
                rf_json_text_key(t, "try");
                rf_json_text_int(t, c->try_no);
                rf_json_text_key(t, "http_status");
                if (c->http_status)
                        rf_json_text_int(t, c->http_status);
                else
                        rf_json_text_lit(t, "null");
                rf_json_text_key(t, "outcome");
                rf_json_text_string(t, rf_call_outcome_name(c->outcome));
                rf_json_text_key(t, "started_ms");
                rf_json_text_int(t, c->started_wall_ms);
                rf_json_text_key(t, "duration_ms");
                rf_json_text_int(t, c->duration_ms);
                rf_json_text_key(t, "error");
                rf_json_text_string(t, c->error[0] ? c->error : NULL);
                rf_json_text_lit(t, "}");
        }
        rf_json_text_lit(t, "]");
}

int record_finish_send(db_conn_t *c, rf_pg_async_done_fn *done) {
        const worker_t *w = c->w;
        const db_batch_t *b = &c->batch;
        const char *params[] = { w->id };
        rf_json_text_t batch = { 0 };

        rf_json_text_open(&batch, '[');
        for (size_t i = 0; i < b->n; i++) {
                rf_json_text_open(&batch, '{');
                rf_json_text_key(&batch, "i");
                rf_json_text_int(&batch, (long long)i);
                rf_json_text_key(&batch, "execution_id");
                rf_json_text_string(&batch, b->exs[i]->execution_id);
                /* names the day partition of the execution (018_partitioned_history.sql) */
                rf_json_text_key(&batch, "decision_id");
                rf_json_text_string(&batch, b->exs[i]->d->decision_id);
                rf_json_text_key(&batch, "status");
                rf_json_text_string(&batch, rf_exec_status_name(b->statuses[i]));
                rf_json_text_key(&batch, "error");
                rf_json_text_string(&batch, b->errors[i]);
                rf_json_text_key(&batch, "calls");
                append_calls(&batch, b->exs[i]);
                rf_json_text_lit(&batch, "}");
        }
        rf_json_text_lit(&batch, "]");
        return send_batch(c, "SELECT idx, recorded FROM runfleet.finish_executions($1, $2::jsonb)", params, 1, &batch,
                          done);
}

void record_finish_read(const db_batch_t *b, const PGresult *res, bool *ret_recorded) {
        for (size_t i = 0; i < b->n; i++)
                ret_recorded[i] = false;
        for (int row = 0; row < PQntuples(res); row++) {
                long i = row_index(res, row, b->n);
                if (i >= 0)
                        ret_recorded[i] = strcmp(PQgetvalue(res, row, 1), "t") == 0;
        }
}

int record_renew_send(db_conn_t *c, rf_pg_async_done_fn *done) {
        worker_t *w = c->w;
        db_batch_t *b = &c->batch;
        char **ids = malloc((w->in_flight + 1) * sizeof(char *));
        char **decisions = malloc((w->in_flight + 1) * sizeof(char *));
        char lease[16], *list = NULL, *decision_list = NULL;
        size_t n = 0;
        int r;

        if (!ids || !decisions) {
                free(ids);
                free(decisions);
                return -ENOMEM;
        }
        b->renew_gen = ++w->renew_gen;
        for (execution_t *ex = w->head; ex && n < w->in_flight; ex = ex->next)
                if (ex->phase == PHASE_RUNNING || ex->phase == PHASE_FINISHING) {
                        decisions[n] = ex->d->decision_id;
                        ids[n++] = ex->execution_id;
                        ex->renew_gen = b->renew_gen;
                }
        if (n == 0) {
                free(ids);
                free(decisions);
                return -ENODATA;
        }
        snprintf(lease, sizeof(lease), "%d", w->conf->worker.lease_ms);
        list = rf_pg_array_literal(ids, n);
        /* the executions' decisions name their day partitions (018_partitioned_history.sql) */
        decision_list = rf_pg_array_literal(decisions, n);
        free(ids);
        free(decisions);
        if (!list || !decision_list) {
                free(list);
                free(decision_list);
                return -ENOMEM;
        }
        {
                const char *params[] = { list, w->id, lease, decision_list };
                r = rf_pg_async_send(c->pg, "SELECT * FROM runfleet.renew_leases($1::uuid[], $2, $3, $4::uuid[])", 4,
                                     params, done, c);
        }
        free(list);
        free(decision_list);
        return r;
}

void record_renew_read(worker_t *w, const db_batch_t *b, const PGresult *res) {
        int64_t renewed_until = b->sent_ms + w->conf->worker.lease_ms;

        /* every id sent comes back renewed except those returned, which the reaper took */
        for (execution_t *ex = w->head; ex; ex = ex->next) {
                bool lost = false;
                if (ex->renew_gen != b->renew_gen || (ex->phase != PHASE_RUNNING && ex->phase != PHASE_FINISHING))
                        continue;
                for (int row = 0; row < PQntuples(res) && !lost; row++)
                        lost = strcmp(PQgetvalue(res, row, 0), ex->execution_id) == 0;
                ex->lease_ok_until = lost ? 0 : renewed_until;
        }
}
