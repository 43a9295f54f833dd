/* SPDX-License-Identifier: Apache-2.0 */
/* Rebalances: a worker paused at its in-flight bound keeps its partitions
 * paused across a rebalance (it sets the pause state of every partition it
 * is assigned) and resumes them as work finishes, while a second worker joins and leaves; and an execution
 * far longer than max.poll.interval.ms never costs the worker its place in
 * the group. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static int count(const char *hay, const char *needle) {
        int n = 0;

        for (const char *p = hay; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

static void pause_across_rebalance(void) {
        itest_t t;
        char wf[3][32];
        pid_t a, b;
        char *log;

        itest_init(&t, "rebalance");
        itest_workflow_names(3, 3, wf);
        itest_config(&t,
                     "scrapers = ( { name = \"s\"; url = \"@FAKE@/rebalance/s?delay_ms=1000\"; } );\n"
                     "workflows = ( { name = \"%s\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; },\n"
                     "              { name = \"%s\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; },\n"
                     "              { name = \"%s\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                     "worker = { max_in_flight = 4; lease_ms = 10000; heartbeat_ms = 1000; commit_interval_ms = 100;"
                     " drain_timeout_ms = 10000; };\n",
                     wf[0], wf[1], wf[2]);
        itest_migrate(&t);
        for (int i = 0; i < 3; i++)
                CHECK(itest_decide(&t, wf[i], 20, NULL) == 20);
        a = itest_spawn(&t, "worker-a", "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT (count(*) >= 4)::int FROM runfleet.executions"));
        b = itest_spawn(&t, "worker-b", "runfleet-worker", NULL);
        itest_sleep_ms(6000);
        kill(b, SIGTERM);
        CHECK(itest_wait(b, 20000) == 0);
        CHECK(itest_wait_for(&t, 60, 120000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") == 60);
        /* the bound held in each worker */
        CHECK(itest_query_ll(&t, "SELECT max(n) FROM (SELECT (SELECT count(*) FROM runfleet.executions b"
                                 " WHERE b.worker_id = a.worker_id AND b.started_at <= a.started_at"
                                 " AND b.finished_at > a.started_at) AS n FROM runfleet.executions a) x") <= 4);
        log = itest_read_log(&t, a);
        CHECK(count(log, "\"consumer.paused\"") >= 1);
        CHECK(count(log, "\"consumer.resumed\"") >= 1);
        CHECK(count(log, "\"change\":\"revoked\"") >= 1);  /* b took partitions from a */
        CHECK(count(log, "\"change\":\"assigned\"") >= 2); /* and a got them back */
        free(log);
        itest_finish(&t);
}

static void long_execution(void) {
        itest_t t;
        char *log;
        pid_t w;

        itest_init(&t, "poll_interval");
        itest_config(
                &t,
                "scrapers = ( { name = \"s\"; url = \"@FAKE@/poll_interval/s?delay_ms=15000\"; timeout_ms = 60000; } );\n"
                "workflows = ( { name = \"long\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 100; };\n");
        /* the harness config already has a kafka group: override the interval from the environment */
        itest_migrate(&t);
        {
                char *env[] = { "RUNFLEET_KAFKA_MAX_POLL_INTERVAL_MS=6000", NULL };
                w = itest_spawn_env(&t, "worker", env, "runfleet-worker", NULL);
        }
        CHECK(itest_decide(&t, "long", 1, NULL) == 1);
        CHECK(itest_wait_for(&t, 1, 60000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == 1);
        CHECK(itest_query_ll(&t, "SELECT (extract(epoch FROM finished_at - started_at) * 1000)::bigint"
                                 " FROM runfleet.executions") >= 15000);
        log = itest_read_log(&t, w);
        /* one assignment at start, never revoked or re-joined */
        CHECK(count(log, "\"change\":\"assigned\"") == 1);
        CHECK(count(log, "\"change\":\"revoked\"") == 0);
        CHECK(count(log, "max.poll.interval") == 0);
        free(log);
        itest_finish(&t);
}

int main(void) {
        pause_across_rebalance();
        long_execution();
        return rf_test_finish();
}
