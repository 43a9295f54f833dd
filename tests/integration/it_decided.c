/* SPDX-License-Identifier: Apache-2.0 */
/* The evaluator's reads of history (producer/decide_sql.h) on the real
 * database, with 5 older days of partitions:
 *
 * 1. Planned with a round's parameters, neither statement reads a day
 *    partition before the day of its bound, so an evaluation costs the
 *    same however many days are kept (bench (f)); the DEFAULT partition,
 *    which holds decisions from before 018 with ids of no meaning, is
 *    read by both.
 * 2. What they answer is unchanged by the bounds: a tick decided in the
 *    DEFAULT partition or in its day counts as decided, a manual trigger
 *    (no tick) decides no tick; the history has the RUN decisions with and
 *    without a tick within 26 h, in the DEFAULT partition too, and nothing
 *    older, no SKIP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide_sql.h"
#include "itest.h"
#include "rf_uuid.h"

#define HOUR_MS (3600LL * 1000)
#define OLD_DAYS 5

/* The rows of @p sql with @p params, column @p col of each, one per line,
 * into @p buf; returns how many, or -1 when the statement failed. */
static int rows(itest_t *t, const char *sql, int n, const char *const *params, int col, char *buf, size_t size) {
        char errstr[512];
        PGresult *res = NULL;
        size_t len = 0;

        buf[0] = '\0';
        if (rf_pg_exec(t->pg, sql, n, params, &res, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "# %s\n", errstr);
                return -1;
        }
        for (int i = 0; i < PQntuples(res) && len < size; i++)
                len += (size_t)snprintf(buf + len, size - len, "%s\n", PQgetvalue(res, i, col));
        n = PQntuples(res);
        PQclear(res);
        return n;
}

/* The name of the day partition of decisions @p back days ago (UTC, as
 * the database's clock and create_partitions() have it) into @p buf. */
static void day_name(itest_t *t, int back, char buf[32]) {
        snprintf(buf, 32, "decisions_%lld",
                 itest_query_ll(t, "SELECT to_char(current_date - %d, 'YYYYMMDD')::bigint", back));
}

/* Checks that @p plan reads none of the day partitions from @p from_day
 * to @p to_day days back, but reads today's and the DEFAULT one. */
static void check_days(itest_t *t, const char *plan, int from_day, int to_day) {
        char day[32];

        for (int back = from_day; back >= to_day; back--) {
                day_name(t, back, day);
                CHECK(strstr(plan, day) == NULL);
                if (strstr(plan, day))
                        fprintf(stderr, "# %s is in the plan:\n%s", day, plan);
        }
        day_name(t, 0, day);
        CHECK_CONTAINS(plan, day);
        CHECK_CONTAINS(plan, "decisions_before_018");
}

/* Inserts a RUN (or @p action) decision of @p workflow. */
static void insert(itest_t *t, const char *id, const char *workflow, const char *action, long long tick_ms,
                   long long decided_ms) {
        char sql[1024], tick[64];

        if (tick_ms >= 0)
                snprintf(tick, sizeof(tick), "to_timestamp(%lld / 1000.0)", tick_ms);
        else
                snprintf(tick, sizeof(tick), "NULL");
        snprintf(sql, sizeof(sql),
                 "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, decided_at, tick, scrapers,"
                 " attempt, state, trace_id) VALUES ('%s', '%s', '%s', 'it_decided', to_timestamp(%lld / 1000.0), %s,"
                 " '{s}', 1, '%s', 't')",
                 id, workflow, action, decided_ms, tick, strcmp(action, "RUN") == 0 ? "SUCCEEDED" : "SKIPPED");
        CHECK(itest_exec(t, sql) == 0);
}

int main(void) {
        static char out[1 << 16];
        itest_t t;
        long long tick, now;
        char jobs[512], min_id[37], hmin_id[37], from[32], to[32], id[5][37];

        itest_init(&t, "decided");
        itest_config(&t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/decided/s\"; } );\n"
                         "workflows = ( { name = \"w\"; schedule = \"* * * * *\"; scrapers = [\"s\"]; } );\n");
        itest_migrate(&t);
        /* migrate made yesterday's partition and the days ahead; these are the days kept before it */
        itest_query_ll(&t, "SELECT count(*) FROM runfleet.create_partitions(current_date - %d, %d)", OLD_DAYS,
                       OLD_DAYS);
        for (int back = OLD_DAYS; back >= 0; back--) {
                char day[32];

                day_name(&t, back, day);
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_class WHERE relname = '%s'", day) == 1);
        }

        /* the round: this minute's tick of w, and of m, which only a manual trigger decided */
        tick = itest_query_ll(&t, "SELECT (extract(epoch FROM date_trunc('minute', now())) * 1000)::bigint");
        now = itest_query_ll(&t, "SELECT (extract(epoch FROM now()) * 1000)::bigint");
        snprintf(jobs, sizeof(jobs), "[{\"i\": 0, \"w\": \"w\", \"t\": %lld}, {\"i\": 1, \"w\": \"m\", \"t\": %lld}]",
                 tick, tick);
        rf_uuid_floor(tick, min_id);
        rf_uuid_floor(tick - DECIDE_HISTORY_BEFORE_MS, hmin_id);
        snprintf(from, sizeof(from), "%lld", tick);
        snprintf(to, sizeof(to), "%lld", tick);

        /* 1. the plans: the older days are not read */
        {
                const char *params[] = { jobs, min_id };
                char sql[4096];

                snprintf(sql, sizeof(sql), "EXPLAIN (COSTS OFF) %s", decide_sql_decided);
                CHECK(rows(&t, sql, 2, params, 0, out, sizeof(out)) > 0);
                check_days(&t, out, OLD_DAYS, 1);
        }
        {
                const char *params[] = { "{w,m}", from, to, hmin_id };
                char sql[4096];

                snprintf(sql, sizeof(sql), "EXPLAIN (COSTS OFF) %s", decide_sql_history);
                CHECK(rows(&t, sql, 4, params, 0, out, sizeof(out)) > 0);
                /* 27 h back: yesterday, or the day before in the night's first 3 hours */
                check_days(&t, out, OLD_DAYS, 3);
        }

        /* 2. the answers */
        {
                const char *params[] = { jobs, min_id };

                CHECK(rows(&t, decide_sql_decided, 2, params, 0, out, sizeof(out)) == 0);
                /* a manual trigger of m at the tick's very time has no tick: m's tick is not decided */
                rf_uuid_at(tick, id[0]);
                insert(&t, id[0], "m", "RUN", -1, tick);
                CHECK(rows(&t, decide_sql_decided, 2, params, 0, out, sizeof(out)) == 0);
                /* w's tick decided before 018: in the DEFAULT partition, with a random id */
                insert(&t, "00000000-0000-4000-8000-0000000000d1", "w", "RUN", tick, tick);
                CHECK(rows(&t, decide_sql_decided, 2, params, 0, out, sizeof(out)) == 1);
                CHECK_STR_EQ(out, "0\n");
                CHECK(itest_exec(&t, "DELETE FROM runfleet.decisions WHERE workflow = 'w'") == 0);
                /* w's tick decided with the tick's id, in its day */
                rf_uuid_tick("w", tick, id[1]);
                insert(&t, id[1], "w", "SKIP", tick, tick + 500);
                CHECK(rows(&t, decide_sql_decided, 2, params, 0, out, sizeof(out)) == 1);
                CHECK_STR_EQ(out, "0\n");
                CHECK(itest_exec(&t, "DELETE FROM runfleet.decisions") == 0);
        }
        {
                const char *params[] = { "{w,m}", from, to, hmin_id };

                /* in: a tick's RUN in its day, 2 minutes back; one in the DEFAULT partition, 25 h back; a
                 * manual trigger 10 minutes ago, in its day; one before 018, 20 h ago */
                rf_uuid_tick("w", tick - 120000, id[0]);
                insert(&t, id[0], "w", "RUN", tick - 120000, tick - 119000);
                insert(&t, "00000000-0000-4000-8000-0000000000d2", "w", "RUN", tick - 25 * HOUR_MS,
                       tick - 25 * HOUR_MS + 1000);
                rf_uuid_at(now - 600000, id[1]);
                insert(&t, id[1], "m", "RUN", -1, now - 600000);
                insert(&t, "00000000-0000-4000-8000-0000000000d3", "m", "RUN", -1, now - 20 * HOUR_MS);
                /* out: a SKIP; a tick's RUN 30 h back; a manual trigger 3 days ago */
                rf_uuid_tick("w", tick - 60000, id[2]);
                insert(&t, id[2], "w", "SKIP", tick - 60000, tick - 59000);
                rf_uuid_tick("w", tick - 30 * HOUR_MS, id[3]);
                insert(&t, id[3], "w", "RUN", tick - 30 * HOUR_MS, tick - 30 * HOUR_MS + 1000);
                rf_uuid_at(now - 72 * HOUR_MS, id[4]);
                insert(&t, id[4], "m", "RUN", -1, now - 72 * HOUR_MS);

                CHECK(rows(&t, decide_sql_history, 4, params, 1, out, sizeof(out)) == 4);
                CHECK_CONTAINS(out, id[0]);
                CHECK_CONTAINS(out, "00000000-0000-4000-8000-0000000000d2");
                CHECK_CONTAINS(out, id[1]);
                CHECK_CONTAINS(out, "00000000-0000-4000-8000-0000000000d3");
        }
        return itest_finish(&t);
}
