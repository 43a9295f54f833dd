/* The database side of executions: claim, renew, finish. Claims and
 * finishes are batched — everything one loop turn has to say goes in one
 * round trip to a server-side function (schemas/sql/007_*.sql) that makes
 * the batch's checks and writes in one transaction. The batches are JSON
 * written as text (rf_json_text), not built as jansson values. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_json_text.h"
#include "rf_util.h"
#include "worker.h"

/* Runs a batch function with (..., batch JSON text) and hands back its
 * (idx, value) rows. Takes @p batch over. */
static int run_batch(worker_t *w, const char *sql, const char *const *params, int nparams, rf_json_text_t *batch,
                     PGresult **ret_res, char *errstr, size_t errstr_size) {
        const char *all[4];
        char *text = rf_json_text_take(batch);
        int r;

        if (!text) {
                snprintf(errstr, errstr_size, "out of memory encoding a batch");
                return -ENOMEM;
        }
        for (int i = 0; i < nparams; i++)
                all[i] = params[i];
        all[nparams] = text;
        r = rf_pg_exec(w->pg, sql, nparams + 1, all, ret_res, errstr, errstr_size);
        free(text);
        return r;
}

int record_begin_batch(worker_t *w, execution_t **exs, size_t n, const char **ret_verdicts, char *errstr,
                       size_t errstr_size) {
        static const char *const verdicts[] = { "STARTED", "UNKNOWN", "DONE", "STALE", "TAKEN" };
        char lease[16];
        const char *params[] = { w->id, lease, w->conf->kafka.topic };
        rf_json_text_t batch = { 0 };
        PGresult *res = NULL;
        int r;

        snprintf(lease, sizeof(lease), "%d", w->conf->worker.lease_ms);
        rf_json_text_open(&batch, '[');
        for (size_t i = 0; i < n; i++) {
                const execution_t *ex = exs[i];
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
                ret_verdicts[i] = "UNKNOWN";
        }
        rf_json_text_lit(&batch, "]");
        r = run_batch(w, "SELECT idx, verdict FROM runfleet.begin_executions($1, $2, $3, $4::jsonb)", params, 3,
                      &batch, &res, errstr, errstr_size);
        if (r < 0)
                return r;
        for (int row = 0; row < PQntuples(res); row++) {
                long i = strtol(PQgetvalue(res, row, 0), NULL, 10);
                if (i < 0 || (size_t)i >= n)
                        continue;
                for (size_t k = 0; k < sizeof(verdicts) / sizeof(verdicts[0]); k++)
                        if (strcmp(PQgetvalue(res, row, 1), verdicts[k]) == 0)
                                ret_verdicts[i] = verdicts[k];
                if (strcmp(ret_verdicts[i], "STARTED") == 0)
                        exs[i]->lease_ok_until = rf_mono_ms() + w->conf->worker.lease_ms;
        }
        PQclear(res);
        return 0;
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
                rf_json_text_string(t, c->outcome);
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

int record_finish_batch(worker_t *w, execution_t **exs, size_t n, const char *const *statuses,
                        const char *const *errors, bool *ret_recorded, char *errstr, size_t errstr_size) {
        const char *params[] = { w->id };
        rf_json_text_t batch = { 0 };
        PGresult *res = NULL;
        int r;

        rf_json_text_open(&batch, '[');
        for (size_t i = 0; i < n; i++) {
                rf_json_text_open(&batch, '{');
                rf_json_text_key(&batch, "i");
                rf_json_text_int(&batch, (long long)i);
                rf_json_text_key(&batch, "execution_id");
                rf_json_text_string(&batch, exs[i]->execution_id);
                rf_json_text_key(&batch, "status");
                rf_json_text_string(&batch, statuses[i]);
                rf_json_text_key(&batch, "error");
                rf_json_text_string(&batch, errors[i]);
                rf_json_text_key(&batch, "calls");
                append_calls(&batch, exs[i]);
                rf_json_text_lit(&batch, "}");
                ret_recorded[i] = false;
        }
        rf_json_text_lit(&batch, "]");
        r = run_batch(w, "SELECT idx, recorded FROM runfleet.finish_executions($1, $2::jsonb)", params, 1, &batch,
                      &res, errstr, errstr_size);
        if (r < 0)
                return r;
        for (int row = 0; row < PQntuples(res); row++) {
                long i = strtol(PQgetvalue(res, row, 0), NULL, 10);
                if (i >= 0 && (size_t)i < n)
                        ret_recorded[i] = strcmp(PQgetvalue(res, row, 1), "t") == 0;
        }
        PQclear(res);
        return 0;
}

int record_renew(worker_t *w, char *errstr, size_t errstr_size) {
        char **ids = malloc((w->in_flight + 1) * sizeof(char *));
        char lease[16], *list = NULL;
        size_t n = 0;
        int64_t renewed_until = rf_mono_ms() + w->conf->worker.lease_ms;
        PGresult *res = NULL;
        int r;

        if (!ids)
                return -ENOMEM;
        for (execution_t *ex = w->head; ex && n < w->in_flight; ex = ex->next)
                if (ex->phase == PHASE_RUNNING || ex->phase == PHASE_FINISHING)
                        ids[n++] = ex->execution_id;
        if (n == 0) {
                free(ids);
                return 0;
        }
        snprintf(lease, sizeof(lease), "%d", w->conf->worker.lease_ms);
        list = rf_pg_array_literal(ids, n);
        free(ids);
        if (!list)
                return -ENOMEM;
        {
                const char *params[] = { list, w->id, lease };
                r = rf_pg_exec(w->pg, "SELECT * FROM runfleet.renew_leases($1::uuid[], $2, $3)", 3, params, &res,
                               errstr, errstr_size);
        }
        free(list);
        if (r < 0)
                return r;
        /* every id comes back renewed except those returned, which the reaper took */
        for (execution_t *ex = w->head; ex; ex = ex->next) {
                bool lost = false;
                if (ex->phase != PHASE_RUNNING && ex->phase != PHASE_FINISHING)
                        continue;
                for (int row = 0; row < PQntuples(res) && !lost; row++)
                        lost = strcmp(PQgetvalue(res, row, 0), ex->execution_id) == 0;
                ex->lease_ok_until = lost ? 0 : renewed_until;
        }
        PQclear(res);
        return 0;
}
