/* SPDX-License-Identifier: Apache-2.0 */
/* DEAD after max_failed_executions, with the webhook: a decision whose
 * scraper always fails is tried twice and marked DEAD; the configuration
 * says so under the old name reaper.max_attempts (still accepted, with a
 * config.deprecated warning the reaper logs); its JSON
 * alert is POSTed to a webhook server in this test, which refuses it (503)
 * until the test lets it through. The reaper that recorded the alert is
 * SIGKILLed while the alert is still owed; a new reaper sends it, once,
 * and it is marked sent. The alert names the decision, workflow, attempts,
 * the last execution's error, the trace id and the time. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "itest_webhook.h"

int main(void) {
        itest_t t;
        char out[4096], id[64] = "", trace[64] = "";
        itest_webhook_t *hook;
        itest_webhook_request_t req = { 0 };
        pid_t reaper;
        int port, before;

        itest_init(&t, "reaper_alerts");
        hook = itest_webhook_start();
        CHECK(hook != NULL);
        if (!hook)
                return itest_finish(&t);
        itest_webhook_set_status(hook, 503);
        port = itest_webhook_port(hook);
        itest_config(&t,
                     "scrapers = ( { name = \"broken\"; url = \"@FAKE@/%s/broken?status=500\"; max_tries = 1;"
                     " breaker_failures = 0; } );\n"
                     "workflows = ( { name = \"doomed\"; schedule = \"0 3 * * *\"; scrapers = [\"broken\"]; } );\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                     "reaper = { interval_ms = 300; grace_ms = 8000; backoff_ms = 300; max_attempts = 2;\n"
                     "           webhook_url = \"http://127.0.0.1:%d/alerts/%s\"; webhook_timeout_ms = 2000;"
                     " webhook_backoff_ms = 200; };\n",
                     t.topic, port, t.topic);
        itest_migrate(&t);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        reaper = itest_spawn(&t, "reaper1", "runfleet-reaper", NULL);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "doomed", NULL) == 0);

        CHECK(itest_wait_for(&t, 1, 60000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'DEAD'"));
        CHECK(itest_query_ll(&t, "SELECT attempt FROM runfleet.decisions") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'FAILED'") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.alerts") == 1);
        /* refused, and tried again with backoff (200 ms, 400 ms, ...) */
        CHECK(itest_webhook_wait_requests(hook, 3, 20000));
        CHECK(itest_webhook_accepted(hook) == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.alerts WHERE sent_at IS NULL"
                                 " AND last_status = 503 AND attempts >= 3") == 1);

        /* the reaper dies owing the alert; the endpoint recovers meanwhile */
        kill(reaper, SIGKILL);
        CHECK(itest_wait(reaper, 10000) == 128 + SIGKILL);
        {
                char *log = itest_read_log(&t, reaper);
                CHECK_CONTAINS(log, "decision.dead");
                CHECK_CONTAINS(log, "alert.failed");
                CHECK_CONTAINS(log, "reaper.max_attempts is deprecated, it is now called reaper.max_failed_executions");
                free(log);
        }
        for (int i = 0; i < t.proc_count; i++)
                if (t.procs[i] == reaper)
                        t.procs[i] = 0;
        itest_webhook_set_status(hook, 200);
        itest_sleep_ms(1000);
        before = itest_webhook_requests(hook);
        CHECK(itest_webhook_accepted(hook) == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.alerts WHERE sent_at IS NULL") == 1);

        /* a new reaper sends what is owed, once */
        reaper = itest_spawn(&t, "reaper2", "runfleet-reaper", NULL);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.alerts WHERE sent_at IS NOT NULL"));
        itest_sleep_ms(2000);
        CHECK(itest_webhook_accepted(hook) == 1);
        CHECK(itest_webhook_requests(hook) == before + 1);
        CHECK(itest_query_ll(&t, "SELECT attempts FROM runfleet.alerts") == itest_webhook_requests(hook));
        CHECK(itest_query_ll(&t, "SELECT last_status FROM runfleet.alerts") == 200);
        {
                char *log = itest_read_log(&t, reaper);
                CHECK_CONTAINS(log, "alert.sent");
                free(log);
        }

        /* what was said */
        {
                PGresult *res = NULL;
                char errstr[256], path[200];
                json_t *j;

                CHECK(itest_webhook_get(hook, 0, &req));
                j = json_loads(req.body, 0, NULL);

                CHECK(rf_pg_exec(t.pg, "SELECT decision_id, trace_id FROM runfleet.decisions", 0, NULL, &res, errstr,
                                 sizeof(errstr)) == 0);
                if (res && PQntuples(res) == 1) {
                        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
                        snprintf(trace, sizeof(trace), "%s", PQgetvalue(res, 0, 1));
                }
                PQclear(res);
                printf("# alert: %s\n", req.body);
                CHECK(j != NULL);
                CHECK_STR_EQ(req.method, "POST");
                snprintf(path, sizeof(path), "/alerts/%s", t.topic);
                CHECK_STR_EQ(req.path, path);
                CHECK_STR_EQ(req.key, id);
                CHECK_STR_EQ(req.content_type, "application/json");
                CHECK_STR_EQ(json_string_value(json_object_get(j, "event")), "decision.dead");
                CHECK_STR_EQ(json_string_value(json_object_get(j, "decision_id")), id);
                CHECK_STR_EQ(json_string_value(json_object_get(j, "workflow")), "doomed");
                CHECK(json_integer_value(json_object_get(j, "attempts")) == 2);
                CHECK_STR_EQ(json_string_value(json_object_get(j, "last_status")), "FAILED");
                CHECK_CONTAINS(json_string_value(json_object_get(j, "last_error")), "500");
                CHECK_STR_EQ(json_string_value(json_object_get(j, "trace_id")), trace);
                CHECK(json_string_value(json_object_get(j, "time")) &&
                      strlen(json_string_value(json_object_get(j, "time"))) == 24);
                CHECK(json_integer_value(json_object_get(j, "failed_executions")) == 2);
                CHECK_CONTAINS(json_string_value(json_object_get(j, "text")),
                               "is DEAD after 2 failed executions (produced 2 times)");
                json_decref(j);
        }
        itest_webhook_stop(hook);
        return itest_finish(&t);
}
