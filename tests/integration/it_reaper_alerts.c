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
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

typedef struct hook {
        pthread_mutex_t lock;
        int status;   /* what the server answers now */
        int requests; /* every request */
        int accepted; /* answered 2xx */
        char accepted_body[8192], accepted_key[128], accepted_path[128], accepted_method[16];
        char content_type[128];
} hook_t;

static hook_t hook = { .lock = PTHREAD_MUTEX_INITIALIZER, .status = 503 };

typedef struct body {
        char data[8192];
        size_t len;
} body_t;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
        body_t *b = *con_cls;
        struct MHD_Response *resp;
        const char *key, *ctype;
        enum MHD_Result ret;
        int status;

        (void)cls;
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
        ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        pthread_mutex_lock(&hook.lock);
        hook.requests++;
        status = hook.status;
        if (status >= 200 && status < 300) {
                hook.accepted++;
                snprintf(hook.accepted_body, sizeof(hook.accepted_body), "%.*s", (int)b->len, b->data);
                snprintf(hook.accepted_key, sizeof(hook.accepted_key), "%s", key ? key : "");
                snprintf(hook.accepted_path, sizeof(hook.accepted_path), "%s", url);
                snprintf(hook.accepted_method, sizeof(hook.accepted_method), "%s", method);
                snprintf(hook.content_type, sizeof(hook.content_type), "%s", ctype ? ctype : "");
        }
        pthread_mutex_unlock(&hook.lock);
        resp = MHD_create_response_from_buffer(3, (void *)"ok\n", MHD_RESPMEM_PERSISTENT);
        ret = MHD_queue_response(conn, (unsigned)status, resp);
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

static int hook_get(int *field) {
        int v;

        pthread_mutex_lock(&hook.lock);
        v = *field;
        pthread_mutex_unlock(&hook.lock);
        return v;
}

static bool wait_requests(int at_least, int timeout_ms) {
        for (int waited = 0; waited < timeout_ms; waited += 100) {
                if (hook_get(&hook.requests) >= at_least)
                        return true;
                itest_sleep_ms(100);
        }
        return false;
}

int main(void) {
        itest_t t;
        char out[4096], id[64] = "", trace[64] = "";
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct MHD_Daemon *d;
        const union MHD_DaemonInfo *info;
        pid_t reaper;
        int port, before;

        itest_init(&t, "reaper_alerts");
        d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
                             (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
        CHECK(d != NULL);
        if (!d)
                return itest_finish(&t);
        info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        port = info ? info->port : 0;
        CHECK(port > 0);
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
        CHECK(wait_requests(3, 20000));
        CHECK(hook_get(&hook.accepted) == 0);
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
        pthread_mutex_lock(&hook.lock);
        hook.status = 200;
        pthread_mutex_unlock(&hook.lock);
        itest_sleep_ms(1000);
        before = hook_get(&hook.requests);
        CHECK(hook_get(&hook.accepted) == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.alerts WHERE sent_at IS NULL") == 1);

        /* a new reaper sends what is owed, once */
        reaper = itest_spawn(&t, "reaper2", "runfleet-reaper", NULL);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.alerts WHERE sent_at IS NOT NULL"));
        itest_sleep_ms(2000);
        CHECK(hook_get(&hook.accepted) == 1);
        CHECK(hook_get(&hook.requests) == before + 1);
        CHECK(itest_query_ll(&t, "SELECT attempts FROM runfleet.alerts") == hook_get(&hook.requests));
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
                json_t *j = json_loads(hook.accepted_body, 0, NULL);

                CHECK(rf_pg_exec(t.pg, "SELECT decision_id, trace_id FROM runfleet.decisions", 0, NULL, &res, errstr,
                                 sizeof(errstr)) == 0);
                if (res && PQntuples(res) == 1) {
                        snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
                        snprintf(trace, sizeof(trace), "%s", PQgetvalue(res, 0, 1));
                }
                PQclear(res);
                printf("# alert: %s\n", hook.accepted_body);
                CHECK(j != NULL);
                CHECK_STR_EQ(hook.accepted_method, "POST");
                snprintf(path, sizeof(path), "/alerts/%s", t.topic);
                CHECK_STR_EQ(hook.accepted_path, path);
                CHECK_STR_EQ(hook.accepted_key, id);
                CHECK_STR_EQ(hook.content_type, "application/json");
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
        MHD_stop_daemon(d);
        return itest_finish(&t);
}
