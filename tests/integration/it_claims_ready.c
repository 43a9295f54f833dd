/* SPDX-License-Identifier: Apache-2.0 */
/* A worker whose claims connection is down is not ready (worker/db.c,
 * metrics.c): it runs nothing new, whatever its records connection says.
 * The claims connection's backend is ended while the database refuses new
 * connections, so it cannot come back but the records connection stays:
 * /readyz must answer 503 naming the claims connection. Once the database
 * takes connections again, the worker is ready and runs the next decision. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_pg.h"

/* ALTER DATABASE on the test's database, from the admin database (a
 * database cannot disallow connections to itself). */
static bool allow_connections(itest_t *t, bool allow) {
        char errstr[512], sql[256];
        rf_pg_t *admin = NULL;
        bool ok;

        if (rf_pg_connect(t->admin_url, "itest", &admin, errstr, sizeof(errstr)) < 0) {
                fprintf(stderr, "# %s\n", errstr);
                return false;
        }
        snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS %s", t->db_name, allow ? "true" : "false");
        ok = rf_pg_exec(admin, sql, 0, NULL, NULL, errstr, sizeof(errstr)) == 0;
        if (!ok)
                fprintf(stderr, "# %s\n", errstr);
        rf_pg_destroy(admin);
        return ok;
}

/* Polls @p url every 250 ms for at most @p ms until it answers @p status
 * (with @p needle in its body when not NULL); prints the last answer. */
static bool wait_ready_status(const char *url, long status, const char *needle, int ms) {
        itest_reply_t r = { 0 };
        bool seen = false;

        for (int waited = 0; !seen && waited <= ms; waited += 250) {
                free(r.body);
                itest_http("GET", url, &r);
                seen = r.status == status && (!needle || strstr(r.body, needle));
                if (!seen)
                        itest_sleep_ms(250);
        }
        printf("# /readyz: %ld %.200s\n", r.status, r.body);
        free(r.body);
        return seen;
}

int main(void) {
        itest_t t;
        char ready[128], sql[96];
        int http_port = itest_free_port(NULL, 0);
        long long claims_pid;

        itest_init(&t, "claims_ready");
        itest_config(&t,
                     "scrapers = ( { name = \"s\"; url = \"@FAKE@/claims-ready-%s/s\"; max_tries = 1; } );\n"
                     "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                     "worker = { lease_ms = 60000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                     "http = { port = %d; };\n",
                     t.db_name, http_port);
        itest_migrate(&t);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        snprintf(ready, sizeof(ready), "http://127.0.0.1:%d/readyz", http_port);

        CHECK(itest_decide(&t, "w", 1, NULL) == 1);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(wait_ready_status(ready, 200, NULL, 15000));

        /* the claims connection is the one whose last statement claimed */
        claims_pid = itest_query_ll(&t, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                        " AND application_name = 'runfleet-worker'"
                                        " AND query LIKE '%%begin_executions%%'");
        CHECK(claims_pid > 0);
        CHECK(allow_connections(&t, false));
        snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)", claims_pid);
        CHECK(itest_exec(&t, sql) == 0);

        CHECK(wait_ready_status(ready, 503, "claims connection", 20000));
        /* the records connection is still there: only the claims one went */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                 " AND application_name = 'runfleet-worker'") == 1);

        CHECK(allow_connections(&t, true));
        CHECK(wait_ready_status(ready, 200, NULL, 30000));
        CHECK(itest_decide(&t, "w", 1, NULL) == 1);
        CHECK(itest_wait_for(&t, 2, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(itest_wait_committed(&t, t.topic, t.group, 30000));
        rf_test_failures += itest_cleanup(&t, rf_test_failures);
        return rf_test_finish();
}
