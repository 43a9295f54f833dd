/* SPDX-License-Identifier: Apache-2.0 */
/* Out-of-order completion on one partition: a slow decision at a low offset
 * and fast ones after it. The committed offset never passes the slow one
 * until it finishes; after a SIGKILL only the unfinished one runs again.
 * And max_active_runs = 1 serialises one workflow without holding back
 * another in the same partition. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static long long committed_offset(itest_t *t) {
        long long committed, end;

        itest_group_offsets(t, t->topic, t->group, &committed, &end);
        return committed;
}

static void out_of_order(void) {
        itest_t t;
        pid_t first;

        itest_init(&t, "ordering");
        t.partitions = 1;
        itest_config(
                &t,
                "scrapers = ( { name = \"slow\"; url = \"@FAKE@/ordering/slow?delay_ms=60000\"; timeout_ms = 120000; },\n"
                "             { name = \"fast\"; url = \"@FAKE@/ordering/fast?delay_ms=20\"; } );\n"
                "workflows = ( { name = \"slow\"; schedule = \"0 3 * * *\"; scrapers = [\"slow\"]; deadline_ms = 120000; },\n"
                "              { name = \"fast\"; schedule = \"0 3 * * *\"; scrapers = [\"fast\"]; } );\n"
                "worker = { lease_ms = 3000; heartbeat_ms = 500; commit_interval_ms = 100; };\n"
                "reaper = { interval_ms = 500; grace_ms = 8000; backoff_ms = 500; max_failed_executions = 5; };\n");
        itest_migrate(&t);
        CHECK(itest_decide(&t, "slow", 1, NULL) == 1);   /* offset 0 */
        CHECK(itest_decide(&t, "fast", 10, NULL) == 10); /* offsets 1..10 */
        first = itest_spawn(&t, "worker1", "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, 10, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        itest_sleep_ms(1000); /* several commit intervals */
        CHECK(committed_offset(&t) == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'RUNNING'") == 1);

        kill(first, SIGKILL);
        CHECK(itest_wait(first, 5000) == 128 + SIGKILL);
        /* the slow one's call now takes 60 s again: shorten the wait by making
         * the restarted fleet see a fast scraper under the same name */
        itest_config(
                &t, "scrapers = ( { name = \"slow\"; url = \"@FAKE@/ordering/slow?delay_ms=100\"; },\n"
                    "             { name = \"fast\"; url = \"@FAKE@/ordering/fast?delay_ms=20\"; } );\n"
                    "workflows = ( { name = \"slow\"; schedule = \"0 3 * * *\"; scrapers = [\"slow\"]; },\n"
                    "              { name = \"fast\"; schedule = \"0 3 * * *\"; scrapers = [\"fast\"]; } );\n"
                    "worker = { lease_ms = 3000; heartbeat_ms = 500; commit_interval_ms = 100; };\n"
                    "reaper = { interval_ms = 500; grace_ms = 8000; backoff_ms = 500; max_failed_executions = 5; };\n");
        itest_spawn(&t, "worker2", "runfleet-worker", NULL);
        itest_spawn(&t, "reaper", "runfleet-reaper", NULL);
        CHECK(itest_wait_for(&t, 11, 60000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        /* only the unfinished decision ran again */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                                 " USING (decision_id) WHERE d.workflow = 'fast'") == 10);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                                 " USING (decision_id) WHERE d.workflow = 'slow'") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") == 11);
        {
                json_t *stats = itest_fake_stats_prefix(&t, "/ordering/");
                json_t *by_path = json_object_get(json_object_get(stats, "idempotency_keys_by_path"), "/ordering/fast");
                const char *key;
                json_t *n;
                int repeats = 0;
                json_object_foreach(by_path, key, n) repeats += json_integer_value(n) > 1;
                CHECK(json_object_size(by_path) >= 10);
                CHECK(repeats == 0);
                json_decref(stats);
        }
        for (int i = 0; i < 40 && committed_offset(&t) != 12; i++)
                itest_sleep_ms(250);
        CHECK(committed_offset(&t) >= 11);
        itest_finish(&t);
}

static void max_active_runs(void) {
        itest_t t;
        long long overlaps, free_done_ms;

        itest_init(&t, "max_active");
        t.partitions = 1;
        itest_config(
                &t,
                "scrapers = ( { name = \"s\"; url = \"@FAKE@/max_active/s?delay_ms=1000\"; } );\n"
                "workflows = ( { name = \"serial\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; max_active_runs = 1; },\n"
                "              { name = \"free\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 100; };\n");
        itest_migrate(&t);
        CHECK(itest_decide(&t, "serial", 5, NULL) == 5);
        CHECK(itest_decide(&t, "free", 5, NULL) == 5);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, 10, 60000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        overlaps = itest_query_ll(
                &t, "SELECT count(*) FROM runfleet.executions a JOIN runfleet.decisions da USING (decision_id),"
                    " runfleet.executions b JOIN runfleet.decisions db USING (decision_id)"
                    " WHERE da.workflow = 'serial' AND db.workflow = 'serial' AND a.execution_id < b.execution_id"
                    " AND a.started_at < b.finished_at AND b.started_at < a.finished_at");
        CHECK(overlaps == 0);
        /* the free workflow, behind the serial ones in the partition, was not held back */
        free_done_ms = itest_query_ll(&t, "SELECT (extract(epoch FROM max(e.finished_at) - (SELECT min(started_at)"
                                          " FROM runfleet.executions)) * 1000)::bigint"
                                          " FROM runfleet.executions e JOIN runfleet.decisions d USING (decision_id)"
                                          " WHERE d.workflow = 'free'");
        printf("# free workflow done %lld ms after the first start (serial needs >= 5000)\n", free_done_ms);
        CHECK(free_done_ms >= 0 && free_done_ms < 3500);
        CHECK(itest_query_ll(&t, "SELECT (extract(epoch FROM max(finished_at) - min(started_at)) * 1000)::bigint"
                                 " FROM runfleet.executions e JOIN runfleet.decisions d USING (decision_id)"
                                 " WHERE d.workflow = 'serial'") >= 5000);
        itest_finish(&t);
}

int main(void) {
        out_of_order();
        max_active_runs();
        return rf_test_finish();
}
