/* SPDX-License-Identifier: Apache-2.0 */
/* The worker never waits on PostgreSQL: with 1,000 executions of 2 s
 * scraper calls in flight, the database (postmaster and every backend) is
 * frozen with SIGSTOP for 15 s. The calls must finish on time all the same
 * (the duration the worker recorded for each is its own 2 s plus a margin
 * far below the stall), /healthz must keep answering, no offset may be
 * committed while nothing is recorded, and once the database is thawed
 * every execution is recorded and every offset committed. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "itest_pg.h"
#include "rf_util.h"

#define EXECUTIONS 1000
#define DELAY_MS 2000
#define STALL_MS 15000
/* A call that waited on the frozen database would take the stall's length
 * (15 s); one that did not, its own 2 s plus what a loaded machine adds. */
#define MARGIN_MS 3000

int main(void) {
        itest_t t;
        itest_pg_t db;
        itest_pg_t *hosts[] = { &db };
        char url[128], path[128];
        int http_port, frozen, healthz_ok = 0, healthz_bad = 0, avoid[1];
        long long committed_before = -1, committed_during = -1, end = -1, calls_during = -1, slowest;
        pid_t worker;

        itest_init(&t, "pg_stall");
        if (itest_pg_start(&t, &db, "db", NULL, "async", NULL, 0) < 0) {
                itest_pg_reset(&t, hosts, 1);
                return 1;
        }
        itest_pg_use(&t, hosts, 1);
        avoid[0] = db.port;
        http_port = itest_free_port(avoid, 1);
        itest_config(&t,
                     "scrapers = ( { name = \"slow\"; url = \"@FAKE@/stall-%s/slow?delay_ms=%d\"; timeout_ms = 20000;"
                     " max_tries = 1; } );\n"
                     "workflows = ( { name = \"slow\"; schedule = \"0 3 * * *\"; scrapers = [\"slow\"];"
                     " deadline_ms = 60000; } );\n"
                     /* a lease longer than the stall: one running out is the database's
                      * verdict, not what this test is about */
                     "worker = { max_in_flight = %d; lease_ms = 60000; heartbeat_ms = 1000; commit_interval_ms = 200;"
                     " drain_timeout_ms = 5000; };\n"
                     "http = { port = %d; };\n",
                     t.db_name, DELAY_MS, EXECUTIONS, http_port);
        itest_migrate(&t);
        worker = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", http_port);

        CHECK(itest_decide(&t, "slow", EXECUTIONS, NULL) == EXECUTIONS);
        /* every execution claimed: its call is in flight for 2 s from now */
        CHECK(itest_wait_for(&t, EXECUTIONS, 30000, "SELECT count(*) FROM runfleet.executions"));
        frozen = itest_pg_signal(&t, &db, SIGSTOP);
        CHECK(frozen > 1); /* the postmaster and its backends */
        itest_group_offsets(&t, t.topic, t.group, &committed_before, &end);
        printf("# PostgreSQL frozen (%d processes) with %lld messages, %lld committed\n", frozen, end,
               committed_before);

        for (int64_t thaw = rf_mono_ms() + STALL_MS; rf_mono_ms() < thaw;) {
                itest_reply_t r;
                itest_http("GET", url, &r);
                if (r.status == 200)
                        healthz_ok++;
                else
                        healthz_bad++;
                free(r.body);
                itest_sleep_ms(500);
        }
        {
                /* what readiness says at the end of the stall (printed: its bound
                 * on the database's silence is about the stall's length) */
                itest_reply_t r;
                char ready[128];
                snprintf(ready, sizeof(ready), "http://127.0.0.1:%d/readyz", http_port);
                itest_http("GET", ready, &r);
                printf("# /readyz at the end of the stall: %ld %.100s", r.status, r.body);
                free(r.body);
        }
        snprintf(path, sizeof(path), "/stall-%s/slow", t.db_name);
        {
                json_t *stats = itest_fake_stats_prefix(&t, path);
                calls_during = json_integer_value(json_object_get(json_object_get(stats, "paths"), path));
                json_decref(stats);
        }
        itest_group_offsets(&t, t.topic, t.group, &committed_during, &end);
        CHECK(itest_pg_signal(&t, &db, SIGCONT) == frozen);
        printf("# during the stall: /healthz 200 %d times, other %d; %lld calls made; committed %lld of %lld\n",
               healthz_ok, healthz_bad, calls_during, committed_during, end);
        CHECK(healthz_ok > 0 && healthz_bad == 0);
        CHECK(calls_during == EXECUTIONS);
        /* nothing was recorded, so nothing may have been committed */
        CHECK(committed_during == committed_before);

        /* thawed: every execution recorded, every offset committed */
        CHECK(itest_wait_for(&t, EXECUTIONS, 60000,
                             "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(itest_wait_committed(&t, t.topic, t.group, 30000));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls WHERE outcome = 'OK'") == EXECUTIONS);
        slowest = itest_query_ll(&t, "SELECT max(duration_ms) FROM runfleet.scraper_calls");
        printf("# calls: slowest %lld ms, median %lld ms (each asked for %d ms; the database was frozen %d ms)\n",
               slowest,
               itest_query_ll(&t, "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms)"
                                  " FROM runfleet.scraper_calls"),
               DELAY_MS, STALL_MS);
        CHECK(slowest >= DELAY_MS && slowest < DELAY_MS + MARGIN_MS);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.orphans") == 0);
        {
                char *log = itest_read_log(&t, worker);
                CHECK(log && !strstr(log, "execution.lease_lost"));
                free(log);
        }
        rf_test_failures += itest_cleanup(&t, rf_test_failures);
        itest_pg_reset(&t, hosts, 1);
        return rf_test_finish();
}
