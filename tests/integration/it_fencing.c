/* SPDX-License-Identifier: Apache-2.0 */
/* Fencing: a worker frozen (SIGSTOP) past its lease loses the execution to
 * the reaper; once thawed, its late success is not recorded, and the
 * decision still ends with exactly one SUCCEEDED execution. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

int main(void) {
        itest_t t;
        char out[4096];
        pid_t frozen;

        itest_init(&t, "fencing");
        itest_config(
                &t,
                "scrapers = ( { name = \"s\"; url = \"@FAKE@/fencing/s?delay_ms=6000\"; timeout_ms = 30000; } );\n"
                "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; deadline_ms = 60000; } );\n"
                "worker = { lease_ms = 3000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                "reaper = { interval_ms = 500; grace_ms = 8000; backoff_ms = 500; max_failed_executions = 5; };\n");
        itest_migrate(&t);
        frozen = itest_spawn(&t, "worker1", "runfleet-worker", NULL);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "w", NULL) == 0);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'RUNNING'"));
        kill(frozen, SIGSTOP);
        itest_spawn(&t, "reaper", "runfleet-reaper", NULL);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'ABANDONED'"));
        /* thaw after its 6 s call has completed: it tries to record a success it no longer owns */
        itest_sleep_ms(4000);
        kill(frozen, SIGCONT);
        itest_spawn(&t, "worker2", "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, 1, 60000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        itest_sleep_ms(2000);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'ABANDONED'"
                                 " AND attempt = 1") == 1);
        {
                char *log = itest_read_log(&t, frozen);
                CHECK(strstr(log, "execution.fenced") || strstr(log, "execution.lease_lost"));
                free(log);
        }
        return itest_finish(&t);
}
