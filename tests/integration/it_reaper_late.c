/* SPDX-License-Identifier: Apache-2.0 */
/* LATE alerts while a run is still running (workflows[].alert_after):
 * "slow" calls a scraper that answers after 9 s with alert_after 2 s;
 * "quick" calls one that answers at once with alert_after 3 s. Both are
 * triggered by hand, so their delays count from the decision. Two reaper
 * replicas sweep every 300 ms and POST to a webhook server in this test.
 *
 * The LATE alert of "slow" must reach the webhook once, while its
 * execution is still RUNNING (not only after it ends), with the decision's
 * state, workflow and an Idempotency-Key that is not the DEAD alert's; a
 * replica SIGKILLed after the alert and a new one started while the run
 * still goes on must not send it again, nor after the run ends; "quick",
 * done in time, gets none. runfleet_decisions_late_total{workflow} counts
 * it once across the replicas, and the reaper logs decision.late.
 * Then rows laid out as the evaluator, trigger and replay leave them show
 * from when the delay counts (the tick, or the decision time) and that
 * ended decisions are never late. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "itest_webhook.h"

/* runfleet_decisions_late_total{workflow="@p wf"} on the reaper at @p port, -1 when absent. */
static double late_metric(int port, const char *wf) {
        char url[128], want[128];
        itest_reply_t r;
        const char *p;
        double v = -1;

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
        snprintf(want, sizeof(want), "runfleet_decisions_late_total{workflow=\"%s\"} ", wf);
        itest_http("GET", url, &r);
        p = r.status == 200 ? strstr(r.body, want) : NULL;
        if (p)
                v = strtod(p + strlen(want), NULL);
        free(r.body);
        return v;
}

static int count(const char *s, const char *what) {
        int n = 0;

        for (const char *p = s; p && (p = strstr(p, what)); p++)
                n++;
        return n;
}

int main(void) {
        itest_t t;
        char out[4096], env1[64], env2[64], env3[64], slow_id[64] = "", quick_id[64] = "";
        char *envp1[] = { env1, NULL }, *envp2[] = { env2, NULL }, *envp3[] = { env3, NULL };
        itest_webhook_t *hook;
        int port, ports[3] = { 0, 0, 0 };
        pid_t reaper1, reaper2, reaper3;
        char *log1 = NULL;
        bool running_at_alert = false;

        itest_init(&t, "reaper_late");
        hook = itest_webhook_start();
        CHECK(hook != NULL);
        if (!hook)
                return itest_finish(&t);
        port = itest_webhook_port(hook);
        for (int i = 0; i < 3; i++)
                ports[i] = itest_free_port(ports, i);
        CHECK(ports[0] > 0 && ports[1] > 0 && ports[2] > 0);
        snprintf(env1, sizeof(env1), "RUNFLEET_HTTP_PORT=%d", ports[0]);
        snprintf(env2, sizeof(env2), "RUNFLEET_HTTP_PORT=%d", ports[1]);
        snprintf(env3, sizeof(env3), "RUNFLEET_HTTP_PORT=%d", ports[2]);
        itest_config(&t,
                     "scrapers = ( { name = \"slow\"; url = \"@FAKE@/%s/slow?delay_ms=9000\"; max_tries = 1; },\n"
                     "             { name = \"quick\"; url = \"@FAKE@/%s/quick\"; max_tries = 1; } );\n"
                     "workflows = ( { name = \"slow\"; schedule = \"0 3 * * *\"; scrapers = [\"slow\"];"
                     " alert_after = \"2s\"; },\n"
                     "              { name = \"quick\"; schedule = \"0 3 * * *\"; scrapers = [\"quick\"];"
                     " alert_after = \"3s\"; },\n"
                     "              { name = \"seeded\"; schedule = \"0 3 * * *\"; scrapers = [\"quick\"]; } );\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                     "reaper = { interval_ms = 300; grace_ms = 40000; backoff_ms = 300; alert_after = \"10m\";\n"
                     "           webhook_url = \"http://127.0.0.1:%d/late\"; webhook_timeout_ms = 2000;"
                     " webhook_backoff_ms = 200; };\n",
                     t.topic, t.topic, port);
        itest_migrate(&t);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        reaper1 = itest_spawn_env(&t, "reaper1", envp1, "runfleet-reaper", NULL);
        reaper2 = itest_spawn_env(&t, "reaper2", envp2, "runfleet-reaper", NULL);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "quick", NULL) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "slow", NULL) == 0);
        {
                PGresult *res = NULL;
                char errstr[256];

                CHECK(rf_pg_exec(t.pg, "SELECT workflow, decision_id FROM runfleet.decisions", 0, NULL, &res, errstr,
                                 sizeof(errstr)) == 0);
                for (int i = 0; res && i < PQntuples(res); i++)
                        snprintf(strcmp(PQgetvalue(res, i, 0), "slow") == 0 ? slow_id : quick_id, 64, "%s",
                                 PQgetvalue(res, i, 1));
                PQclear(res);
        }
        CHECK(*slow_id && *quick_id);

        /* the alert arrives while the 9 s call is still in flight */
        for (int waited = 0; waited < 20000 && itest_webhook_requests(hook) == 0; waited += 50)
                itest_sleep_ms(50);
        CHECK(itest_webhook_requests(hook) == 1);
        running_at_alert = itest_query_ll(&t,
                                          "SELECT count(*) FROM runfleet.executions WHERE decision_id = '%s'"
                                          " AND status = 'RUNNING'",
                                          slow_id) == 1;
        CHECK(running_at_alert);
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '%s'"
                             " AND state = 'RUNNING'",
                             slow_id) == 1);
        {
                itest_webhook_request_t req = { 0 };
                json_t *j;

                CHECK(itest_webhook_get(hook, 0, &req));
                j = json_loads(req.body, 0, NULL);
                CHECK(j != NULL);
                CHECK_STR_EQ(json_string_value(json_object_get(j, "event")), "decision.late");
                CHECK_STR_EQ(json_string_value(json_object_get(j, "kind")), "LATE");
                CHECK_STR_EQ(json_string_value(json_object_get(j, "decision_id")), slow_id);
                CHECK_STR_EQ(json_string_value(json_object_get(j, "workflow")), "slow");
                CHECK_STR_EQ(json_string_value(json_object_get(j, "state")), "RUNNING");
                CHECK_STR_EQ(json_string_value(json_object_get(j, "last_status")), "RUNNING");
                CHECK_CONTAINS(json_string_value(json_object_get(j, "text")), "is LATE: not done 2s after ");
                CHECK(json_integer_value(json_object_get(j, "alert_after_ms")) == 2000);
                {
                        char want[128];
                        snprintf(want, sizeof(want), "%s:LATE", slow_id);
                        CHECK_STR_EQ(req.key, want);
                }
                printf("# LATE alert: %s\n", req.body);
                json_decref(j);
        }

        /* a replica dies after the alert; a new one sweeps while the run goes on */
        kill(reaper1, SIGKILL);
        CHECK(itest_wait(reaper1, 10000) == 128 + SIGKILL);
        log1 = itest_read_log(&t, reaper1);
        for (int i = 0; i < t.proc_count; i++)
                if (t.procs[i] == reaper1)
                        t.procs[i] = 0;
        reaper3 = itest_spawn_env(&t, "reaper3", envp3, "runfleet-reaper", NULL);
        itest_sleep_ms(2500);
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.executions WHERE decision_id = '%s'"
                             " AND status = 'RUNNING'",
                             slow_id) == 1);
        CHECK(itest_webhook_requests(hook) == 1);

        /* the run ends; still one alert, and none for the run done in time */
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '%s'"
                             " AND state = 'SUCCEEDED'",
                             slow_id));
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '%s'"
                             " AND state = 'SUCCEEDED'",
                             quick_id) == 1);
        itest_sleep_ms(1500);
        CHECK(itest_webhook_requests(hook) == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.alerts WHERE kind = 'LATE'") == 1);
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.alerts WHERE kind = 'LATE' AND decision_id = '%s'"
                             " AND sent_at IS NOT NULL AND attempts = 1",
                             slow_id) == 1);
        {
                double a = late_metric(ports[1], "slow"), b = late_metric(ports[2], "slow");
                double qa = late_metric(ports[1], "quick"), qb = late_metric(ports[2], "quick");
                char *log2 = itest_read_log(&t, reaper2), *log3 = itest_read_log(&t, reaper3);
                int n1 = count(log1, "\"decision.late\""), n2 = count(log2, "\"decision.late\""),
                    n3 = count(log3, "\"decision.late\"");

                printf("# decision.late lines: reaper1 %d, reaper2 %d, reaper3 %d;"
                       " runfleet_decisions_late_total{workflow=\"slow\"}: reaper2 %g, reaper3 %g; quick: %g, %g\n",
                       n1, n2, n3, a, b, qa, qb);
                /* reaper1 (dead now) or reaper2 fired it, once; reaper3 came after */
                CHECK(n1 + n2 + n3 == 1 && n3 == 0);
                CHECK(a == n2 && b == 0 && qa == 0 && qb == 0);
                CHECK_CONTAINS(n1 ? log1 : log2, slow_id);
                free(log2);
                free(log3);
        }
        free(log1);

        /* From when, and which states: rows as the evaluator, trigger and
         * replay leave them, for "seeded" (reaper.alert_after = 10m, the
         * default it does not override): the tick counts for the evaluator's
         * decision of a tick, the decision time for a manual trigger or a
         * replay; ended decisions are never late. */
        {
                char errstr[512] = "";
                const char *sql =
                        "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, tick, decided_at,"
                        " scrapers, state, trace_id, replay_of) VALUES"
                        /* caught up 11 min after its tick: late at once */
                        " ('a0000000-0000-4000-8000-000000000001', 'seeded', 'RUN', 'tick', now() - interval '11 min',"
                        "  now(), '{quick}', 'PENDING', 'ta', NULL),"
                        /* its replay, decided now: not late */
                        " ('a0000000-0000-4000-8000-000000000002', 'seeded', 'RUN', 'replay', NULL, now(), '{quick}',"
                        "  'PENDING', 'tb', 'a0000000-0000-4000-8000-000000000001'),"
                        /* triggered 11 min ago, retrying: late */
                        " ('a0000000-0000-4000-8000-000000000003', 'seeded', 'RUN', 'manual', NULL,"
                        "  now() - interval '11 min', '{quick}', 'FAILED', 'tc', NULL),"
                        /* a tick 5 min ago: not yet */
                        " ('a0000000-0000-4000-8000-000000000004', 'seeded', 'RUN', 'tick', now() - interval '5 min',"
                        "  now() - interval '5 min', '{quick}', 'RUNNING', 'td', NULL),"
                        /* ended: never late */
                        " ('a0000000-0000-4000-8000-000000000005', 'seeded', 'RUN', 'tick', now() - interval '71 min',"
                        "  now() - interval '71 min', '{quick}', 'SUCCEEDED', 'te', NULL),"
                        " ('a0000000-0000-4000-8000-000000000006', 'seeded', 'RUN', 'tick', now() - interval '131 min',"
                        "  now() - interval '131 min', '{quick}', 'DEAD', 'tf', NULL),"
                        " ('a0000000-0000-4000-8000-000000000007', 'seeded', 'RUN', 'tick', now() - interval '191 min',"
                        "  now() - interval '191 min', '{quick}', 'CANCELLED', 'tg', NULL),"
                        " ('a0000000-0000-4000-8000-000000000008', 'seeded', 'SKIP', 'tick', now() - interval '251 min',"
                        "  now() - interval '251 min', '{quick}', 'SKIPPED', 'th', NULL)";

                CHECK(rf_pg_exec(t.pg, sql, 0, NULL, NULL, errstr, sizeof(errstr)) == 0);
                if (*errstr)
                        printf("# %s\n", errstr);
                CHECK(itest_wait_for(&t, 2, 15000,
                                     "SELECT count(*) FROM runfleet.alerts WHERE kind = 'LATE'"
                                     " AND decision_id::text LIKE 'a0000000-%%'"));
                itest_sleep_ms(1500);
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.alerts WHERE kind = 'LATE' AND decision_id IN"
                                         " ('a0000000-0000-4000-8000-000000000001',"
                                         "  'a0000000-0000-4000-8000-000000000003')") == 2);
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.alerts WHERE kind = 'LATE'") == 3);
                CHECK(itest_wait_for(&t, 3, 15000,
                                     "SELECT count(*) FROM runfleet.alerts WHERE kind = 'LATE'"
                                     " AND sent_at IS NOT NULL"));
                CHECK(itest_webhook_requests(hook) == 3);
        }
        itest_webhook_stop(hook);
        return itest_finish(&t);
}
