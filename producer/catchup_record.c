/* SPDX-License-Identifier: Apache-2.0 */
/* catchup_record: the SKIP and MISSED rows of a catch-up plan, written in
 * batches of set-based INSERTs (a long gap is thousands of rows; one round
 * trip each would hold the evaluation up for seconds). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catchup_record.h"

#define ROWS_PER_INSERT 5000

/* Rows [from, to) of @p plan that are not CATCHUP_DECIDE, as two array
 * literals: ticks (epoch ms) and kinds (1 SKIP, 2 MISSED, 3 the summary). */
static int batch_literals(const catchup_plan_t *plan, size_t from, size_t to, char **ret_ticks, char **ret_kinds,
                          size_t *ret_rows) {
        size_t cap = (to - from) * 24 + 4, at_t = 0, at_k = 0, rows = 0;
        char *ticks = malloc(cap), *kinds = malloc((to - from) * 3 + 4);

        if (!ticks || !kinds) {
                free(ticks);
                free(kinds);
                return -ENOMEM;
        }
        ticks[at_t++] = '{';
        kinds[at_k++] = '{';
        for (size_t i = from; i < to; i++) {
                const catchup_tick_t *t = &plan->ticks[i];
                int kind = t->summary ? 3 : t->action == CATCHUP_MISSED ? 2 : 1;

                if (t->action == CATCHUP_DECIDE)
                        continue;
                at_t += (size_t)snprintf(ticks + at_t, cap - at_t, "%s%lld", rows ? "," : "", (long long)t->tick_ms);
                at_k += (size_t)sprintf(kinds + at_k, "%s%d", rows ? "," : "", kind);
                rows++;
        }
        strcpy(ticks + at_t, "}");
        strcpy(kinds + at_k, "}");
        *ret_ticks = ticks;
        *ret_kinds = kinds;
        *ret_rows = rows;
        return 0;
}

int catchup_record(rf_pg_t *pg, const rf_workflow_conf_t *w, const catchup_plan_t *plan, size_t *ret_skipped,
                   size_t *ret_missed, char *errstr, size_t errstr_size) {
        char *reasons[] = { (char *)plan->skip_reason, (char *)plan->missed_reason, (char *)plan->bound_reason };
        char *reason_list = rf_pg_array_literal(reasons, 3),
             *scrapers = rf_pg_array_literal(w->scrapers, w->scraper_count);
        char deadline[32];
        int r = 0;

        *ret_skipped = *ret_missed = 0;
        if (!reason_list || !scrapers) {
                r = -ENOMEM;
                goto out;
        }
        snprintf(deadline, sizeof(deadline), "%d", w->deadline_ms);
        for (size_t from = 0; from < plan->count && r == 0; from += ROWS_PER_INSERT) {
                size_t to = from + ROWS_PER_INSERT < plan->count ? from + ROWS_PER_INSERT : plan->count, rows;
                char *ticks = NULL, *kinds = NULL;
                PGresult *res = NULL;

                r = batch_literals(plan, from, to, &ticks, &kinds, &rows);
                if (r < 0)
                        break;
                if (rows > 0) {
                        const char *params[] = { w->name, ticks, kinds, reason_list, scrapers, deadline };

                        /* ON CONFLICT: a tick another evaluator (or a backfill) decided meanwhile keeps its row */
                        r = rf_pg_exec(pg,
                                       "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, tick,"
                                       " scrapers, deadline_ms, state, trace_id)"
                                       " SELECT gen_random_uuid(), $1, CASE WHEN x.k = 1 THEN 'SKIP' ELSE 'MISSED' END,"
                                       "        ($4::text[])[x.k], to_timestamp(x.t / 1000.0), $5::text[], $6::bigint,"
                                       "        'SKIPPED', gen_random_uuid()::text"
                                       "   FROM unnest($2::bigint[], $3::int[]) AS x(t, k)"
                                       " ON CONFLICT (workflow, tick) WHERE tick IS NOT NULL AND backfill_of IS NULL"
                                       " DO NOTHING RETURNING action",
                                       6, params, &res, errstr, errstr_size);
                        for (int i = 0; r == 0 && i < PQntuples(res); i++) {
                                if (strcmp(PQgetvalue(res, i, 0), "SKIP") == 0)
                                        (*ret_skipped)++;
                                else
                                        (*ret_missed)++;
                        }
                        PQclear(res);
                }
                free(ticks);
                free(kinds);
        }
out:
        if (r == -ENOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        free(reason_list);
        free(scrapers);
        return r;
}
