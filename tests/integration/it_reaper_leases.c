/* SPDX-License-Identifier: Apache-2.0 */
/* Slow is not dead: an execution whose 10-second call outlives its 3-second
 * lease, renewed every 500 ms, is left alone by the reaper (one attempt,
 * one execution, one call); an execution whose worker was SIGKILLed stops
 * renewing, its lease expires, and the reaper marks it ABANDONED and
 * re-produces the decision, which a second worker then runs (attempt 2). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

int main(void) {
        itest_t t;
        char out[4096];
        pid_t worker, reaper;

        itest_init(&t, "reaper_leases");
        itest_own_fake_scraper(&t);
        itest_config(
                &t,
                "scrapers = ( { name = \"slow\"; url = \"@FAKE@/%s/slow?delay_ms=10000\"; timeout_ms = 30000; },\n"
                "             { name = \"slow2\"; url = \"@FAKE@/%s/slow2?delay_ms=10000\"; timeout_ms = 30000; } );\n"
                "workflows = ( { name = \"alive\"; schedule = \"0 3 * * *\"; scrapers = [\"slow\"]; deadline_ms = 60000; },\n"
                "              { name = \"killed\"; schedule = \"0 3 * * *\"; scrapers = [\"slow2\"]; deadline_ms = 60000; } );\n"
                "worker = { lease_ms = 3000; heartbeat_ms = 500; commit_interval_ms = 200; };\n"
                "reaper = { interval_ms = 500; grace_ms = 8000; backoff_ms = 500; max_failed_executions = 3; };\n",
                t.topic, t.topic);
        itest_migrate(&t);
        worker = itest_spawn(&t, "worker1", "runfleet-worker", NULL);
        reaper = itest_spawn(&t, "reaper", "runfleet-reaper", NULL);

        /* slow but alive: three lease lengths and more, renewed all along */
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "alive", NULL) == 0);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'RUNNING'"));
        CHECK(itest_wait_for(&t, 1, 40000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        itest_sleep_ms(1500);
        CHECK(itest_query_ll(&t, "SELECT attempt FROM runfleet.decisions WHERE workflow = 'alive'") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"
                                 " AND finished_at - started_at > interval '9 seconds'") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'ABANDONED'") == 0);
        CHECK(itest_fake_path_count(&t, "slow") == 1);
        {
                char *log = itest_read_log(&t, reaper);
                CHECK(strstr(log, "decision.reproduced") == NULL);
                CHECK(strstr(log, "\"abandoned\":1") == NULL);
                free(log);
        }

        /* the lease of a dead worker expires: re-produced, run elsewhere */
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "killed", NULL) == 0);
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d USING (decision_id)"
                             " WHERE d.workflow = 'killed' AND e.status = 'RUNNING'"));
        kill(worker, SIGKILL);
        CHECK(itest_wait(worker, 10000) == 128 + SIGKILL);
        for (int i = 0; i < t.proc_count; i++)
                if (t.procs[i] == worker)
                        t.procs[i] = 0;
        /* lease 3 s + one sweep */
        CHECK(itest_wait_for(&t, 1, 15000,
                             "SELECT count(*) FROM runfleet.executions WHERE status = 'ABANDONED' AND attempt = 1"));
        CHECK(itest_wait_for(&t, 2, 15000, "SELECT attempt FROM runfleet.decisions WHERE workflow = 'killed'"));
        itest_spawn(&t, "worker2", "runfleet-worker", NULL);
        CHECK(itest_wait_for(
                &t, 1, 60000,
                "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'killed' AND state = 'SUCCEEDED'"));
        itest_sleep_ms(1500);
        CHECK(itest_query_ll(&t, "SELECT e.attempt FROM runfleet.executions e JOIN runfleet.decisions d"
                                 " USING (decision_id) WHERE d.workflow = 'killed' AND e.status = 'SUCCEEDED'") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.orphans") == 0);
        /* the dead worker's call and the new attempt's */
        CHECK(itest_fake_path_count(&t, "slow2") == 2);
        {
                char *log = itest_read_log(&t, reaper);
                CHECK_CONTAINS(log, "decision.reproduced");
                CHECK_CONTAINS(log, "\"abandoned\":1");
                free(log);
        }
        return itest_finish(&t);
}
