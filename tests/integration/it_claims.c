/* SPDX-License-Identifier: Apache-2.0 */
/* Claims do not wait behind records (worker/db.c): the worker claims on a
 * connection of its own. One slow execution is claimed, then its decision's
 * row is locked by this test, so the record of its end blocks inside
 * PostgreSQL. New decisions must still be claimed and run meanwhile: on one
 * shared connection their claim would queue behind the blocked record until
 * the lock goes. Once it goes, everything is recorded and committed. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_pg.h"

#define SLOW_MS 1000
#define FAST 5

int main(void) {
        itest_t t;
        rf_pg_t *lock = NULL;
        char errstr[512];
        bool started;

        itest_init(&t, "claims");
        itest_config(&t,
                     "scrapers = ( { name = \"slow\"; url = \"@FAKE@/claims-%s/slow?delay_ms=%d\"; max_tries = 1; },\n"
                     "             { name = \"fast\"; url = \"@FAKE@/claims-%s/fast\"; max_tries = 1; } );\n"
                     "workflows = ( { name = \"slow\"; schedule = \"0 3 * * *\"; scrapers = [\"slow\"]; },\n"
                     "              { name = \"fast\"; schedule = \"0 3 * * *\"; scrapers = [\"fast\"]; } );\n"
                     "worker = { lease_ms = 60000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n",
                     t.db_name, SLOW_MS, t.db_name);
        itest_migrate(&t);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);

        CHECK(itest_decide(&t, "slow", 1, NULL) == 1);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'RUNNING'"));
        /* claimed: its decision's row is free again, and its record will need it */
        CHECK(rf_pg_connect(t.db_url, "it-claims-lock", &lock, errstr, sizeof(errstr)) == 0);
        CHECK(lock && rf_pg_exec(lock, "BEGIN", 0, NULL, NULL, errstr, sizeof(errstr)) == 0);
        CHECK(lock && rf_pg_exec(lock, "SELECT 1 FROM runfleet.decisions WHERE workflow = 'slow' FOR UPDATE", 0, NULL,
                                 NULL, errstr, sizeof(errstr)) == 0);
        /* the call ends; its record is sent and waits for the lock */
        itest_sleep_ms(SLOW_MS + 1500);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                 " AND wait_event_type = 'Lock' AND query LIKE '%%finish_executions%%'") == 1);

        CHECK(itest_decide(&t, "fast", FAST, NULL) == FAST);
        started = itest_wait_for(&t, FAST, 15000,
                                 "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                                 " USING (decision_id) WHERE d.workflow = 'fast'");
        if (!started)
                itest_print_rows(&t, "SELECT pid, application_name, state, wait_event_type, left(query, 80) AS query"
                                     " FROM pg_stat_activity WHERE datname = current_database()");
        CHECK(started);
        /* the record is still held */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                                 " USING (decision_id) WHERE d.workflow = 'slow' AND e.status = 'RUNNING'") == 1);

        CHECK(lock && rf_pg_exec(lock, "COMMIT", 0, NULL, NULL, errstr, sizeof(errstr)) == 0);
        rf_pg_destroy(lock);
        CHECK(itest_wait_for(&t, FAST + 1, 30000,
                             "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(itest_wait_committed(&t, t.topic, t.group, 30000));
        rf_test_failures += itest_cleanup(&t, rf_test_failures);
        return rf_test_finish();
}
