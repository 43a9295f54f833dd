/* SPDX-License-Identifier: Apache-2.0 */
/* SIGTERM during 200 in-flight executions: the worker stops taking work,
 * lets what runs finish, commits, leaves the group and exits 0 within its
 * drain timeout; with a new worker every decision ends with exactly one
 * SUCCEEDED execution. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_util.h"

#define N 300

int main(void) {
        itest_t t;
        pid_t first;
        int64_t t0;
        int code;

        itest_init(&t, "drain");
        itest_config(&t,
                     "scrapers = ( { name = \"s\"; url = \"@FAKE@/drain/s?delay_ms=3000\"; timeout_ms = 30000; } );\n"
                     "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                     "worker = { max_in_flight = 200; lease_ms = 10000; heartbeat_ms = 1000; commit_interval_ms = 200;"
                     " drain_timeout_ms = 15000; };\n");
        itest_migrate(&t);
        CHECK(itest_decide(&t, "w", N, NULL) == N);
        first = itest_spawn(&t, "worker1", "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT (count(*) >= 200)::int FROM runfleet.executions WHERE status = 'RUNNING'"));
        t0 = rf_mono_ms();
        kill(first, SIGTERM);
        code = itest_wait(first, 20000);
        printf("# worker exited %d, %lld ms after SIGTERM\n", code, (long long)(rf_mono_ms() - t0));
        CHECK(code == 0);
        CHECK(rf_mono_ms() - t0 < 15000 + 3000);
        /* drained, not abandoned: nothing it started is left RUNNING */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'RUNNING'") == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") >= 200);

        itest_spawn(&t, "worker2", "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, N, 60000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") == N);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == N);
        {
                long long committed, end;
                for (int i = 0; i < 40; i++) {
                        itest_group_offsets(&t, t.topic, t.group, &committed, &end);
                        if (committed == end)
                                break;
                        itest_sleep_ms(250);
                }
                CHECK(committed == N && end == N);
        }
        return itest_finish(&t);
}
