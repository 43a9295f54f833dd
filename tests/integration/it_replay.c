/* SPDX-License-Identifier: Apache-2.0 */
/* Replay of a time range from the decisions topic, with a workflow filter:
 * exactly the matching RUN decisions produced in the range run again as new
 * decisions linked to their originals (which had succeeded), once per
 * original even when the topic holds it twice (a reaper re-produce); the
 * dry run changes nothing; the same replay again is refused without
 * --again. `status` shows the day. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_decision.h"
#include "rf_store.h"
#include "rf_util.h"

/* Produces decision @p id again as attempt 2, as the reaper would. */
static void reproduce(itest_t *t, const char *id) {
        const char *params[] = { id };
        char errstr[512];
        PGresult *res = NULL;
        rf_decision_t *d = NULL;
        void *buf = NULL;
        size_t len = 0;

        CHECK(rf_pg_exec(t->pg, "SELECT " RF_STORE_DECISION_COLUMNS " FROM runfleet.decisions WHERE decision_id = $1",
                         1, params, &res, errstr, sizeof(errstr)) == 0);
        CHECK(res && PQntuples(res) == 1 && rf_store_decision_from_row(res, 0, &d) == 0);
        if (d) {
                d->attempt = 2;
                CHECK(rf_decision_encode(d, &buf, &len, errstr, sizeof(errstr)) == 0);
                CHECK(buf && itest_produce_raw(t, t->topic, d->workflow, buf, len) == 0);
        }
        free(buf);
        rf_decision_destroy(d);
        PQclear(res);
}

int main(void) {
        itest_t t;
        char out[16384], from[40], to[40], a1[37], a2[37], b1[37], a_before[37], a_after[37];

        itest_init(&t, "replay");
        itest_config(&t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/replay/s?delay_ms=10\"; } );\n"
                         "workflows = (\n"
                         "  { name = \"alpha\"; schedule = \"0 0 1 1 *\"; scrapers = [\"s\"]; },\n"
                         "  { name = \"beta\"; schedule = \"0 0 1 1 *\"; scrapers = [\"s\"]; }\n"
                         ");\n"
                         "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n");
        itest_migrate(&t);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);

        CHECK(itest_trigger(&t, "alpha", a_before) == 0);
        itest_sleep_ms(1500);
        rf_time_format(rf_now_ms(), from, sizeof(from));
        itest_sleep_ms(200);
        CHECK(itest_trigger(&t, "alpha", a1) == 0);
        CHECK(itest_trigger(&t, "beta", b1) == 0);
        CHECK(itest_trigger(&t, "alpha", a2) == 0);
        CHECK(itest_wait_for(&t, 4, 60000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        reproduce(&t, a1); /* a duplicate of a1 in the range: replayed once */
        itest_sleep_ms(200);
        rf_time_format(rf_now_ms(), to, sizeof(to));
        itest_sleep_ms(1500);
        CHECK(itest_trigger(&t, "alpha", a_after) == 0);
        CHECK(itest_wait_for(&t, 5, 60000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        printf("# range %s .. %s\n", from, to);

        /* usage errors: exit 2, one line */
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "replay", "--from", to, "--to", from,
                        NULL) == 2);
        CHECK_CONTAINS(out, "must be before --to");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "replay", "--from", "yesterday", "--to",
                        to, NULL) == 2);
        CHECK_CONTAINS(out, "'yesterday' is not a time");
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "replay", "--from", from, "--to", to,
                        "--workflow", "gamma", NULL) == 2);
        CHECK_CONTAINS(out, "unknown workflow 'gamma'");

        /* dry run: names exactly a1 and a2, changes nothing */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "replay", "--from", from, "--to", to,
                        "--workflow", "alpha", "--dry-run", NULL) == 0);
        CHECK_CONTAINS(out, "would replay 2 decisions");
        CHECK_CONTAINS(out, a1);
        CHECK_CONTAINS(out, a2);
        CHECK(!strstr(out, b1) && !strstr(out, a_before) && !strstr(out, a_after));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions") == 5);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.replays") == 0);

        /* the replay: two new decisions, linked, executed although the originals succeeded */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "replay", "--from", from, "--to", to,
                        "--workflow", "alpha", NULL) == 0);
        CHECK_CONTAINS(out, "2 decisions replayed");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE replay_of IS NOT NULL") == 2);
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.decisions WHERE replay_of IN ('%s', '%s')"
                             " AND workflow = 'alpha' AND action = 'RUN' AND tick IS NULL",
                             a1, a2) == 2);
        CHECK(itest_query_ll(&t, "SELECT count(DISTINCT replay_of) FROM runfleet.decisions") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.replay_decisions r JOIN runfleet.decisions d"
                                 " USING (decision_id) WHERE d.replay_of = r.original_id") == 2);
        CHECK(itest_query_ll(&t, "SELECT decisions FROM runfleet.replays") == 2);
        CHECK(itest_wait_for(&t, 2, 60000,
                             "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                             " USING (decision_id) WHERE d.replay_of IS NOT NULL"
                             " AND e.status = 'SUCCEEDED'"));
        /* the originals ran once each, and nothing else ran */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE decision_id = '%s'", a1) == 1);
        itest_sleep_ms(2000);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == 7);

        /* the same replay again: refused, nothing changes */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "replay", "--from", from, "--to", to,
                        "--workflow", "alpha", NULL) == 1);
        CHECK_CONTAINS(out, "already replayed");
        CHECK_CONTAINS(out, "--again");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions") == 7);
        /* a dry run says so too */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "replay", "--from", from, "--to", to,
                        "--workflow", "alpha", "--workflow", "alpha", "--dry-run", NULL) == 0);
        CHECK_CONTAINS(out, "a real run needs --again");
        /* --again: replays the originals once more (the replays in the range fold onto them) */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "replay", "--from", from, "--to", to,
                        "--workflow", "alpha", "--again", NULL) == 0);
        CHECK_CONTAINS(out, "2 decisions replayed");
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE replay_of IS NOT NULL") == 4);
        CHECK(itest_wait_for(&t, 4, 60000,
                             "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                             " USING (decision_id) WHERE d.replay_of IS NOT NULL"
                             " AND e.status = 'SUCCEEDED'"));
        /* without a filter, the whole range: alpha twice and beta once */
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "replay", "--from", from, "--to", to,
                        "--dry-run", NULL) == 0);
        CHECK_CONTAINS(out, "would replay 3 decisions");
        CHECK_CONTAINS(out, b1);

        /* status: the day's decisions per workflow, nothing orphaned or dead */
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "status", NULL) == 0);
        CHECK_CONTAINS(out, "alpha: 8 runs (8 succeeded, 0 failed or dead), 0 skipped");
        CHECK_CONTAINS(out, "beta: 1 run (1 succeeded, 0 failed or dead), 0 skipped");
        CHECK_CONTAINS(out, "REPLAY OF");
        CHECK_CONTAINS(out, "orphans (RUN decisions nothing is working on), any day: 0");
        CHECK_CONTAINS(out, "DEAD decisions on ");
        return itest_finish(&t);
}
