/* The database side of executions: claim, renew, finish. Claims and
 * finishes are batched — everything one loop turn has to say goes in one
 * round trip to a server-side function (schemas/sql/006_*.sql) that makes
 * each item's checks and writes in one transaction. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_util.h"
#include "worker.h"

/* Runs a batch function with (worker, ..., jsonb) and hands each returned
 * (idx, value) row to the caller. Takes @p batch over. */
static int run_batch(worker_t *w, const char *sql, const char *const *params, int nparams, json_t *batch,
                     PGresult **ret_res, char *errstr, size_t errstr_size) {
        const char *all[4];
        char *text = json_dumps(batch, JSON_COMPACT);
        int r;

        json_decref(batch);
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
        json_t *batch = json_array();
        PGresult *res = NULL;
        int r;

        snprintf(lease, sizeof(lease), "%d", w->conf->worker.lease_ms);
        for (size_t i = 0; i < n; i++) {
                execution_t *ex = exs[i];
                json_array_append_new(batch, json_pack("{s:i, s:s, s:i, s:s, s:i, s:I}", "i", (int)i, "decision_id",
                                                       ex->d->decision_id, "attempt", (int)ex->d->attempt,
                                                       "execution_id", ex->execution_id, "partition",
                                                       (int)ex->partition, "offset", (json_int_t)ex->offset));
                ret_verdicts[i] = "UNKNOWN";
        }
        r = run_batch(w, "SELECT idx, verdict FROM runfleet.begin_executions($1, $2, $3, $4::jsonb)", params, 3,
                      batch, &res, errstr, errstr_size);
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

static json_t *calls_json(const execution_t *ex) {
        json_t *calls = json_array();

        for (size_t i = 0; i < ex->record_count; i++) {
                const try_record_t *c = &ex->records[i];
                json_array_append_new(calls, json_pack("{s:s, s:i, s:o, s:s, s:I, s:i, s:o}", "scraper", c->scraper,
                                                       "try", c->try_no, "http_status",
                                                       c->http_status ? json_integer(c->http_status) : json_null(),
                                                       "outcome", c->outcome, "started_ms",
                                                       (json_int_t)c->started_wall_ms, "duration_ms", c->duration_ms,
                                                       "error", c->error[0] ? json_string(c->error) : json_null()));
        }
        return calls;
}

int record_finish_batch(worker_t *w, execution_t **exs, size_t n, const char *const *statuses,
                        const char *const *errors, bool *ret_recorded, char *errstr, size_t errstr_size) {
        const char *params[] = { w->id };
        json_t *batch = json_array();
        PGresult *res = NULL;
        int r;

        for (size_t i = 0; i < n; i++) {
                json_array_append_new(batch, json_pack("{s:i, s:s, s:s, s:o, s:o}", "i", (int)i, "execution_id",
                                                       exs[i]->execution_id, "status", statuses[i], "error",
                                                       errors[i] ? json_string(errors[i]) : json_null(), "calls",
                                                       calls_json(exs[i])));
                ret_recorded[i] = false;
        }
        r = run_batch(w, "SELECT idx, recorded FROM runfleet.finish_executions($1, $2::jsonb)", params, 1, batch,
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
