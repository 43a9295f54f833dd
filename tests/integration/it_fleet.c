/* SPDX-License-Identifier: Apache-2.0 */
/* 100 RUN decisions over 3 workflows, 3 worker processes: every decision
 * ends with exactly one SUCCEEDED execution, every worker took part, each
 * Idempotency-Key reached each scraper once, and the group committed
 * everything it consumed. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_kafka.h"
#include "rf_store.h"

#define DECISIONS 100
#define WORKERS 3

static int last_assigned(const char *log) {
        const char *p = log, *hit = NULL;

        while ((p = strstr(p, "\"now_assigned\":"))) {
                hit = p;
                p++;
        }
        return hit ? atoi(hit + strlen("\"now_assigned\":")) : -1;
}

int main(void) {
        itest_t t;
        char wf[3][32];
        pid_t workers[WORKERS];
        rf_conf_t *conf = NULL;
        rf_pg_t *pg = NULL;
        rd_kafka_t *rk = NULL;
        rf_decision_t *ds[DECISIONS];
        char errstr[1024];
        size_t delivered = 0;
        int stable = 0;

        itest_init(&t, "fleet");
        itest_workflow_names(3, 3, wf);
        itest_config(&t,
                     "scrapers = (\n"
                     "  { name = \"a\"; url = \"@FAKE@/fleet/a?delay_ms=20\"; timeout_ms = 10000; },\n"
                     "  { name = \"b\"; url = \"@FAKE@/fleet/b?delay_ms=50\"; timeout_ms = 10000; },\n"
                     "  { name = \"c\"; url = \"@FAKE@/fleet/c\"; timeout_ms = 10000; }\n"
                     ");\n"
                     "workflows = (\n"
                     "  { name = \"%s\"; schedule = \"0 0 1 1 *\"; scrapers = [\"a\", \"b\"]; },\n"
                     "  { name = \"%s\"; schedule = \"0 0 1 1 *\"; scrapers = [\"c\"]; },\n"
                     "  { name = \"%s\"; schedule = \"0 0 1 1 *\"; scrapers = [\"a\", \"b\", \"c\"]; }\n"
                     ");\n"
                     "worker = { lease_ms = 10000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n",
                     wf[0], wf[1], wf[2]);
        itest_migrate(&t);

        for (int i = 0; i < WORKERS; i++) {
                char log[16];
                snprintf(log, sizeof(log), "worker%d", i);
                workers[i] = itest_spawn(&t, log, "runfleet-worker", NULL);
        }
        /* produce only once the group has settled on one partition per worker */
        for (int tries = 0; tries < 120 && !stable; tries++) {
                stable = 1;
                for (int i = 0; i < WORKERS; i++) {
                        char *log = itest_read_log(&t, workers[i]);
                        stable &= last_assigned(log) == 1;
                        free(log);
                }
                if (!stable)
                        itest_sleep_ms(500);
        }
        CHECK(stable);

        CHECK(rf_conf_load(t.config, &conf, errstr, sizeof(errstr)) == 0);
        CHECK(rf_pg_connect(conf->database.url, "itest", &pg, errstr, sizeof(errstr)) == 0);
        CHECK(rf_kafka_producer_new(conf, "itest", rf_store_dr_cb, NULL, &rk, errstr, sizeof(errstr)) == 0);
        for (int i = 0; i < DECISIONS; i++) {
                const rf_workflow_conf_t *w = &conf->workflows[i % 3];
                ds[i] = rf_decision_new();
                ds[i]->workflow = strdup(w->name);
                ds[i]->reason = strdup("integration test");
                ds[i]->deadline_ms = w->deadline_ms;
                rf_decision_set_scrapers(ds[i], w->scrapers, w->scraper_count);
                if (rf_store_insert_decision(pg, ds[i], "RUN", -1, errstr, sizeof(errstr)) < 0) {
                        fprintf(stderr, "insert: %s\n", errstr);
                        CHECK(0);
                }
        }
        if (rf_store_publish(rk, pg, conf->kafka.topic, ds, DECISIONS, 30000, &delivered, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "publish: %s\n", errstr);
                CHECK(0);
        }
        CHECK(delivered == DECISIONS);

        CHECK(itest_wait_for(&t, DECISIONS, 90000,
                             "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") == DECISIONS);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM (SELECT decision_id FROM runfleet.executions"
                                 " WHERE status = 'SUCCEEDED' GROUP BY 1 HAVING count(*) > 1) x") == 0);
        CHECK(itest_query_ll(&t, "SELECT count(DISTINCT worker_id) FROM runfleet.executions") == WORKERS);
        /* a: workflows 0 and 2; b: 0 and 2; c: 1 and 2 → 34+33 = 67 calls each for a and b, 33+33 for c */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls WHERE outcome = 'OK'") ==
              34 * 2 + 33 * 1 + 33 * 3);

        {
                json_t *stats = itest_fake_stats_prefix(&t, "/fleet/");
                json_t *keys = json_object_get(stats, "idempotency_keys");
                int seen_once = 0, seen_other = 0;
                for (int i = 0; i < DECISIONS; i++) {
                        json_t *n = json_object_get(keys, ds[i]->decision_id);
                        /* one call per scraper of its workflow, each carrying the decision's key */
                        if (json_integer_value(n) == (json_int_t)ds[i]->scraper_count)
                                seen_once++;
                        else
                                seen_other++;
                }
                CHECK(seen_once == DECISIONS);
                CHECK(seen_other == 0);
                json_decref(stats);
        }
        {
                long long committed = -1, end = -2;
                for (int tries = 0; tries < 40; tries++) {
                        itest_group_offsets(&t, t.topic, t.group, &committed, &end);
                        if (committed == end)
                                break;
                        itest_sleep_ms(250);
                }
                printf("# committed %lld of %lld\n", committed, end);
                CHECK(end == DECISIONS);
                CHECK(committed == end);
        }

        for (int i = 0; i < DECISIONS; i++)
                rf_decision_destroy(ds[i]);
        if (rk)
                rd_kafka_destroy(rk);
        rf_pg_destroy(pg);
        rf_conf_destroy(conf);
        return itest_finish(&t);
}
