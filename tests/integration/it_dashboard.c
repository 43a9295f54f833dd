/* SPDX-License-Identifier: Apache-2.0 */
/* The Grafana dashboard (deploy/grafana/runfleet.json) against a live fleet:
 * a real worker, reaper and evaluator serve /metrics after one decision ran,
 * and tests/deploy/check_dashboard.py --live-only checks that every metric
 * the dashboard's expressions name is a series of those scrapes, with the
 * labels and label values the expressions use, and that every expression
 * returns series from a real Prometheus (Debian's) scraping the three. A
 * metric renamed in a program fails here. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"
#include "rf_util.h"

/* Polls 127.0.0.1:PORT/metrics until every needle is in it, then writes the
 * scrape to @p path. */
static bool scrape(int port, const char *const *needles, const char *path, int timeout_ms) {
        int64_t until = rf_mono_ms() + timeout_ms;
        char url[128];
        itest_reply_t r;
        FILE *f;

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
        for (;;) {
                bool all = true;

                itest_http("GET", url, &r);
                for (size_t i = 0; r.status == 200 && needles[i] && all; i++)
                        all = strstr(r.body, needles[i]) != NULL;
                if (r.status == 200 && all)
                        break;
                if (rf_mono_ms() >= until) {
                        fprintf(stderr, "# :%d/metrics (status %ld) lacks one of the awaited series:\n%s\n", port,
                                r.status, r.body ? r.body : "");
                        free(r.body);
                        return false;
                }
                free(r.body);
                itest_sleep_ms(250);
        }
        f = fopen(path, "w");
        if (f) {
                fwrite(r.body, 1, r.len, f);
                fclose(f);
        }
        free(r.body);
        return f != NULL;
}

int main(void) {
        static const char *const worker_needles[] = { "runfleet_execution_duration_seconds_bucket{",
                                                      "runfleet_scraper_call_duration_seconds_bucket{",
                                                      "runfleet_consumer_lag{",
                                                      "runfleet_circuit_breaker_state{",
                                                      "runfleet_rate_limit_waits_total ",
                                                      NULL };
        static const char *const reaper_needles[] = { "runfleet_reaper_sweep_duration_seconds_bucket{",
                                                      "runfleet_reaper_decisions_dead_total ", NULL };
        static const char *const producer_needles[] = { "runfleet_decisions_produced_total ",
                                                        "runfleet_ticks_missed_total{", NULL };
        int worker_port, reaper_port, producer_port;
        char reaper_env[64], producer_env[64], src[512], files[3][700];
        char *reaper_envp[] = { reaper_env, NULL }, *producer_envp[] = { producer_env, NULL };
        itest_t t;
        int code, rc;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        itest_init(&t, "dashboard");
        worker_port = itest_free_port(NULL, 0);
        reaper_port = itest_free_port((int[]){ worker_port }, 1);
        producer_port = itest_free_port((int[]){ worker_port, reaper_port }, 2);
        itest_config(&t,
                     "scrapers = (\n"
                     "  { name = \"fast\"; url = \"@FAKE@/dashboard/fast?delay_ms=10\"; timeout_ms = 10000;"
                     " rate_per_s = 100; breaker_failures = 5; }\n"
                     ");\n"
                     "workflows = (\n"
                     "  { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"fast\"]; alert_after = \"1h\"; },\n"
                     "  { name = \"tick\"; schedule = \"@every 1s\"; scrapers = [\"fast\"]; enabled = false; }\n"
                     ");\n"
                     "worker = { lease_ms = 10000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                     "reaper = { interval_ms = 1000; };\n"
                     "http = { listen = \"127.0.0.1\"; port = %d; };\n",
                     worker_port);
        itest_migrate(&t);
        snprintf(reaper_env, sizeof(reaper_env), "RUNFLEET_HTTP_PORT=%d", reaper_port);
        snprintf(producer_env, sizeof(producer_env), "RUNFLEET_HTTP_PORT=%d", producer_port);

        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        itest_spawn_env(&t, "reaper", reaper_envp, "runfleet-reaper", NULL);
        itest_spawn_env(&t, "producer", producer_envp, "runfleet-producer", "evaluate", "--every", "1s", NULL);
        CHECK(itest_decide(&t, "w", 1, NULL) == 1);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));

        snprintf(files[0], sizeof(files[0]), "%s/scrape-worker.txt", t.dir);
        snprintf(files[1], sizeof(files[1]), "%s/scrape-reaper.txt", t.dir);
        snprintf(files[2], sizeof(files[2]), "%s/scrape-producer.txt", t.dir);
        /* lag comes with librdkafka's statistics, every 5 s */
        CHECK(scrape(worker_port, worker_needles, files[0], 30000));
        CHECK(scrape(reaper_port, reaper_needles, files[1], 20000));
        CHECK(scrape(producer_port, producer_needles, files[2], 20000));

        itest_source_root(&t, src, sizeof(src));
        CHECK(src[0] != '\0');
        /* the checker itself: exit 0 with every name found in the scrapes,
         * and every expression returning series from a real Prometheus
         * scraping the three programs */
        rc = itest_sh("'%s/tests/deploy/run' check_dashboard --live-only --scrape '%s' --scrape '%s' --scrape '%s'"
                      " --target runfleet-worker=127.0.0.1:%d --target runfleet-reaper=127.0.0.1:%d"
                      " --target runfleet-evaluator=127.0.0.1:%d >&2",
                      src, files[0], files[1], files[2], worker_port, reaper_port, producer_port);
        /* 77: Debian's prometheus is missing and RUNFLEET_REQUIRE_SERVICES is not 1 */
        if (rc == 77)
                printf("# prometheus not installed (scripts/install-deps): expressions not queried\n");
        else
                CHECK(rc == 0);
        /* and it does fail on a scrape without the worker's series */
        CHECK(itest_sh("'%s/tests/deploy/run' check_dashboard --live-only --scrape '%s' --scrape '%s' >/dev/null 2>&1",
                       src, files[1], files[2]) == 1);

        code = itest_finish(&t);
        curl_global_cleanup();
        return code;
}
