/* SPDX-License-Identifier: Apache-2.0 */
/* catchup_record: the SKIP and MISSED rows of a catch-up plan, written in
 * batches of set-based INSERTs (a long gap is thousands of rows; one round
 * trip each would hold the evaluation up for seconds). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catchup_record.h"
#include "rf_uuid.h"

#define ROWS_PER_INSERT 5000

/* Rows [from, to) of @p plan that are not CATCHUP_DECIDE, as three array
 * literals: ticks (epoch ms), kinds (1 SKIP, 2 MISSED, 3 the summary) and
 * ids (each tick's own decision id, rf_uuid_tick). */
static int batch_literals(const char *workflow, const catchup_plan_t *plan, size_t from, size_t to, char **ret_ticks,
                          char **ret_kinds, char **ret_ids, size_t *ret_rows) {
        size_t cap = (to - from) * 24 + 4, at_t = 0, at_k = 0, at_i = 0, rows = 0;
        char *ticks = malloc(cap), *kinds = malloc((to - from) * 3 + 4), *ids = malloc((to - from) * 38 + 4);

        if (!ticks || !kinds || !ids) {
                free(ticks);
                free(kinds);
                free(ids);
                return -ENOMEM;
        }
        ticks[at_t++] = '{';
        kinds[at_k++] = '{';
        ids[at_i++] = '{';
        for (size_t i = from; i < to; i++) {
                const catchup_tick_t *t = &plan->ticks[i];
                int kind = t->summary ? 3 : t->action == CATCHUP_MISSED ? 2 : 1;

                if (t->action == CATCHUP_DECIDE)
                        continue;
                at_t += (size_t)snprintf(ticks + at_t, cap - at_t, "%s%lld", rows ? "," : "", (long long)t->tick_ms);
                at_k += (size_t)sprintf(kinds + at_k, "%s%d", rows ? "," : "", kind);
                if (rows)
                        ids[at_i++] = ',';
                rf_uuid_tick(workflow, t->tick_ms, ids + at_i);
                at_i += 36;
                rows++;
        }
        strcpy(ticks + at_t, "}");
        strcpy(kinds + at_k, "}");
        strcpy(ids + at_i, "}");
        *ret_ticks = ticks;
        *ret_kinds = kinds;
        *ret_ids = ids;
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
                char *ticks = NULL, *kinds = NULL, *ids = NULL;
                PGresult *res = NULL;

                r = batch_literals(w->name, plan, from, to, &ticks, &kinds, &ids, &rows);
                if (r < 0)
                        break;
                if (rows > 0) {
                        const char *params[] = { w->name, ticks, kinds, reason_list, scrapers, deadline, ids };

                        /* ON CONFLICT: a tick another evaluator (or a backfill) decided meanwhile keeps its
                         * row; each row has its tick's id, so the primary key finds it (rf_uuid_tick) */
                        r = rf_pg_exec(pg,
                                       "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, tick,"
                                       " scrapers, deadline_ms, state, trace_id)"
                                       " SELECT x.id, $1, CASE WHEN x.k = 1 THEN 'SKIP' ELSE 'MISSED' END,"
                                       "        ($4::text[])[x.k], to_timestamp(x.t / 1000.0), $5::text[], $6::bigint,"
                                       "        'SKIPPED', gen_random_uuid()::text"
                                       "   FROM unnest($2::bigint[], $3::int[], $7::uuid[]) AS x(t, k, id)"
                                       " ON CONFLICT (decision_id) DO NOTHING RETURNING action",
                                       7, params, &res, errstr, errstr_size);
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
                free(ids);
        }
out:
        if (r == -ENOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        free(reason_list);
        free(scrapers);
        return r;
}
