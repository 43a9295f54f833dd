/* SPDX-License-Identifier: Apache-2.0 */
/* A worker at worker.max_in_flight pauses its partitions after a second
 * (worker/intake.c) and then waits for its calls without burning the CPU:
 * once paused, the loop's wait must not keep coming back for the pause it
 * has already taken (loop_wait_ms). It used to, and spun on epoll_wait(0)
 * until an execution ended: a whole core for as long as slow scrapers kept
 * a full worker waiting. Then, below the mark again, it resumes and runs
 * the rest. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>

#include "itest.h"

#define DECISIONS 4
#define IN_FLIGHT 2
#define CALL_MS 5000
#define WINDOW_MS 2500
/* An idle worker uses a few hundredths of a second in the window (its
 * librdkafka threads, a turn every 500 ms at most); a spinning one, the
 * better part of a core for the whole window. */
#define IDLE_CPU_S 0.5

int main(void) {
        itest_t t;
        double cpu0, cpu1;
        pid_t worker;

        itest_init(&t, "full_wait");
        itest_config(&t,
                     "scrapers = ( { name = \"s\"; url = \"@FAKE@/%s/s?delay_ms=%d\"; timeout_ms = 30000; } );\n"
                     "workflows = ( { name = \"wf\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"];"
                     " overlap = \"allow\"; } );\n"
                     "worker = { max_in_flight = %d; };\n",
                     t.topic, CALL_MS, IN_FLIGHT);
        itest_migrate(&t);
        worker = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        CHECK(itest_decide(&t, "wf", DECISIONS, NULL) == DECISIONS);

        /* full for a second: paused, its calls still out */
        CHECK(itest_wait_log(&t, worker, "\"event\":\"consumer.paused\"", 30000));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'RUNNING'") == IN_FLIGHT);

        cpu0 = itest_cpu_seconds(worker);
        itest_sleep_ms(WINDOW_MS);
        cpu1 = itest_cpu_seconds(worker);
        printf("# worker CPU while paused and waiting %d ms: %.2f s\n", WINDOW_MS, cpu1 - cpu0);
        CHECK(!isnan(cpu0) && !isnan(cpu1));
        CHECK(cpu1 - cpu0 < IDLE_CPU_S);
        /* still waiting on the same calls: the window measured the wait */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") == 0);

        /* below the mark again: resumed, and the rest runs */
        CHECK(itest_wait_for(&t, DECISIONS, 60000,
                             "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        CHECK(itest_wait_log(&t, worker, "\"event\":\"consumer.resumed\"", 5000));
        CHECK(itest_invariant_violations(&t) == 0);
        kill(worker, SIGTERM);
        CHECK(itest_wait(worker, 30000) == 0);
        return itest_finish(&t);
}
