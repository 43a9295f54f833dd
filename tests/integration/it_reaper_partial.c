/* SPDX-License-Identifier: Apache-2.0 */
/* A new attempt calls only the scrapers that have not yet succeeded: a
 * workflow of three scrapers whose middle one fails (HTTP 500) on attempt 1
 * is re-produced by the reaper with that scraper alone, and attempt 2 (the
 * scraper fixed, a worker with the fixed configuration) calls it alone.
 * The decision row keeps the full list. And the edge case: when every
 * scraper already has an OK call but the execution failed anyway, the new
 * attempt carries the full list again (see reaper/sweep.c). */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_conf.h"
#include "rf_decision.h"
#include "rf_store.h"
#include "rf_util.h"

typedef struct {
        const char *id;
        int attempt;
        char *out;
        size_t size;
} wanted_t;

static void note_scrapers(const rd_kafka_message_t *m, void *arg) {
        wanted_t *w = arg;
        rf_decision_t *d = NULL;
        char errstr[256];

        if (rf_decision_decode(m->payload, m->len, &d, errstr, sizeof(errstr)) == 0 &&
            strcmp(d->decision_id, w->id) == 0 && d->attempt == w->attempt) {
                size_t used = 0;
                for (size_t i = 0; i < d->scraper_count; i++)
                        used += (size_t)snprintf(w->out + used, w->size > used ? w->size - used : 0, "%s%s",
                                                 i ? "," : "", d->scrapers[i]);
        }
        rf_decision_destroy(d);
}

/* The scrapers, comma-separated, of the message for (@p id, @p attempt) in
 * the test's topic, into @p out ("" when there is none). */
static void message_scrapers(itest_t *t, const char *id, int attempt, char *out, size_t size) {
        out[0] = '\0';
        CHECK(itest_read_topic(t, NULL, t->topic, 0, 30000, note_scrapers,
                               &(wanted_t){ .id = id, .attempt = attempt, .out = out, .size = size }) >= 0);
}

#define CONFIG                                                                                                            \
        "scrapers = ( { name = \"first\"; url = \"@FAKE@/%s/first\"; },\n"                                                \
        "             { name = \"flaky\"; url = \"@FAKE@/%s/flaky%s\"; max_tries = 1; breaker_failures = 0; },\n"         \
        "             { name = \"last\"; url = \"@FAKE@/%s/last\"; } );\n"                                                \
        "workflows = ( { name = \"multi\"; schedule = \"0 3 * * *\"; scrapers = [\"first\", \"flaky\", \"last\"]; } );\n" \
        "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"                                 \
        "reaper = { interval_ms = 300; grace_ms = 8000; backoff_ms = 500; max_failed_executions = 3; };\n"

int main(void) {
        itest_t t;
        char out[4096], id[40] = "", names[256];
        pid_t worker;

        itest_init(&t, "reaper_partial");
        itest_own_fake_scraper(&t);
        /* before the fix: "flaky" answers 500 */
        itest_config(&t, CONFIG, t.topic, t.topic, "?status=500", t.topic);
        itest_migrate(&t);
        worker = itest_spawn(&t, "worker-broken", "runfleet-worker", NULL);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "multi", NULL) == 0);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'FAILED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls WHERE outcome = 'OK'") == 2);
        kill(worker, SIGTERM);
        CHECK(itest_wait(worker, 20000) == 0);
        for (int i = 0; i < t.proc_count; i++)
                if (t.procs[i] == worker)
                        t.procs[i] = 0;
        {
                PGresult *res = NULL;
                char errstr[256];
                if (rf_pg_exec(t.pg, "SELECT decision_id FROM runfleet.decisions", 0, NULL, &res, errstr,
                               sizeof(errstr)) == 0 &&
                    PQntuples(res) == 1)
                        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
                PQclear(res);
        }

        /* after the fix: a worker with it, and the reaper's retry */
        itest_config(&t, CONFIG, t.topic, t.topic, "", t.topic);
        itest_spawn(&t, "worker-fixed", "runfleet-worker", NULL);
        itest_spawn(&t, "reaper", "runfleet-reaper", NULL);
        CHECK(itest_wait_for(&t, 1, 60000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        itest_sleep_ms(1500);
        CHECK(itest_query_ll(&t, "SELECT attempt FROM runfleet.decisions") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls c JOIN runfleet.executions e"
                                 " USING (execution_id) WHERE e.attempt = 2") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls c JOIN runfleet.executions e"
                                 " USING (execution_id) WHERE e.attempt = 2 AND c.scraper = 'flaky'"
                                 " AND c.outcome = 'OK'") == 1);
        CHECK(itest_fake_path_count(&t, "first") == 1);
        CHECK(itest_fake_path_count(&t, "flaky") == 2);
        CHECK(itest_fake_path_count(&t, "last") == 1);
        message_scrapers(&t, id, 2, names, sizeof(names));
        CHECK_STR_EQ(names, "flaky");
        message_scrapers(&t, id, 1, names, sizeof(names));
        CHECK_STR_EQ(names, "first,flaky,last");
        /* the decision still names all three */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions"
                                 " WHERE scrapers = ARRAY['first', 'flaky', 'last']") == 1);

        /* every scraper succeeded, the execution failed anyway (say, it lost
         * its lease after its last call): the full list again */
        {
                rf_conf_t *conf = NULL;
                rf_decision_t *d = rf_decision_new();
                char errstr[512];

                CHECK(rf_conf_load(t.config, &conf, errstr, sizeof(errstr)) == 0);
                d->workflow = strdup("multi");
                d->reason = strdup("integration test: all calls OK, execution FAILED");
                d->deadline_ms = 60000;
                if (conf)
                        rf_decision_set_scrapers(d, rf_conf_workflow(conf, "multi")->scrapers, 3);
                CHECK(rf_store_insert_decision(t.pg, d, "RUN", -1, errstr, sizeof(errstr)) == 0);
                snprintf(id, sizeof(id), "%s", d->decision_id);
                rf_decision_destroy(d);
                rf_conf_destroy(conf);
        }
        itest_query_ll(&t,
                       "WITH e AS (INSERT INTO runfleet.executions (execution_id, decision_id, attempt, worker_id,"
                       " status, lease_until, finished_at, error) VALUES (gen_random_uuid(), '%s', 1, 'itest',"
                       " 'FAILED', now(), now(), 'itest: failed after its calls') RETURNING execution_id)"
                       " INSERT INTO runfleet.scraper_calls (execution_id, scraper, try, http_status, outcome,"
                       " duration_ms) SELECT e.execution_id, s, 1, 200, 'OK', 1"
                       " FROM e, unnest(ARRAY['first', 'flaky', 'last']) AS s",
                       id);
        itest_query_ll(&t,
                       "UPDATE runfleet.decisions SET state = 'FAILED', state_at = now() - interval '1 minute'"
                       " WHERE decision_id = '%s'",
                       id);
        CHECK(itest_wait_for(&t, 1, 60000,
                             "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED' AND decision_id = '%s'",
                             id));
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.scraper_calls c JOIN runfleet.executions e"
                             " USING (execution_id) WHERE e.decision_id = '%s' AND e.attempt = 2",
                             id) == 3);
        message_scrapers(&t, id, 2, names, sizeof(names));
        CHECK_STR_EQ(names, "first,flaky,last");
        CHECK(itest_fake_path_count(&t, "first") == 2);
        CHECK(itest_fake_path_count(&t, "flaky") == 3);
        CHECK(itest_fake_path_count(&t, "last") == 2);
        return itest_finish(&t);
}
