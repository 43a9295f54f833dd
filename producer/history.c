/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a range's history from PostgreSQL; see history.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"

#define MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

/* The decisions of the range, in the order they are told. */
#define IN_RANGE(d)                                                                                                    \
        " " d ".decided_at >= to_timestamp($1::bigint / 1000.0)"                                                       \
        " AND " d ".decided_at < to_timestamp($2::bigint / 1000.0)"                                                    \
        " AND ($3::text[] IS NULL OR " d ".workflow = ANY ($3::text[]))"

static const char *const sql_decisions = "SELECT d.decision_id::text, d.workflow, d.action, d.state, d.reason, " MS(
        "d.decided_at") ","
                        "       " MS("d.tick") ", " MS(
                                "d.state_at") ", d.attempt, d.replay_of::text, d.backfill_of::text,"
                                              "       d.backfill_id::text, d.cancelled_by, d.cancel_reason, o.why"
                                              "  FROM runfleet.decisions d"
                                              "  LEFT JOIN runfleet.orphans o ON o.decision_id = d.decision_id"
                                              " WHERE" IN_RANGE(
                                                      "d") " ORDER BY d.workflow, coalesce(d.tick, d.decided_at), d.decided_at, d.decision_id";

/* A range's executions and calls are found from its decisions: the ids
 * the previous query returned, sent back as one array parameter, which
 * the planner knows when it plans, so it keeps only the day partitions
 * that can hold them and looks each id up in their indexes. As plain joins
 * the planner preferred a hash join over a sequential scan of all
 * executions once a range held a few thousand decisions (seen with 200,000
 * rows); as a subquery per decision, each lookup chose among every day's
 * partition again (80 us a decision with 40 days); as an array made by a
 * subquery of the same statement, unknown when planned, nothing was pruned
 * and the big days were read whole (11 s with 10 million rows: bench (f)). */
static const char *const sql_executions =
        "SELECT e.decision_id::text, e.execution_id::text, e.attempt, e.worker_id, e.status,"
        "       " MS("e.started_at") ", coalesce(" MS("e.finished_at") ", 0), " MS(
                "e.heartbeat_at") ","
                                  "       coalesce(e.error, '')"
                                  "  FROM runfleet.executions e WHERE e.decision_id = ANY ($1::uuid[])"
                                  " ORDER BY e.decision_id, e.attempt";

static const char *const sql_calls =
        "SELECT c.execution_id::text, c.scraper, c.try, coalesce(c.http_status, 0), c.outcome,"
        "       " MS("c.started_at") ", c.duration_ms, coalesce(c.error, '')"
                                     "  FROM runfleet.scraper_calls c WHERE c.execution_id = ANY ($1::uuid[])"
                                     " ORDER BY c.execution_id, c.started_at, c.scraper, c.try";

#define FROM_TS "to_timestamp($1::bigint / 1000.0)"
#define TO_TS "to_timestamp($2::bigint / 1000.0)"
#define LOCAL(col, fmt) "to_char(" col " AT TIME ZONE $4, '" fmt "')"

/* Operator events, as one list; wf is what the --workflow filter matches
 * ('{}': every workflow, as a replay without --workflow). */
static const char *const sql_events = "SELECT " MS(
        "at") ", kind, workflows, text FROM ("
              " SELECT paused_at AS at, 'PAUSE' AS kind, workflow AS workflows, ARRAY[workflow] AS wf,"
              "        format('%s by %s: %s', CASE WHEN automatic THEN 'paused automatically' ELSE 'paused' END,"
              "               paused_by, reason) AS text"
              "   FROM runfleet.pauses WHERE paused_at >= " FROM_TS " AND paused_at < " TO_TS " UNION ALL"
              " SELECT " FROM_TS ", 'PAUSED', workflow, ARRAY[workflow],"
              "        format('paused since %s by %s: %s', " LOCAL(
                      "paused_at",
                      "YYYY-MM-DD HH24:MI:SS") ", paused_by,"
                                               "               reason)"
                                               "   FROM runfleet.pauses WHERE paused_at < " FROM_TS
                                               " AND (unpaused_at IS NULL OR unpaused_at >= " FROM_TS ")"
                                               " UNION ALL"
                                               " SELECT unpaused_at, 'UNPAUSE', workflow, ARRAY[workflow],"
                                               "        format('unpaused by %s (paused since %s)', coalesce(unpaused_by, '?'),"
                                               "               " LOCAL(
                                                       "paused_at", "YYYY-MM-DD HH24:MI:SS") ")"
                                                                                             "   FROM runfleet.pauses WHERE unpaused_at >= " FROM_TS
                                                                                             " AND unpaused_at < " TO_TS
                                                                                             " UNION ALL"
                                                                                             " SELECT requested_at, 'BACKFILL', array_to_string(workflows, ', '), workflows,"
                                                                                             "        format('backfill %s by %s: --mode %s, ticks %s to %s, %s planned, %s created%s',"
                                                                                             "               right(backfill_id::text, 8), requested_by, mode, " LOCAL("from_ts",
                                                                                                                                                                      "YYYY-MM-DD HH24:MI:SS") ","
                                                                                                                                                                                               "               " LOCAL("to_ts", "YYYY-MM-DD HH24:MI:SS") ", planned, created,"
                                                                                                                                                                                                                                                         "               CASE WHEN finished_at IS NULL THEN ', not finished'"
                                                                                                                                                                                                                                                         "                    ELSE ', finished at ' || " LOCAL("finished_at",
                                                                                                                                                                                                                                                                                                               "HH24:MI:SS") " END)"
                                                                                                                                                                                                                                                                                                                             "   FROM runfleet.backfills WHERE requested_at >= " FROM_TS " AND requested_at < " TO_TS
                                                                                                                                                                                                                                                                                                                             " UNION ALL"
                                                                                                                                                                                                                                                                                                                             " SELECT requested_at, 'REPLAY', array_to_string(workflows, ', '), workflows,"
                                                                                                                                                                                                                                                                                                                             "        format('replay %s by %s: RUN decisions produced %s to %s run again, %s new decisions%s',"
                                                                                                                                                                                                                                                                                                                             "               right(replay_id::text, 8), requested_by, " LOCAL(
                                                                                                                                                                                                                                                                                                                                     "from_ts", "YYYY-MM-DD HH24:MI:SS") ","
                                                                                                                                                                                                                                                                                                                                                                         "               " LOCAL(
                                                                                                                                                                                                                                                                                                                                                                                 "to_ts", "YYYY-MM-DD HH24:MI:SS") ", decisions,"
                                                                                                                                                                                                                                                                                                                                                                                                                   "               CASE WHEN again THEN ' (--again)' ELSE '' END)"
                                                                                                                                                                                                                                                                                                                                                                                                                   "   FROM runfleet.replays WHERE requested_at >= " FROM_TS
                                                                                                                                                                                                                                                                                                                                                                                                                   " AND requested_at < " TO_TS
                                                                                                                                                                                                                                                                                                                                                                                                                   " UNION ALL"
                                                                                                                                                                                                                                                                                                                                                                                                                   " SELECT r.redriven_at, 'REDRIVE', d.workflow, ARRAY[d.workflow],"
                                                                                                                                                                                                                                                                                                                                                                                                                   "        format('dead letter %s:%s produced again by %s: decision %s, attempt %s', r.dlq_partition,"
                                                                                                                                                                                                                                                                                                                                                                                                                   "               r.dlq_offset, r.redriven_by, right(r.decision_id::text, 8), r.attempt)"
                                                                                                                                                                                                                                                                                                                                                                                                                   "   FROM runfleet.dlq_redrives r JOIN runfleet.decisions d ON d.decision_id = r.decision_id"
                                                                                                                                                                                                                                                                                                                                                                                                                   "  WHERE r.redriven_at >= " FROM_TS
                                                                                                                                                                                                                                                                                                                                                                                                                   " AND r.redriven_at < " TO_TS
                                                                                                                                                                                                                                                                                                                                                                                                                   ") e"
                                                                                                                                                                                                                                                                                                                                                                                                                   " WHERE $3::text[] IS NULL OR wf = '{}' OR wf && $3::text[]"
                                                                                                                                                                                                                                                                                                                                                                                                                   " ORDER BY at, kind";

static const char *opt(const PGresult *res, int row, int col) {
        return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static long long num(const PGresult *res, int row, int col) {
        return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int by_decision_id(const void *a, const void *b) {
        return strcmp((*(const hist_decision_t *const *)a)->decision_id,
                      (*(const hist_decision_t *const *)b)->decision_id);
}

static int by_execution_id(const void *a, const void *b) {
        return strcmp((*(const hist_execution_t *const *)a)->execution_id,
                      (*(const hist_execution_t *const *)b)->execution_id);
}

/* Hangs each execution under its decision, each call under its execution.
 * Rows come sorted by their parent's id, so a parent's children are one run. */
static int link(history_t *h) {
        hist_decision_t **ds = calloc(h->count + 1, sizeof(*ds));
        hist_execution_t **es = calloc(h->execution_count + 1, sizeof(*es));
        const PGresult *exe = h->res[1], *calls = h->res[2];
        int r = -ENOMEM;

        if (!ds || !es)
                goto out;
        for (size_t i = 0; i < h->count; i++)
                ds[i] = &h->decisions[i];
        qsort(ds, h->count, sizeof(*ds), by_decision_id);
        for (size_t i = 0; i < h->execution_count; i++) {
                hist_decision_t key = { .decision_id = PQgetvalue(exe, (int)i, 0) }, *k = &key, **d;

                es[i] = &h->executions[i];
                d = bsearch(&k, ds, h->count, sizeof(*ds), by_decision_id);
                if (!d)
                        continue;
                if ((*d)->execution_count == 0)
                        (*d)->executions = &h->executions[i];
                (*d)->execution_count++;
        }
        qsort(es, h->execution_count, sizeof(*es), by_execution_id);
        for (size_t i = 0; i < h->call_count; i++) {
                hist_execution_t key = { .execution_id = PQgetvalue(calls, (int)i, 0) }, *k = &key, **e;

                e = bsearch(&k, es, h->execution_count, sizeof(*es), by_execution_id);
                if (!e)
                        continue;
                if ((*e)->call_count == 0)
                        (*e)->calls = &h->calls[i];
                (*e)->call_count++;
        }
        r = 0;
out:
        free(ds);
        free(es);
        return r;
}

/* Reads the stored name in column @p col of row @p i with @p from_name; an
 * unknown one (a schema newer than this program) is named in @p errstr. */
#define TYPED(from_name, res, i, col, what, ret)                                                                       \
        do {                                                                                                           \
                if (from_name(PQgetvalue(res, i, col), ret) < 0) {                                                     \
                        snprintf(errstr, errstr_size, "history: unknown %s '%s' in row %d (a newer schema?)", what,    \
                                 PQgetvalue(res, i, col), i);                                                          \
                        return -EPROTO;                                                                                \
                }                                                                                                      \
        } while (0)

static int fill(history_t *h, char *errstr, size_t errstr_size) {
        const PGresult *dec = h->res[0], *exe = h->res[1], *calls = h->res[2], *ev = h->res[3];

        h->count = (size_t)PQntuples(dec);
        h->execution_count = (size_t)PQntuples(exe);
        h->call_count = (size_t)PQntuples(calls);
        h->event_count = (size_t)PQntuples(ev);
        h->decisions = calloc(h->count + 1, sizeof(*h->decisions));
        h->executions = calloc(h->execution_count + 1, sizeof(*h->executions));
        h->calls = calloc(h->call_count + 1, sizeof(*h->calls));
        h->events = calloc(h->event_count + 1, sizeof(*h->events));
        if (!h->decisions || !h->executions || !h->calls || !h->events) {
                snprintf(errstr, errstr_size, "out of memory");
                return -ENOMEM;
        }
        for (int i = 0; i < (int)h->count; i++) {
                h->decisions[i] = (hist_decision_t){
                        .decision_id = PQgetvalue(dec, i, 0),
                        .workflow = PQgetvalue(dec, i, 1),
                        .reason = PQgetvalue(dec, i, 4),
                        .decided_ms = num(dec, i, 5),
                        .tick_ms = PQgetisnull(dec, i, 6) ? -1 : num(dec, i, 6),
                        .state_ms = num(dec, i, 7),
                        .attempt = (int)num(dec, i, 8),
                        .replay_of = opt(dec, i, 9),
                        .backfill_of = opt(dec, i, 10),
                        .backfill_id = opt(dec, i, 11),
                        .cancelled_by = opt(dec, i, 12),
                        .cancel_reason = opt(dec, i, 13),
                        .orphan_why = opt(dec, i, 14),
                };
                TYPED(rf_decision_action_from_name, dec, i, 2, "decision action", &h->decisions[i].action);
                TYPED(rf_decision_state_from_name, dec, i, 3, "decision state", &h->decisions[i].state);
        }
        for (int i = 0; i < (int)h->execution_count; i++) {
                h->executions[i] = (hist_execution_t){
                        .execution_id = PQgetvalue(exe, i, 1),
                        .attempt = (int)num(exe, i, 2),
                        .worker_id = PQgetvalue(exe, i, 3),
                        .started_ms = num(exe, i, 5),
                        .finished_ms = num(exe, i, 6),
                        .heartbeat_ms = num(exe, i, 7),
                        .error = PQgetvalue(exe, i, 8),
                };
                TYPED(rf_exec_status_from_name, exe, i, 4, "execution status", &h->executions[i].status);
        }
        for (int i = 0; i < (int)h->call_count; i++) {
                h->calls[i] = (hist_call_t){
                        .scraper = PQgetvalue(calls, i, 1),
                        .try_no = (int)num(calls, i, 2),
                        .http_status = (int)num(calls, i, 3),
                        .started_ms = num(calls, i, 5),
                        .duration_ms = (int)num(calls, i, 6),
                        .error = PQgetvalue(calls, i, 7),
                };
                TYPED(rf_call_outcome_from_name, calls, i, 4, "call outcome", &h->calls[i].outcome);
        }
        for (int i = 0; i < (int)h->event_count; i++)
                h->events[i] = (hist_event_t){
                        .at_ms = num(ev, i, 0),
                        .kind = PQgetvalue(ev, i, 1),
                        .workflows = PQgetvalue(ev, i, 2),
                        .text = PQgetvalue(ev, i, 3),
                };
        return link(h);
}

int history_load(rf_pg_t *pg, const span_t *span, const char *tz, char *const *workflows, size_t workflow_count,
                 history_t *ret_history, char *errstr, size_t errstr_size) {
        char from[32], to[32], *list = NULL, *ids = NULL;
        history_t h = { .span = *span };
        PGresult *res = NULL;
        int r = 0;

        snprintf(from, sizeof(from), "%lld", (long long)span->from_ms);
        snprintf(to, sizeof(to), "%lld", (long long)span->to_ms);
        if (workflow_count > 0 && !(list = rf_pg_array_literal(workflows, workflow_count))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -ENOMEM;
        }
        {
                const char *params[] = { from, to, list, tz };
                /* one snapshot: a decision and its executions as of one moment */
                r = rf_pg_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL, errstr,
                               errstr_size);
                if (r == 0)
                        r = rf_pg_exec(pg, sql_decisions, 3, params, &h.res[0], errstr, errstr_size);
                /* the executions of those decisions, then the calls of those executions */
                for (int i = 1; r == 0 && i <= 2; i++) {
                        const char *of[1];

                        free(ids);
                        ids = rf_pg_column_array(h.res[i - 1], i == 1 ? 0 : 1);
                        of[0] = ids;
                        r = ids ? rf_pg_exec(pg, i == 1 ? sql_executions : sql_calls, 1, of, &h.res[i], errstr,
                                             errstr_size)
                                : -ENOMEM;
                }
                if (r == 0)
                        r = rf_pg_exec(pg, sql_events, 4, params, &h.res[3], errstr, errstr_size);
        }
        if (r == -ENOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        if (r == 0)
                r = rf_pg_exec(pg, "SELECT count(*) FROM runfleet.orphans", 0, NULL, &res, errstr, errstr_size);
        if (r == 0) {
                h.orphans_any_day = num(res, 0, 0);
                r = rf_pg_exec(pg, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
        } else {
                char ignored[256];
                rf_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, ignored, sizeof(ignored));
        }
        PQclear(res);
        free(list);
        free(ids);
        if (r == 0)
                r = fill(&h, errstr, errstr_size);
        if (r < 0) {
                history_free(&h);
                return r;
        }
        *ret_history = h;
        return 0;
}

void history_free(history_t *h) {
        if (!h)
                return;
        free(h->decisions);
        free(h->executions);
        free(h->calls);
        free(h->events);
        for (size_t i = 0; i < sizeof(h->res) / sizeof(h->res[0]); i++)
                PQclear(h->res[i]);
        memset(h, 0, sizeof(*h));
}

int64_t hist_execution_ms(const hist_execution_t *e) {
        if (e->status == RF_EXEC_ABANDONED)
                return e->heartbeat_ms - e->started_ms;
        if (e->finished_ms == 0)
                return -1;
        return e->finished_ms - e->started_ms;
}

const hist_decision_t *history_find(const history_t *h, const char *workflow, const char *suffix) {
        size_t n = strlen(suffix);

        for (size_t i = 0; n > 0 && i < h->count; i++) {
                const char *id = h->decisions[i].decision_id;
                size_t len = strlen(id);

                if (strcmp(h->decisions[i].workflow, workflow) == 0 && len >= n && strcmp(id + len - n, suffix) == 0)
                        return &h->decisions[i];
        }
        return NULL;
}
