/* SPDX-License-Identifier: Apache-2.0 */
/* The evaluator on the real database and broker, in America/New_York:
 * a workflow whose only run this morning FAILED is decided RUN at the next
 * tick (the regression this project exists for), with the reason recorded;
 * a dependent workflow waits for it and runs once it has succeeded; a
 * workflow outside its window SKIPs with the reason; two `evaluate --every`
 * replicas decide each tick once, one of them standing by. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "itest.h"
#include "rf_util.h"

#define MORNING "00000000-0000-4000-8000-00000000f001"

static int count_in(const char *hay, const char *needle) {
        int n = 0;

        for (const char *p = hay; hay && (p = strstr(p, needle)); p++)
                n++;
        return n;
}

int main(void) {
        itest_t t;
        char out[8192], window[16];
        long long second;
        pid_t ev[2];
        int hour;

        itest_init(&t, "evaluate");
        /* the failed run is placed 40 s back and must be "this morning", the
         * same local day as the next ticks: from 40 s after local midnight
         * (with a margin) to 2 minutes before the next, which the test needs
         * at most. Outside that, wait for 00:01: at most 3 minutes, well
         * within the test's timeout. */
        second = itest_query_ll(&t, "SELECT extract(epoch FROM (now() AT TIME ZONE 'America/New_York')::time)::bigint");
        if (second < 60 || second > 86400 - 120) {
                printf("# waiting for local midnight to pass\n");
                itest_sleep_ms((int)((second < 60 ? 60 - second : 86400 - second + 60) * 1000));
        }
        hour = (int)(itest_query_ll(&t, "SELECT extract(hour FROM now() AT TIME ZONE 'America/New_York')::bigint"));
        snprintf(window, sizeof(window), "%02d:00-%02d:00", (hour + 2) % 24, (hour + 3) % 24);

        itest_config(&t,
                     "producer = { timezone = \"America/New_York\"; };\n"
                     "scrapers = ( { name = \"s\"; url = \"@FAKE@/evaluate/s?delay_ms=10\"; } );\n"
                     "workflows = (\n"
                     "  { name = \"ref\"; schedule = \"* * * * *\"; scrapers = [\"s\"]; max_runs_per_day = 1; },\n"
                     "  { name = \"gated\"; schedule = \"* * * * *\"; scrapers = [\"s\"]; max_runs_per_day = 1;\n"
                     "    after = [\"ref\"]; },\n"
                     "  { name = \"closed\"; schedule = \"* * * * *\"; scrapers = [\"s\"]; window = \"%s\"; }\n"
                     ");\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n",
                     window);
        itest_migrate(&t);

        /* this morning's only run of ref FAILED (and no reaper will retry it here) */
        itest_query_str(&t, "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, decided_at, tick,"
                            " scrapers, attempt, state, trace_id) VALUES ('" MORNING "', 'ref', 'RUN', 'morning run',"
                            " now() - interval '40 seconds', NULL, '{s}', 5, 'FAILED', 't')");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions") == 1);

        /* one tick, one-shot */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "evaluate", NULL) == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'ref' AND action = 'RUN'"
                                 " AND decision_id <> '" MORNING "' AND reason LIKE"
                                 " 'scheduled: tick __:__ America/New_York; previous run today FAILED"
                                 " (decision 0000f001, __:__) does not count, running again'") == 1);
        CHECK_STR_EQ(
                itest_query_str(&t, "SELECT action || ': ' || reason FROM runfleet.decisions WHERE workflow = 'gated'"),
                "SKIP: waiting for ref (its run today is still in progress)");
        CHECK_CONTAINS(itest_query_str(&t, "SELECT action || ': ' || reason FROM runfleet.decisions"
                                           " WHERE workflow = 'closed'"),
                       "SKIP: outside window ");
        CHECK_CONTAINS(itest_query_str(&t, "SELECT reason FROM runfleet.decisions WHERE workflow = 'closed'"), window);
        /* the tick is the schedule's minute, recorded */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE decision_id <> '" MORNING "'"
                                 " AND extract(second FROM tick) = 0") == 3);
        /* evaluating the same tick again decides nothing new (unless the minute turned) */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "evaluate", NULL) == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM (SELECT workflow, tick FROM runfleet.decisions"
                                 " WHERE tick IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) x") == 0);

        /* the worker runs it; the morning failure is left as it was */
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, 1, 60000,
                             "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'ref' AND state = 'SUCCEEDED'"));
        CHECK_STR_EQ(itest_query_str(&t, "SELECT state FROM runfleet.decisions WHERE decision_id = '" MORNING "'"),
                     "FAILED");

        /* two replicas evaluate the next ticks: ref has run today, gated may now run */
        ev[0] = itest_spawn(&t, "evaluator0", "runfleet-producer", "evaluate", "--every", "1s", NULL);
        ev[1] = itest_spawn(&t, "evaluator1", "runfleet-producer", "evaluate", "--every", "1s", NULL);
        CHECK(itest_wait_for(&t, 1, 75000,
                             "SELECT least(count(*), 1) FROM runfleet.decisions WHERE workflow = 'ref'"
                             " AND action = 'SKIP' AND reason LIKE 'already succeeded today at __:__ (decision %%)'"));
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'gated' AND action = 'RUN'"));
        CHECK_CONTAINS(itest_query_str(
                               &t, "SELECT reason FROM runfleet.decisions WHERE workflow = 'gated' AND action = 'RUN'"),
                       "; ref succeeded at ");
        CHECK(itest_wait_for(
                &t, 1, 60000,
                "SELECT count(*) FROM runfleet.decisions WHERE workflow = 'gated' AND state = 'SUCCEEDED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM (SELECT workflow, tick FROM runfleet.decisions"
                                 " WHERE tick IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1) x") == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") == 2);
        {
                char *log0 = itest_read_log(&t, ev[0]), *log1 = itest_read_log(&t, ev[1]);
                int active = count_in(log0, "\"active\":true") + count_in(log1, "\"active\":true");
                int standby = count_in(log0, "\"active\":false") + count_in(log1, "\"active\":false");

                /* one holds the lock for good, the other never evaluates */
                CHECK(active == 1);
                CHECK(standby == 1);
                free(log0);
                free(log1);
        }

        /* a decision Kafka never acknowledged is not logged as produced
         * (it was, for every decision of the batch, until issue 14) */
        {
                int port = itest_free_port(NULL, 0);
                char brokers[64], *env[] = { brokers, "RUNFLEET_KAFKA_DELIVERY_TIMEOUT_MS=1000", NULL };

                snprintf(brokers, sizeof(brokers), "RUNFLEET_KAFKA_BROKERS=127.0.0.1:%d", port);
                CHECK(itest_run(&t, out, sizeof(out), 60000, env, "runfleet-producer", "trigger", "ref", "--reason",
                                "no broker", NULL) == 1);
                CHECK_CONTAINS(out, "\"event\":\"decision.not_produced\"");
                CHECK_CONTAINS(out,
                               "recorded, not produced (Kafka did not acknowledge it, or the schema registry did not "
                               "answer); the reaper will produce it");
                CHECK(strstr(out, "\"event\":\"decision.produced\"") == NULL);
                CHECK(itest_query_ll(
                              &t, "SELECT count(*) FROM runfleet.decisions WHERE reason = 'manual trigger: no broker'"
                                  " AND delivered_at IS NULL") == 1);
        }
        return itest_finish(&t);
}
