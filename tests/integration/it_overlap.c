/* SPDX-License-Identifier: Apache-2.0 */
/* The overlap policies with the real programs: three `@every 2s` workflows
 * whose scraper takes 4.5 s, so each tick finds the previous run in flight.
 *  - skip: a tick with a run of the workflow PENDING or RUNNING is a SKIP
 *    naming that decision; every other tick a RUN; no two executions
 *    overlap in time;
 *  - buffer_one: a tick with a run in flight and none waiting records a RUN
 *    that waits (not produced); a tick with one waiting is a SKIP naming the
 *    waiting one; each waiting decision starts only after the run it waited
 *    for ended, and promptly (the reaper releases it); no two executions
 *    overlap; none is left behind: all end SUCCEEDED, nothing is an orphan;
 *  - allow: every tick a RUN, and executions do overlap.
 * Each tick's verdict is checked against the database's own record of what
 * was in flight when it was decided. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

/* Decisions of @p w whose verdict disagrees with what was in flight at
 * their decided_at: a RUN decision E of w was in flight at time T when it
 * was decided before T and its last execution had not finished by T (a
 * decision's state and its execution's finished_at change in one
 * transaction, so this is what the evaluator saw, but for the few ms
 * between reading the history and recording the decision). */
#define IN_FLIGHT(alias)                                                                                               \
        "EXISTS (SELECT 1 FROM runfleet.decisions e WHERE e.workflow = " alias ".workflow"                             \
        " AND e.action = 'RUN' AND e.decision_id <> " alias ".decision_id"                                             \
        " AND e.decided_at < " alias ".decided_at"                                                                     \
        " AND coalesce((SELECT max(x.finished_at) FROM runfleet.executions x"                                          \
        "               WHERE x.decision_id = e.decision_id), 'infinity') > " alias ".decided_at)"

int main(void) {
        itest_t t;
        pid_t ev;

        itest_init(&t, "overlap");
        itest_config(
                &t,
                "scrapers = ( { name = \"slow\"; url = \"@FAKE@/%s/slow?delay_ms=4500\"; timeout_ms = 20000; } );\n"
                "workflows = (\n"
                "  { name = \"ov_skip\"; schedule = \"@every 2s\"; scrapers = [\"slow\"]; },\n"
                "  { name = \"ov_buffer\"; schedule = \"@every 2s\"; scrapers = [\"slow\"]; overlap = \"buffer_one\"; },\n"
                "  { name = \"ov_allow\"; schedule = \"@every 2s\"; scrapers = [\"slow\"]; overlap = \"allow\"; } );\n"
                "worker = { commit_interval_ms = 200; };\n"
                "reaper = { interval_ms = 300; grace_ms = 31000; };\n",
                t.topic);
        itest_migrate(&t);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        itest_spawn(&t, "reaper", "runfleet-reaper", NULL);
        ev = itest_spawn(&t, "evaluator", "runfleet-producer", "evaluate", "--every", "2s", NULL);
        /* about ten ticks */
        CHECK(itest_wait_for(&t, 10, 60000,
                             "SELECT least(count(*), 10) FROM runfleet.decisions WHERE workflow = 'ov_skip'"));
        kill(ev, SIGTERM);
        CHECK(itest_wait(ev, 20000) == 0);
        CHECK(itest_wait_for(&t, 0, 60000,
                             "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'"
                             " AND state NOT IN ('SUCCEEDED', 'DEAD')"));
        itest_print_rows(
                &t, "SELECT workflow, to_char(tick, 'MI:SS') tick, action, state, right(decision_id::text, 8) id,"
                    " to_char((SELECT min(started_at) FROM runfleet.executions x WHERE x.decision_id ="
                    " d.decision_id), 'MI:SS.MS') started, reason FROM runfleet.decisions d ORDER BY workflow, tick");

        /* skip: SKIP exactly when a run was in flight, naming one of them; RUN otherwise */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions d WHERE d.workflow = 'ov_skip'"
                                 " AND (d.action = 'SKIP') <> " IN_FLIGHT("d")) == 0);
        CHECK(itest_query_ll(&t, "SELECT least(count(*), 2) FROM runfleet.decisions WHERE workflow = 'ov_skip'"
                                 " AND action = 'SKIP'") == 2);
        CHECK(itest_query_ll(&t, "SELECT least(count(*), 2) FROM runfleet.decisions WHERE workflow = 'ov_skip'"
                                 " AND action = 'RUN'") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions s WHERE s.workflow = 'ov_skip'"
                                 " AND s.action = 'SKIP' AND NOT EXISTS (SELECT 1 FROM runfleet.decisions r"
                                 "   WHERE r.workflow = 'ov_skip' AND r.action = 'RUN' AND r.decided_at < s.decided_at"
                                 "     AND s.reason LIKE 'previous run still in progress: decision ' || r.decision_id"
                                 "         || ' (%%, tick __:__); overlap skip')") == 0);

        /* buffer_one: in flight and nothing waiting -> a waiting RUN naming the run it waits for */
        CHECK(itest_query_ll(&t, "SELECT least(count(*), 2) FROM runfleet.decisions d WHERE d.workflow = 'ov_buffer'"
                                 " AND d.action = 'RUN' AND d.reason LIKE '%%; waits for decision %%'") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions d WHERE d.workflow = 'ov_buffer'"
                                 " AND d.action = 'RUN' AND (d.reason LIKE '%%; waits for decision %%') <> " IN_FLIGHT(
                                         "d")) == 0);
        /* ... that started only after the one it waited for had finished, and within 3 s of it */
        CHECK(itest_query_ll(
                      &t,
                      "SELECT count(*) FROM runfleet.decisions w JOIN runfleet.decisions p"
                      "   ON w.reason LIKE '%%; waits for decision ' || p.decision_id || ' %%'"
                      " WHERE w.workflow = 'ov_buffer' AND NOT ("
                      "   (SELECT min(started_at) FROM runfleet.executions x WHERE x.decision_id = w.decision_id)"
                      "   > (SELECT max(finished_at) FROM runfleet.executions x WHERE x.decision_id = p.decision_id)"
                      "   AND (SELECT min(started_at) FROM runfleet.executions x WHERE x.decision_id = w.decision_id)"
                      "   < (SELECT max(finished_at) FROM runfleet.executions x WHERE x.decision_id = p.decision_id)"
                      "     + interval '3 seconds')") == 0);
        /* a tick while one waits: SKIP naming the waiting decision */
        CHECK(itest_query_ll(&t, "SELECT least(count(*), 1) FROM runfleet.decisions s WHERE s.workflow = 'ov_buffer'"
                                 " AND s.action = 'SKIP'") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions s WHERE s.workflow = 'ov_buffer'"
                                 " AND s.action = 'SKIP' AND NOT EXISTS (SELECT 1 FROM runfleet.decisions w"
                                 "   WHERE w.workflow = 'ov_buffer' AND w.reason LIKE '%%; waits for decision %%'"
                                 "     AND w.decided_at < s.decided_at"
                                 "     AND (SELECT min(started_at) FROM runfleet.executions x"
                                 "           WHERE x.decision_id = w.decision_id) > s.decided_at"
                                 "     AND s.reason LIKE 'decision ' || w.decision_id || ' (tick __:__) is already"
                                 " waiting for the run in progress; overlap buffer_one')") == 0);
        /* none left waiting, all run to the end */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE waiting_for IS NOT NULL") == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'ov_buffer'"
                                 " AND action = 'RUN' AND state <> 'SUCCEEDED'") == 0);

        /* skip and buffer_one: never two executions of the workflow at once */
        CHECK(itest_query_ll(
                      &t, "SELECT count(*) FROM runfleet.executions a JOIN runfleet.decisions da USING (decision_id),"
                          " runfleet.executions b JOIN runfleet.decisions db USING (decision_id)"
                          " WHERE da.workflow IN ('ov_skip', 'ov_buffer') AND da.workflow = db.workflow"
                          "   AND a.execution_id < b.execution_id"
                          "   AND a.started_at < b.finished_at AND b.started_at < a.finished_at") == 0);

        /* allow: every tick a RUN, and runs overlap */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'ov_allow'"
                                 " AND action <> 'RUN'") == 0);
        CHECK(itest_query_ll(&t, "SELECT least(count(*), 1) FROM runfleet.decisions WHERE workflow = 'ov_allow'"
                                 " AND reason LIKE '%%still in progress; overlap allow'") == 1);
        CHECK(itest_query_ll(
                      &t, "SELECT least(count(*), 1) FROM runfleet.executions a JOIN runfleet.decisions da"
                          " USING (decision_id), runfleet.executions b JOIN runfleet.decisions db USING (decision_id)"
                          " WHERE da.workflow = 'ov_allow' AND db.workflow = 'ov_allow'"
                          "   AND a.execution_id < b.execution_id"
                          "   AND a.started_at < b.finished_at AND b.started_at < a.finished_at") == 1);
        CHECK(itest_invariant_violations(&t) == 0);
        return itest_finish(&t);
}
