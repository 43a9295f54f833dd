/* SPDX-License-Identifier: Apache-2.0 */
/* The Schema Registry down, with a registry of this test's own (a real
 * Apicurio, stopped and started again; in-memory, so `migrate` registers
 * the schema again and gets the same id back):
 *   - a `trigger` while it is down records the decision, produces nothing,
 *     and says so; the reaper, not ready meanwhile (/readyz names the
 *     registry), produces it once the registry answers;
 *   - a fresh worker meets a framed message whose id it cannot resolve: it
 *     dead-letters nothing, runs nothing, holds the partition, says so in
 *     its log and on /readyz (naming the registry), and runs the message
 *     once the registry is back;
 *   - a worker that has the id cached keeps running framed messages while
 *     the registry is down again. */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_conf.h"
#include "rf_sr.h"

static void count(const rd_kafka_message_t *m, void *arg) {
        (void)m;
        (*(int *)arg)++;
}

/* Messages in the DLQ topic now (reads to its end; 0 when empty). */
static int dead_letters(itest_t *t) {
        int n = 0;

        itest_read_topic(t, NULL, t->dlq_topic, 0, 10000, count, &n);
        return n;
}

/* Polls @p url every 250 ms, at most @p tries times, until it answers 503
 * naming the schema registry; prints the last answer as @p what. */
static bool not_ready_naming_registry(const char *url, int tries, const char *what) {
        itest_reply_t r;
        bool named = false;

        for (int i = 0; i < tries && !named; i++) {
                itest_sleep_ms(250);
                itest_http("GET", url, &r);
                named = r.status == 503 && r.body && strstr(r.body, "schema registry");
                if (named || i == tries - 1)
                        printf("# %s while down: %ld %s\n", what, r.status, r.body ? r.body : "");
                free(r.body);
        }
        return named;
}

int main(void) {
        itest_t t;
        char out[16384], url[200], http_env[64], readyz[64], *worker_env[] = { http_env, NULL };
        char reaper_http_env[64], reaper_readyz[64], *reaper_env[] = { reaper_http_env, NULL };
        itest_reply_t r;
        rf_conf_t *conf = NULL;
        int port, http_port, reaper_port, avoid[3];
        pid_t worker;

        itest_init(&t, "registry_down");
        itest_require_registry(&t); /* the shared one proves the app is installed and runs */
        port = itest_free_port(NULL, 0);
        avoid[0] = port;
        avoid[1] = port + 1; /* its management port */
        http_port = itest_free_port(avoid, 2);
        avoid[2] = http_port;
        reaper_port = itest_free_port(avoid, 3);
        CHECK(port > 0 && http_port > 0 && http_port != port && reaper_port > 0 && reaper_port != http_port);
        if (itest_start_registry(&t, port) != 0) {
                fprintf(stderr, "FAIL: could not start a schema registry on port %d; see %s/registry-script.log\n",
                        port, t.dir);
                CHECK(!"own registry started");
                return itest_finish(&t);
        }
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/apis/ccompat/v7", port);
        setenv("RUNFLEET_KAFKA_VALUE_FORMAT", "schema-registry", 1);
        t.partitions = 1;
        itest_config(&t,
                     "schema_registry = { url = \"%s\"; timeout_ms = 1000; };\n"
                     "scrapers = ( { name = \"s\"; url = \"@FAKE@/registry_down/s\"; } );\n"
                     "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                     "reaper = { interval_ms = 500; grace_ms = 6000; backoff_ms = 0; };\n",
                     url);
        /* not itest_migrate(): a failure must still reach itest_finish(),
         * which stops this test's registry and programs */
        CHECK(itest_run(&t, out, sizeof(out), 120000, NULL, "runfleet-producer", "migrate", NULL) == 0);

        /* this process frames like the programs (its id looked up now) */
        CHECK(rf_conf_load(t.config, &conf, out, sizeof(out)) == 0);
        CHECK(conf && rf_sr_setup(conf, out, sizeof(out)) == 0);
        CHECK(rf_sr_producer_check(out, sizeof(out)) == 0);

        /* one framed decision on the topic, then the registry goes away */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "trigger", "w", NULL) == 0);
        CHECK(itest_stop_registry(&t) == 0);

        /* a trigger now: recorded, not produced, and it says why */
        itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "trigger", "w", NULL);
        CHECK_CONTAINS(out, "decision.not_produced");
        CHECK_CONTAINS(out, "schema registry");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE delivered_at IS NULL") == 1);

        /* the reaper: not ready, naming the registry (it has no schema id) */
        snprintf(reaper_http_env, sizeof(reaper_http_env), "RUNFLEET_HTTP_PORT=%d", reaper_port);
        snprintf(reaper_readyz, sizeof(reaper_readyz), "http://127.0.0.1:%d/readyz", reaper_port);
        itest_spawn_env(&t, "reaper", reaper_env, "runfleet-reaper", NULL);
        CHECK(not_ready_naming_registry(reaper_readyz, 80, "reaper /readyz"));

        /* a fresh worker: cannot resolve the id; holds, dead-letters nothing */
        snprintf(http_env, sizeof(http_env), "RUNFLEET_HTTP_PORT=%d", http_port);
        snprintf(readyz, sizeof(readyz), "http://127.0.0.1:%d/readyz", http_port);
        worker = itest_spawn_env(&t, "worker", worker_env, "runfleet-worker", NULL);
        CHECK(not_ready_naming_registry(readyz, 60, "/readyz"));
        itest_sleep_ms(4000);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == 0);
        CHECK(dead_letters(&t) == 0);
        CHECK(itest_wait_log(&t, t.procs[t.proc_count - 1], "registry.unavailable", 5000));

        /* back (empty: in-memory), migrated again: the same id; the worker
         * runs the held message and the reaper produces the other. The
         * worker is frozen until the schema is registered again: an empty
         * registry answers 404 for id 1, which is a real unknown id (a dead
         * letter), not the outage this test is about */
        CHECK(kill(worker, SIGSTOP) == 0);
        CHECK(itest_start_registry(&t, port) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 120000, NULL, "runfleet-producer", "migrate", NULL) == 0);
        CHECK(kill(worker, SIGCONT) == 0);
        CHECK(itest_wait_for(&t, 2, 90000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE delivered_at IS NULL") == 0);
        itest_http("GET", readyz, &r);
        CHECK(r.status == 200);
        free(r.body);
        itest_http("GET", reaper_readyz, &r);
        CHECK(r.status == 200);
        free(r.body);

        /* down again: the worker has the id cached and keeps running framed messages */
        CHECK(itest_stop_registry(&t) == 0);
        CHECK(itest_decide(&t, "w", 3, NULL) == 3);
        CHECK(itest_wait_for(&t, 5, 60000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(dead_letters(&t) == 0);
        CHECK(itest_invariant_violations(&t) == 0);
        rf_sr_teardown();
        rf_conf_destroy(conf);
        return itest_finish(&t);
}
