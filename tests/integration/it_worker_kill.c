/* SPDX-License-Identifier: Apache-2.0 */
/* A worker killed with SIGKILL in the middle of a 30-second scraper call:
 * the decision still ends with exactly one SUCCEEDED execution, through
 * redelivery or the reaper. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

int main(void) {
        itest_t t;
        char out[4096];
        pid_t first;

        itest_init(&t, "worker_kill");
        itest_config(
                &t,
                "scrapers = ( { name = \"slow\"; url = \"@FAKE@/worker_kill/slow?delay_ms=30000\";"
                " timeout_ms = 60000; } );\n"
                "workflows = ( { name = \"long\"; schedule = \"0 3 * * *\"; scrapers = [\"slow\"];"
                " deadline_ms = 120000; } );\n"
                "worker = { lease_ms = 4000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                "reaper = { interval_ms = 1000; grace_ms = 8000; backoff_ms = 1000; max_failed_executions = 3; };\n");
        itest_migrate(&t);
        first = itest_spawn(&t, "worker1", "runfleet-worker", NULL);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "long", NULL) == 0);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'RUNNING'"));
        itest_sleep_ms(2000); /* mid-call */
        kill(first, SIGKILL);
        CHECK(itest_wait(first, 5000) == 128 + SIGKILL);

        itest_spawn(&t, "worker2", "runfleet-worker", NULL);
        itest_spawn(&t, "reaper", "runfleet-reaper", NULL);
        /* lease 4 s + backoff 1 s + a second 30 s call */
        CHECK(itest_wait_for(&t, 1, 120000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'ABANDONED'") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'RUNNING'") == 0);
        return itest_finish(&t);
}
