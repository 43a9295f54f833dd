/* SPDX-License-Identifier: Apache-2.0 */
/* /metrics, /healthz and /readyz of a real worker, reaper and evaluator:
 * after one decision succeeds the worker's scrape counts it, every scrape
 * passes `promtool check metrics`, and a worker draining on SIGTERM reports
 * not ready while its last execution finishes. */
#include <curl/curl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"
#include "rf_util.h"

/* GET http://127.0.0.1:PORT/PATH; status 0 when nothing answered. The
 * caller frees r->body. */
static void get(int port, const char *path, itest_reply_t *r) {
        char url[128];

        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
        itest_http("GET", url, r);
}

/* Polls PORT/PATH until it answers @p status with a body containing
 * @p needle (NULL: any), for at most @p timeout_ms. */
static bool wait_http(int port, const char *path, long status, const char *needle, int timeout_ms) {
        int64_t until = rf_mono_ms() + timeout_ms;
        itest_reply_t r;

        do {
                get(port, path, &r);
                if (r.status == status && (!needle || strstr(r.body, needle))) {
                        free(r.body);
                        return true;
                }
                free(r.body);
                itest_sleep_ms(200);
        } while (rf_mono_ms() < until);
        get(port, path, &r);
        fprintf(stderr, "# GET :%d%s gave %ld, wanted %ld%s%s; body:\n%s\n", port, path, r.status, status,
                needle ? " with " : "", needle ? needle : "", r.body);
        free(r.body);
        return false;
}

static bool promtool_present(void) {
        return system("command -v promtool >/dev/null 2>&1") == 0;
}

/* A real scrape through `promtool check metrics`. */
static bool promtool_accepts(itest_t *t, int port, const char *name) {
        char path[700], cmd[800];
        itest_reply_t r;
        FILE *f;
        int status;

        get(port, "/metrics", &r);
        snprintf(path, sizeof(path), "%s/scrape-%s.txt", t->dir, name);
        f = fopen(path, "w");
        if (!f) {
                free(r.body);
                return false;
        }
        fwrite(r.body, 1, r.len, f);
        fclose(f);
        free(r.body);
        if (r.status != 200)
                return false;
        snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' >&2", path);
        status = system(cmd);
        if (status != 0)
                fprintf(stderr, "# promtool rejected %s\n", path);
        return status == 0;
}

static void check_promtool(itest_t *t, int port, const char *name) {
        const char *require = getenv("RUNFLEET_REQUIRE_SERVICES");

        if (promtool_present()) {
                CHECK(promtool_accepts(t, port, name));
                return;
        }
        if (require && strcmp(require, "1") == 0) {
                fprintf(stderr, "promtool is not installed (scripts/install-deps installs prometheus)\n");
                CHECK(!"promtool installed");
        } else
                printf("# promtool not installed: not checking the %s scrape\n", name);
}

int main(void) {
        itest_t t;
        int base = 19500 + (int)(getpid() % 130) * 3;
        int worker_port = base, reaper_port = base + 1, producer_port = base + 2;
        char reaper_env[64], producer_env[64];
        char *reaper_envp[] = { reaper_env, NULL }, *producer_envp[] = { producer_env, NULL };
        itest_reply_t r;
        pid_t worker;
        int code;

        curl_global_init(CURL_GLOBAL_DEFAULT);
        itest_init(&t, "metrics");
        itest_config(&t,
                     "scrapers = (\n"
                     "  { name = \"fast\"; url = \"@FAKE@/metrics/fast?delay_ms=10\"; timeout_ms = 10000; },\n"
                     "  { name = \"slow\"; url = \"@FAKE@/metrics/slow?delay_ms=5000\"; timeout_ms = 30000; }\n"
                     ");\n"
                     "workflows = (\n"
                     "  { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"fast\"]; },\n"
                     "  { name = \"slow\"; schedule = \"0 3 * * *\"; scrapers = [\"slow\"]; },\n"
                     "  { name = \"tick\"; schedule = \"@every 1s\"; scrapers = [\"fast\"]; enabled = false; }\n"
                     ");\n"
                     "worker = { lease_ms = 10000; heartbeat_ms = 1000; commit_interval_ms = 200;"
                     " drain_timeout_ms = 20000; };\n"
                     "reaper = { interval_ms = 1000; };\n"
                     "http = { listen = \"127.0.0.1\"; port = %d; };\n",
                     worker_port);
        itest_migrate(&t);
        snprintf(reaper_env, sizeof(reaper_env), "RUNFLEET_HTTP_PORT=%d", reaper_port);
        snprintf(producer_env, sizeof(producer_env), "RUNFLEET_HTTP_PORT=%d", producer_port);

        worker = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        itest_spawn_env(&t, "reaper", reaper_envp, "runfleet-reaper", NULL);

        /* the worker: ready, then one decision through it */
        CHECK(wait_http(worker_port, "/readyz", 200, "ready", 30000));
        CHECK(wait_http(worker_port, "/metrics", 200, "runfleet_partitions_assigned 3\n", 30000));
        CHECK(itest_decide(&t, "w", 1, NULL) == 1);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(wait_http(worker_port, "/metrics", 200,
                        "runfleet_executions_finished_total{workflow=\"w\",status=\"SUCCEEDED\"} 1\n", 5000));
        get(worker_port, "/metrics", &r);
        CHECK(r.status == 200);
        CHECK_CONTAINS(r.body, "# TYPE runfleet_executions_finished_total counter\n");
        CHECK_CONTAINS(r.body, "runfleet_executions_finished_total{workflow=\"slow\",status=\"FAILED\"} 0\n");
        CHECK_CONTAINS(r.body, "runfleet_executions_started_total{workflow=\"w\"} 1\n");
        CHECK_CONTAINS(r.body, "runfleet_messages_consumed_total 1\n");
        CHECK_CONTAINS(r.body, "runfleet_execution_duration_seconds_count{workflow=\"w\"} 1\n");
        CHECK_CONTAINS(r.body, "runfleet_scraper_call_duration_seconds_count{scraper=\"fast\",outcome=\"OK\"} 1\n");
        CHECK_CONTAINS(r.body, "runfleet_dlq_messages_total{reason=\"undecodable\"} 0\n");
        CHECK_CONTAINS(r.body, "runfleet_executions_in_flight 0\n");
        CHECK_CONTAINS(r.body, "runfleet_consumer_paused 0\n");
        CHECK_CONTAINS(r.body, "runfleet_circuit_breaker_state{scraper=\"fast\",state=\"closed\"} 1\n");
        CHECK_CONTAINS(r.body, "runfleet_build_info{program=\"runfleet-worker\",version=\"" RF_VERSION "\"} 1\n");
        free(r.body);
        /* lag comes from librdkafka's statistics (every 5 s), for partitions with a committed offset */
        {
                char lag[300];
                snprintf(lag, sizeof(lag), "runfleet_consumer_lag{topic=\"%s\",partition=\"", t.topic);
                CHECK(wait_http(worker_port, "/metrics", 200, lag, 20000));
                get(worker_port, "/metrics", &r);
                for (const char *p = strstr(r.body, lag); p; p = strstr(p + 1, lag)) {
                        const char *v = strchr(p, ' ');
                        CHECK(v && strncmp(v, " 0\n", 3) == 0); /* everything consumed was committed */
                }
                free(r.body);
        }
        check_promtool(&t, worker_port, "worker");
        get(worker_port, "/healthz", &r);
        CHECK(r.status == 200);
        CHECK_STR_EQ(r.body, "ok\n");
        free(r.body);
        get(worker_port, "/nothing", &r);
        CHECK(r.status == 404);
        free(r.body);

        /* the reaper */
        CHECK(wait_http(reaper_port, "/readyz", 200, "ready\n", 20000));
        CHECK(wait_http(reaper_port, "/metrics", 200, "runfleet_reaper_sweeps_total{result=\"done\"} ", 10000));
        get(reaper_port, "/metrics", &r);
        CHECK_CONTAINS(r.body, "runfleet_reaper_decisions_dead_total 0\n");
        CHECK_CONTAINS(r.body, "runfleet_reaper_orphans_found_total 0\n");
        CHECK_CONTAINS(r.body, "runfleet_build_info{program=\"runfleet-reaper\"");
        CHECK(!strstr(r.body, "runfleet_reaper_sweeps_total{result=\"done\"} 0\n"));
        free(r.body);
        check_promtool(&t, reaper_port, "reaper");
        CHECK(wait_http(reaper_port, "/healthz", 200, "ok\n", 1000));

        /* the evaluator: a disabled workflow every second, so SKIP decisions and nothing to run */
        itest_spawn_env(&t, "producer", producer_envp, "runfleet-producer", "evaluate", "--every", "1s", NULL);
        CHECK(wait_http(producer_port, "/metrics", 200,
                        "runfleet_decisions_evaluated_total{workflow=\"tick\",action=\"SKIP\"} ", 15000));
        CHECK(wait_http(producer_port, "/metrics", 200, "runfleet_decisions_produced_total 0\n", 1000));
        /* the counter is there from the start, at 0: wait for the first tick to count */
        for (int i = 0; i < 150; i++) {
                get(producer_port, "/metrics", &r);
                if (r.body &&
                    !strstr(r.body, "runfleet_decisions_evaluated_total{workflow=\"tick\",action=\"SKIP\"} 0\n"))
                        break;
                free(r.body);
                r.body = NULL;
                itest_sleep_ms(100);
        }
        CHECK(r.body && !strstr(r.body, "runfleet_decisions_evaluated_total{workflow=\"tick\",action=\"SKIP\"} 0\n"));
        CHECK_CONTAINS(r.body, "runfleet_decisions_evaluated_total{workflow=\"w\",action=\"RUN\"} 0\n");
        CHECK_CONTAINS(r.body, "runfleet_build_info{program=\"runfleet-producer\"");
        free(r.body);
        CHECK(wait_http(producer_port, "/readyz", 200, "ready\n", 10000));
        CHECK(wait_http(producer_port, "/healthz", 200, "ok\n", 1000));
        check_promtool(&t, producer_port, "producer");

        /* draining: a 5-second call in flight, SIGTERM, /readyz turns 503 until the worker exits */
        CHECK(itest_decide(&t, "slow", 1, NULL) == 1);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'RUNNING'"));
        kill(worker, SIGTERM);
        CHECK(wait_http(worker_port, "/readyz", 503, "not ready: draining", 3000));
        CHECK(wait_http(worker_port, "/healthz", 200, "ok\n", 1000)); /* alive while it drains */
        code = itest_wait(worker, 25000);
        CHECK(code == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") == 2);
        get(worker_port, "/healthz", &r);
        CHECK(r.status == 0); /* stopped with the worker */
        free(r.body);

        code = itest_finish(&t);
        curl_global_cleanup();
        return code;
}
