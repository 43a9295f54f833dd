/* SPDX-License-Identifier: Apache-2.0 */
/* Every schedule tick accounted for, with the real evaluator: three
 * "@every 2s" workflows, one per catch-up policy (all, latest, none), a
 * 7 s catch-up window, `evaluate --every 2s` (4 s lookback).
 *  - Its database connection is terminated three times while it runs:
 *    before catch-up, the ticks of a failed evaluation were never decided
 *    and nothing was logged (11 of 91 under faults).
 *  - It is frozen (SIGSTOP) for 7 s, as one blocked in publish by a Kafka
 *    stall would be.
 *  - It is then SIGKILLed for about 10 s and restarted.
 * Every workflow then has exactly one decision per tick, without a hole,
 * from its first to its last; and the gap's ticks are exactly what the
 * policy says: on-time ticks RUN, missed ticks older than the window
 * MISSED, the others RUN (all) or SKIP (latest, none) with the reason. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static const char *const policies[] = { "all", "latest", "none" };

/* For each policy, the gap's missed ticks within the window that are NOT what it says. */
static const char *const want_in_window[] = {
        "tick >= e - interval '7 seconds' AND tick < e - interval '4 seconds' AND NOT (action = 'RUN'"
        " AND reason LIKE 'scheduled: %; decided late: missed while no evaluator ran, % catch-up policy all')",
        "tick >= e - interval '7 seconds' AND tick < e - interval '4 seconds' AND NOT (action = 'SKIP'"
        " AND reason LIKE 'missed while no evaluator ran, % catch-up policy latest: only the newest tick is decided')",
        "tick >= e - interval '7 seconds' AND tick < e - interval '4 seconds' AND NOT (action = 'SKIP'"
        " AND reason LIKE 'missed while no evaluator ran, % catch-up policy none')",
};

/* Decisions of @p w in the gap after @p killed_tick (ms) that match @p cond;
 * the gap ends at E, the restarted evaluator's first evaluation (when it
 * recorded them), which @p cond may name as "e". */
static long long gap_count(itest_t *t, const char *w, long long killed_tick, const char *cond) {
        char sql[2048];

        snprintf(sql, sizeof(sql),
                 "WITH e AS (SELECT min(decided_at) AS e FROM runfleet.decisions"
                 "            WHERE workflow = '%s' AND tick > to_timestamp(%lld / 1000.0)),"
                 "     g AS (SELECT d.*, e.e FROM runfleet.decisions d, e"
                 "            WHERE d.workflow = '%s' AND d.tick > to_timestamp(%lld / 1000.0) AND d.tick <= e.e)"
                 " SELECT count(*) FROM g WHERE %s",
                 w, killed_tick, w, killed_tick, cond);
        return itest_query_ll(t, "%s", sql);
}

/* Rows of workflow @p w that break "one decision per 2 s tick, from the
 * first to the last": holes plus duplicates. */
static long long holes(itest_t *t, const char *w) {
        return itest_query_ll(
                t,
                "SELECT (extract(epoch FROM max(tick) - min(tick)) / 2 + 1)::bigint - count(DISTINCT tick)"
                "       + count(*) - count(DISTINCT tick)"
                "  FROM runfleet.decisions WHERE workflow = '%s' AND tick IS NOT NULL",
                w);
}

int main(void) {
        itest_t t;
        char *log;
        pid_t ev;
        long long killed_tick;

        itest_init(&t, "catchup");
        itest_config(&t,
                     /* no worker runs them: under overlap "skip" every RUN after the first would SKIP */
                     "producer = { timezone = \"UTC\"; catchup_window = \"7s\"; overlap = \"allow\"; };\n"
                     "scrapers = ( { name = \"s\"; url = \"@FAKE@/catchup/s\"; } );\n"
                     "workflows = (\n"
                     "  { name = \"w_all\"; schedule = \"@every 2s\"; scrapers = [\"s\"]; catchup = \"all\"; },\n"
                     "  { name = \"w_latest\"; schedule = \"@every 2s\"; scrapers = [\"s\"]; catchup = \"latest\"; },\n"
                     "  { name = \"w_none\"; schedule = \"@every 2s\"; scrapers = [\"s\"]; catchup = \"none\"; }\n"
                     ");\n");
        itest_migrate(&t);

        ev = itest_spawn(&t, "evaluator", "runfleet-producer", "evaluate", "--every", "2s", NULL);
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT (count(*) = 3 AND min(c) >= 3)::int FROM"
                             " (SELECT count(*) AS c FROM runfleet.decisions GROUP BY workflow) x"));

        /* an evaluation that fails: its connection terminated under it */
        for (int i = 0; i < 3; i++) {
                itest_query_ll(&t, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                   " WHERE datname = current_database() AND application_name = 'runfleet-producer'");
                itest_sleep_ms(2500);
        }
        /* an evaluation stalled (as one blocked in publish by a Kafka stall,
         * for up to kafka.delivery_timeout_ms + 5 s): frozen for 7 s */
        kill(ev, SIGSTOP);
        itest_sleep_ms(7000);
        kill(ev, SIGCONT);
        itest_sleep_ms(4000);

        /* down for about 10 s */
        kill(ev, SIGKILL);
        itest_wait(ev, 5000);
        killed_tick =
                itest_query_ll(&t, "SELECT (extract(epoch FROM max(tick)) * 1000)::bigint FROM runfleet.decisions");
        itest_sleep_ms(10000);
        ev = itest_spawn(&t, "evaluator2", "runfleet-producer", "evaluate", "--every", "2s", NULL);
        CHECK(itest_wait_for(&t, 3, 30000,
                             "SELECT count(DISTINCT workflow) FROM runfleet.decisions"
                             " WHERE tick > to_timestamp(%lld / 1000.0) + interval '16 seconds'",
                             killed_tick));
        kill(ev, SIGTERM);
        CHECK(itest_wait(ev, 15000) == 0);

        for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
                char w[32];

                snprintf(w, sizeof(w), "w_%s", policies[i]);
                /* every tick, once, from the first evaluation on */
                CHECK(holes(&t, w) == 0);
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE workflow = '%s'", w) >= 15);

                /* the gap: ticks after the last one decided before the kill, up to the
                 * restarted evaluator's first evaluation (E, when it recorded them) */
                CHECK(gap_count(&t, w, killed_tick, "true") >= 5);
                /* on time (within the 4 s lookback): decided by the policy, which says RUN */
                CHECK(gap_count(&t, w, killed_tick, "tick >= e - interval '4 seconds' AND action <> 'RUN'") == 0);
                /* older than the 7 s window: MISSED, and says why */
                CHECK(gap_count(&t, w, killed_tick,
                                "tick < e - interval '7 seconds' AND NOT (action = 'MISSED' AND state = 'SKIPPED'"
                                " AND reason LIKE 'missed while no evaluator ran, __:__:__–__:__:__;"
                                " older than the catch-up window (7s), not run')") == 0);
                CHECK(gap_count(&t, w, killed_tick, "tick < e - interval '7 seconds'") >= 1);
                /* missed within the window: what the policy says */
                CHECK(gap_count(&t, w, killed_tick,
                                "tick >= e - interval '7 seconds' AND tick < e - interval '4 seconds'") >= 1);
                CHECK(gap_count(&t, w, killed_tick, want_in_window[i]) == 0);
        }
        /* SKIP and MISSED decisions are never produced: only RUN ones reach the topic */
        CHECK(itest_query_ll(
                      &t, "SELECT count(*) FROM runfleet.decisions WHERE action <> 'RUN' AND state <> 'SKIPPED'") == 0);
        /* status counts them per workflow */
        {
                char out[16384];

                CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "status", NULL) == 0);
                CHECK_CONTAINS(out, "workflows with ticks missed while no evaluator ran, on ");
                CHECK_CONTAINS(out, "  w_none  ");
                CHECK_CONTAINS(out, " missed\n");
                CHECK_CONTAINS(out, "  MISSED  ");
        }
        log = itest_read_log(&t, ev);
        CHECK_CONTAINS(log, "\"event\":\"evaluate.catchup\"");
        CHECK_CONTAINS(log, "w_none: ");
        free(log);
        if (rf_test_failures)
                itest_print_rows(&t, "SELECT workflow, action, to_char(tick, 'HH24:MI:SS') AS tick,"
                                     " to_char(decided_at, 'HH24:MI:SS.MS') AS decided, reason"
                                     " FROM runfleet.decisions ORDER BY workflow, tick");
        return itest_finish(&t);
}
