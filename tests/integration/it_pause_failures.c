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
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define MAX_SEEN 64

static struct {
        pthread_mutex_t lock;
        int count;
        char bodies[MAX_SEEN][2048], keys[MAX_SEEN][128];
} hook = { .lock = PTHREAD_MUTEX_INITIALIZER };

typedef struct body {
        char data[2048];
        size_t len;
} body_t;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
        body_t *b = *con_cls;
        struct MHD_Response *resp;
        const char *key;
        enum MHD_Result ret;

        (void)cls;
        (void)url;
        (void)method;
        (void)version;
        if (!b) {
                *con_cls = calloc(1, sizeof(body_t));
                return *con_cls ? MHD_YES : MHD_NO;
        }
        if (*upload_size) {
                size_t n = *upload_size < sizeof(b->data) - 1 - b->len ? *upload_size : sizeof(b->data) - 1 - b->len;
                memcpy(b->data + b->len, upload_data, n);
                b->len += n;
                *upload_size = 0;
                return MHD_YES;
        }
        key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
        pthread_mutex_lock(&hook.lock);
        if (hook.count < MAX_SEEN) {
                snprintf(hook.bodies[hook.count], sizeof(hook.bodies[0]), "%.*s", (int)b->len, b->data);
                snprintf(hook.keys[hook.count], sizeof(hook.keys[0]), "%s", key ? key : "");
                hook.count++;
        }
        pthread_mutex_unlock(&hook.lock);
        resp = MHD_create_response_from_buffer(3, (void *)"ok\n", MHD_RESPMEM_PERSISTENT);
        ret = MHD_queue_response(conn, 200, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
        (void)cls;
        (void)conn;
        (void)toe;
        free(*con_cls);
        *con_cls = NULL;
}

/* The index of the first alert received whose body contains @p needle, or -1. */
static int find_alert(const char *needle) {
        int found = -1;

        pthread_mutex_lock(&hook.lock);
        for (int i = 0; i < hook.count && found < 0; i++)
                if (strstr(hook.bodies[i], needle))
                        found = i;
        pthread_mutex_unlock(&hook.lock);
        return found;
}

static const char *query_str(itest_t *t, const char *sql) {
        static char buf[1024];
        char errstr[512];
        PGresult *res = NULL;

        buf[0] = 0;
        if (rf_pg_exec(t->pg, sql, 0, NULL, &res, errstr, sizeof(errstr)) < 0)
                fprintf(stderr, "# query failed: %s\n", errstr);
        else if (PQntuples(res) > 0)
                snprintf(buf, sizeof(buf), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        return buf;
}

int main(void) {
        itest_t t;
        char out[4096], trip[64], key[128];
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct MHD_Daemon *d;
        const union MHD_DaemonInfo *info;
        int port, i;

        itest_init(&t, "pause_failures");
        d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
                             (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
        CHECK(d != NULL);
        if (!d)
                return itest_finish(&t);
        info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        port = info ? info->port : 0;
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
                 query_str(&t,
                           "SELECT a.decision_id FROM runfleet.alerts a JOIN runfleet.decisions d USING (decision_id)"
                           " WHERE a.kind = 'PAUSED' AND d.workflow = 'flaky' AND d.state = 'DEAD'"));
        CHECK(strlen(trip) == 36);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.pauses WHERE reason LIKE '%%last: %s:%%'", trip) == 1);
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT count(*) FROM runfleet.alerts WHERE kind = 'PAUSED'"
                             " AND sent_at IS NOT NULL"));
        i = find_alert("\"workflow.paused\"");
        CHECK(i >= 0);
        if (i >= 0) {
                json_t *j = json_loads(hook.bodies[i], 0, NULL);

                printf("# alert: %s\n", hook.bodies[i]);
                snprintf(key, sizeof(key), "%s:PAUSED", trip);
                CHECK_STR_EQ(hook.keys[i], key);
                CHECK_STR_EQ(json_string_value(json_object_get(j, "kind")), "PAUSED");
                CHECK_STR_EQ(json_string_value(json_object_get(j, "workflow")), "flaky");
                CHECK_STR_EQ(json_string_value(json_object_get(j, "decision_id")), trip);
                CHECK_CONTAINS(json_string_value(json_object_get(j, "text")),
                               "runfleet: workflow flaky is PAUSED after 2 DEAD decisions in a row");
                json_decref(j);
        }
        /* the DEAD alerts were sent too, with their own keys */
        CHECK(find_alert("\"decision.dead\"") >= 0);

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
        MHD_stop_daemon(d);
        return itest_finish(&t);
}
