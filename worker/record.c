/* The database side of an execution: claim, renew, finish. Each is one
 * round trip to a server-side function (schemas/sql/002_execution_functions.sql)
 * that makes its checks and writes in one transaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_util.h"
#include "worker.h"

int record_begin(worker_t *w, execution_t *ex, const char **ret_verdict, char *errstr, size_t errstr_size) {
        static const char *const verdicts[] = { "STARTED", "UNKNOWN", "DONE", "STALE", "TAKEN" };
        char attempt[16], lease[16], partition[16], offset[32];
        const char *params[] = { ex->d->decision_id, attempt, ex->execution_id, w->id, lease,
                                 w->conf->kafka.topic, partition, offset };
        PGresult *res;
        int r;

        snprintf(attempt, sizeof(attempt), "%d", (int)ex->d->attempt);
        snprintf(lease, sizeof(lease), "%d", w->conf->worker.lease_ms);
        snprintf(partition, sizeof(partition), "%d", (int)ex->partition);
        snprintf(offset, sizeof(offset), "%lld", (long long)ex->offset);
        r = rf_pg_exec(w->pg, "SELECT runfleet.begin_execution($1, $2, $3, $4, $5, $6, $7, $8)", 8, params, &res,
                       errstr, errstr_size);
        if (r < 0)
                return r;
        *ret_verdict = "UNKNOWN";
        for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
                if (strcmp(PQgetvalue(res, 0, 0), verdicts[i]) == 0)
                        *ret_verdict = verdicts[i];
        PQclear(res);
        if (strcmp(*ret_verdict, "STARTED") == 0)
                ex->lease_ok_until = rf_mono_ms() + w->conf->worker.lease_ms;
        return 0;
}

/* Appends @p v to a text[] literal under construction. */
static int append_elem(char **buf, size_t *len, size_t *cap, const char *v) {
        size_t need = *len + 2 * (v ? strlen(v) : 4) + 4;
        char *p;

        if (need > *cap) {
                size_t cap2 = need * 2;
                char *b = realloc(*buf, cap2);
                if (!b)
                        return -ENOMEM;
                *buf = b;
                *cap = cap2;
        }
        p = *buf + *len;
        if (*len > 1)
                *p++ = ',';
        if (!v) {
                memcpy(p, "NULL", 4);
                p += 4;
        } else {
                *p++ = '"';
                for (; *v; v++) {
                        if (*v == '"' || *v == '\\')
                                *p++ = '\\';
                        *p++ = *v;
                }
                *p++ = '"';
        }
        *p = '\0';
        *len = (size_t)(p - *buf);
        return 0;
}

enum { COL_SCRAPER, COL_TRY, COL_HTTP, COL_OUTCOME, COL_STARTED, COL_DURATION, COL_ERROR, COL_COUNT };

int record_finish(worker_t *w, execution_t *ex, const char *status, const char *error, bool *ret_recorded,
                  char *errstr, size_t errstr_size) {
        char *arrays[COL_COUNT] = { NULL };
        size_t lens[COL_COUNT], caps[COL_COUNT];
        PGresult *res = NULL;
        int r = 0;

        for (int k = 0; k < COL_COUNT; k++) {
                arrays[k] = strdup("{");
                lens[k] = 1;
                caps[k] = 2;
                if (!arrays[k])
                        r = -ENOMEM;
        }
        for (size_t i = 0; r == 0 && i < ex->record_count; i++) {
                const try_record_t *c = &ex->records[i];
                char num[4][24];
                snprintf(num[0], sizeof(num[0]), "%d", c->try_no);
                snprintf(num[1], sizeof(num[1]), "%ld", c->http_status);
                snprintf(num[2], sizeof(num[2]), "%lld", (long long)c->started_wall_ms);
                snprintf(num[3], sizeof(num[3]), "%d", c->duration_ms);
                const char *vals[COL_COUNT] = { c->scraper, num[0], c->http_status ? num[1] : NULL,
                                                c->outcome, num[2], num[3], c->error[0] ? c->error : NULL };
                for (int k = 0; r == 0 && k < COL_COUNT; k++)
                        r = append_elem(&arrays[k], &lens[k], &caps[k], vals[k]);
        }
        for (int k = 0; r == 0 && k < COL_COUNT; k++) {
                char *b = realloc(arrays[k], lens[k] + 2);
                if (!b) {
                        r = -ENOMEM;
                        break;
                }
                arrays[k] = b;
                strcpy(arrays[k] + lens[k], "}");
        }
        if (r == 0) {
                const char *params[] = { ex->execution_id, w->id, status, error, arrays[COL_SCRAPER],
                                         arrays[COL_TRY], arrays[COL_HTTP], arrays[COL_OUTCOME],
                                         arrays[COL_STARTED], arrays[COL_DURATION], arrays[COL_ERROR] };
                r = rf_pg_exec(w->pg,
                               "SELECT runfleet.finish_execution($1, $2, $3, $4, $5::text[], $6::int[],"
                               " $7::int[], $8::text[], $9::bigint[], $10::int[], $11::text[])",
                               11, params, &res, errstr, errstr_size);
        }
        if (r == 0) {
                *ret_recorded = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
                PQclear(res);
        }
        for (int k = 0; k < COL_COUNT; k++)
                free(arrays[k]);
        return r;
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
