/* SPDX-License-Identifier: Apache-2.0 */
/* A producer that dies between inserting a decision and producing it leaves
 * a recorded RUN decision and no message. The reaper must notice it after
 * its grace period and the fleet must execute it exactly once. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_util.h"

int main(void) {
        itest_t t;
        char out[4096];
        char *crash_env[] = { "RUNFLEET_FAULT=after-insert", NULL };
        int code;
        int64_t started;

        itest_init(&t, "orphans");
        itest_config(
                &t,
                "scrapers = ( { name = \"only\"; url = \"@FAKE@/orphans/only?delay_ms=10\"; } );\n"
                "workflows = ( { name = \"nightly\"; schedule = \"0 3 * * *\"; scrapers = [\"only\"]; } );\n"
                "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                "reaper = { interval_ms = 1000; grace_ms = 8000; backoff_ms = 1000; max_failed_executions = 3; };\n");
        itest_migrate(&t);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);

        /* the fault point exits right after the INSERT commits */
        code = itest_run(&t, out, sizeof(out), 30000, crash_env, "runfleet-producer", "trigger", "nightly", NULL);
        CHECK(code == 86);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE state = 'PENDING'"
                                 " AND delivered_at IS NULL") == 1);
        {
                long long committed, end;
                itest_group_offsets(&t, t.topic, t.group, &committed, &end);
                CHECK(end == 0); /* nothing reached Kafka */
        }

        started = rf_mono_ms();
        itest_spawn(&t, "reaper", "runfleet-reaper", NULL);
        /* grace 8 s + one sweep + execution: well within 60 s */
        CHECK(itest_wait_for(&t, 1, 60000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        printf("# orphan executed %lld ms after the reaper started\n", (long long)(rf_mono_ms() - started));
        CHECK(itest_query_ll(&t, "SELECT attempt FROM runfleet.decisions") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'") == 1);
        /* more sweeps must not run it again */
        itest_sleep_ms(3000);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.orphans") == 0);
        return itest_finish(&t);
}
