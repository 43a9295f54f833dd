/* SPDX-License-Identifier: Apache-2.0 */
/* Worker benchmark: figures, never assertions. For one worker process:
 * executions per second with zero-latency scrapers, the most executions in
 * flight at once with 2-second scrapers, and the worker's peak RSS with
 * 1,000 executions in flight. Uses the integration harness (real Kafka,
 * PostgreSQL and fake scraper); run through bench/run-worker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "itest.h"
#include "rf_util.h"

static double throughput(int n) {
        itest_t t;
        int64_t t0;
        double secs;

        itest_init(&t, "bench_throughput");
        itest_config(&t, "scrapers = ( { name = \"zero\"; url = \"@FAKE@/bench/zero\"; } );\n"
                         "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"zero\"]; } );\n"
                         "worker = { max_in_flight = 1000; commit_interval_ms = 500; };\n");
        itest_migrate(&t);
        itest_decide(&t, "w", n, NULL);
        t0 = rf_mono_ms();
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        itest_wait_for(&t, n, 600000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'");
        secs = (double)(rf_mono_ms() - t0) / 1000.0;
        itest_finish(&t);
        return n / secs;
}

static long in_flight(int n, int delay_ms, long *ret_rss_kb) {
        itest_t t;
        long overlap;
        pid_t w;

        itest_init(&t, "bench_in_flight");
        itest_config(
                &t,
                "scrapers = ( { name = \"slow\"; url = \"@FAKE@/bench/slow?delay_ms=%d\"; timeout_ms = 60000; } );\n"
                "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"slow\"]; } );\n"
                "worker = { max_in_flight = %d; lease_ms = 60000; heartbeat_ms = 5000; commit_interval_ms = 500; };\n",
                delay_ms, n);
        itest_migrate(&t);
        itest_decide(&t, "w", n, NULL);
        w = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        itest_wait_for(&t, n, 600000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'");
        *ret_rss_kb = itest_peak_rss_kb(w);
        overlap = (long)itest_query_ll(
                &t, "WITH c AS (SELECT started_at AS s, started_at + duration_ms * interval '1 ms' AS e"
                    "             FROM runfleet.scraper_calls)"
                    " SELECT max(n) FROM (SELECT (SELECT count(*) FROM c b WHERE b.s <= a.s AND b.e > a.s)"
                    " AS n FROM c a) x");
        itest_finish(&t);
        return overlap;
}

int main(int argc, char **argv) {
        int n = argc > 1 ? atoi(argv[1]) : 5000;
        struct utsname u;
        long rss_2000 = -1, rss_1000 = -1, most, most_1000;
        double rate;

        uname(&u);
        rate = throughput(n);
        most = in_flight(2000, 2000, &rss_2000);
        most_1000 = in_flight(1000, 2000, &rss_1000);
        printf("\nrunfleet worker benchmark (one worker process)\n");
        printf("machine: %s %s, %ld cores, %ld MB memory; Kafka, PostgreSQL and the fake scraper on the same machine\n",
               u.sysname, u.machine, sysconf(_SC_NPROCESSORS_ONLN),
               sysconf(_SC_PHYS_PAGES) / 1024 * sysconf(_SC_PAGESIZE) / 1024);
        printf("| figure | value |\n|---|---|\n");
        printf("| executions/s, %d decisions, zero-latency scraper | %.0f |\n", n, rate);
        printf("| most in flight at once, 2,000 decisions of 2 s | %ld |\n", most);
        printf("| peak RSS, 2,000 in flight | %.1f MB |\n", rss_2000 / 1024.0);
        printf("| most in flight at once, 1,000 decisions of 2 s | %ld |\n", most_1000);
        printf("| peak RSS, 1,000 in flight | %.1f MB |\n", rss_1000 / 1024.0);
        return 0;
}
