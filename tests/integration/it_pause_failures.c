/* SPDX-License-Identifier: Apache-2.0 */
/* pause_after_failures with the real programs: an `@every 2s` workflow
 * whose scraper always answers 500, one attempt per decision, so each RUN
 * ends DEAD. After 2 DEAD decisions in a row (pause_after_failures = 2) the
 * reaper pauses it (automatic, paused_by runfleet-reaper) and owes a PAUSED
 * alert keyed by the DEAD decision that tripped it; the webhook receives it
 * (event workflow.paused, Idempotency-Key <decision>:PAUSED). The next
 * ticks are SKIPs "paused by runfleet-reaper since ...", and no RUN follows.
 * After `unpause`, one more DEAD does not pause it again (the row starts
 * over); the second one does. A workflow without the setting, failing the
 * same way, is never paused. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "itest_webhook.h"

int main(void) {
        itest_t t;
        char out[4096], trip[64], key[128];
        itest_webhook_t *hook;
        itest_webhook_request_t req = { 0 };
        int port, i;

        itest_init(&t, "pause_failures");
        hook = itest_webhook_start();
        CHECK(hook != NULL);
        if (!hook)
                return itest_finish(&t);
        port = itest_webhook_port(hook);
        itest_config(&t,
                     "scrapers = ( { name = \"broken\"; url = \"@FAKE@/%s/broken?status=500\"; max_tries = 1;"
                     " breaker_failures = 0; } );\n"
                     "workflows = (\n"
                     "  { name = \"flaky\"; schedule = \"@every 2s\"; scrapers = [\"broken\"];"
                     " pause_after_failures = 2; },\n"
                     "  { name = \"unguarded\"; schedule = \"@every 2s\"; scrapers = [\"broken\"]; } );\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                     "reaper = { interval_ms = 300; grace_ms = 31000; backoff_ms = 300; max_attempts = 1;\n"
                     "           webhook_url = \"http://127.0.0.1:%d/alerts\"; webhook_timeout_ms = 2000;"
                     " webhook_backoff_ms = 200; };\n",
                     t.topic, port);
        itest_migrate(&t);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        itest_spawn(&t, "reaper", "runfleet-reaper", NULL);
        itest_spawn(&t, "evaluator", "runfleet-producer", "evaluate", "--every", "2s", NULL);

        /* paused by the reaper after two DEAD decisions in a row */
        CHECK(itest_wait_for(&t, 1, 60000, "SELECT count(*) FROM runfleet.pauses WHERE workflow = 'flaky'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses WHERE workflow = 'flaky' AND automatic"
                                 " AND paused_by = 'runfleet-reaper' AND unpaused_at IS NULL"
                                 " AND reason LIKE '2 DEAD decisions in a row (pause_after_failures = 2); last: %%"
                                 "fake scraper: injected HTTP 500%%'") == 1);
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.decisions d, runfleet.pauses p"
                             " WHERE d.workflow = 'flaky' AND d.state = 'DEAD' AND d.state_at <= p.paused_at") == 2);
        /* the alert owed is keyed by the DEAD decision that tripped it, named in the reason */
        snprintf(trip, sizeof(trip), "%s",
                 itest_query_str(
                         &t, "SELECT a.decision_id FROM runfleet.alerts a JOIN runfleet.decisions d USING (decision_id)"
                             " WHERE a.kind = 'PAUSED' AND d.workflow = 'flaky' AND d.state = 'DEAD'"));
        CHECK(strlen(trip) == 36);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses WHERE reason LIKE '%%last: %s:%%'", trip) == 1);
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT count(*) FROM runfleet.alerts WHERE kind = 'PAUSED'"
                             " AND sent_at IS NOT NULL"));
        i = itest_webhook_find(hook, "\"workflow.paused\"", &req);
        CHECK(i >= 0);
        if (i >= 0) {
                json_t *j = json_loads(req.body, 0, NULL);

                printf("# alert: %s\n", req.body);
                snprintf(key, sizeof(key), "%s:PAUSED", trip);
                CHECK_STR_EQ(req.key, key);
                CHECK_STR_EQ(json_string_value(json_object_get(j, "kind")), "PAUSED");
                CHECK_STR_EQ(json_string_value(json_object_get(j, "workflow")), "flaky");
                CHECK_STR_EQ(json_string_value(json_object_get(j, "decision_id")), trip);
                CHECK_CONTAINS(json_string_value(json_object_get(j, "text")),
                               "runfleet: workflow flaky is PAUSED after 2 DEAD decisions in a row");
                json_decref(j);
        }
        /* the DEAD alerts were sent too, with their own keys */
        CHECK(itest_webhook_find(hook, "\"decision.dead\"", NULL) >= 0);

        /* while paused: SKIPs naming the pause, no RUN */
        CHECK(itest_wait_for(
                &t, 2, 30000,
                "SELECT least(count(*), 2) FROM runfleet.decisions d, runfleet.pauses p"
                " WHERE d.workflow = 'flaky' AND d.tick > p.paused_at AND d.action = 'SKIP'"
                "   AND d.reason LIKE 'paused by runfleet-reaper since __:__: 2 DEAD decisions in a row%%'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions d, runfleet.pauses p"
                                 " WHERE d.workflow = 'flaky' AND d.tick > p.paused_at + interval '1 second'"
                                 "   AND d.action = 'RUN'") == 0);
        /* the workflow without pause_after_failures goes on failing, unpaused */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses WHERE workflow = 'unguarded'") == 0);
        CHECK(itest_query_ll(&t, "SELECT least(count(*), 3) FROM runfleet.decisions WHERE workflow = 'unguarded'"
                                 " AND state = 'DEAD'") == 3);

        /* after unpause the count starts over: one DEAD is not enough, two are */
        CHECK(itest_run(&t, out, sizeof(out), 20000, NULL, "runfleet-producer", "unpause", "flaky", NULL) == 0);
        CHECK_CONTAINS(out, "flaky: unpaused (was paused by runfleet-reaper since ");
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT least(count(*), 1) FROM runfleet.decisions d, runfleet.pauses p"
                             " WHERE d.workflow = 'flaky' AND d.state = 'DEAD' AND d.state_at > p.unpaused_at"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses WHERE workflow = 'flaky'") == 1);
        CHECK(itest_wait_for(&t, 2, 60000, "SELECT count(*) FROM runfleet.pauses WHERE workflow = 'flaky'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions d,"
                                 " (SELECT min(unpaused_at) u, max(paused_at) p FROM runfleet.pauses) x"
                                 " WHERE d.workflow = 'flaky' AND d.state = 'DEAD' AND d.state_at > x.u"
                                 "   AND d.state_at <= x.p") == 2);
        CHECK(itest_wait_for(&t, 2, 30000,
                             "SELECT count(*) FROM runfleet.alerts WHERE kind = 'PAUSED'"
                             " AND sent_at IS NOT NULL"));
        itest_webhook_stop(hook);
        return itest_finish(&t);
}
