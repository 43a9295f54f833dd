/* SPDX-License-Identifier: Apache-2.0 */
/* History partitioned by day, and retention (schemas/sql/018_*.sql):
 *
 * 1. Upgrade: a database at migration 017 with history (a finished
 *    decision, and one still pending) is migrated. The old rows stay, in
 *    the DEFAULT partitions, and the pending one is still re-produced by
 *    the reaper and executed by a worker: claim, renew and finish find rows
 *    there.
 * 2. New decisions land in today's partitions: the decision, its
 *    execution and its scraper calls, never in the default.
 * 3. Retention: days 40, 39 and 38 ago hold history; day 39 still holds an
 *    open (PENDING) decision. `prune --dry-run` says what would go and
 *    drops nothing; `runfleet-reaper --once` with retention.days = 30 drops
 *    days 40 and 38 whole (and their alerts), keeps day 39, deletes the old
 *    finished row of the default partition and keeps today's. Once the open
 *    decision ends, `prune` drops its day too.
 * 4. Bad input: `prune --keep-days 0` is refused.
 * 5. Fillfactor (019_decisions_fillfactor.sql): every partition of
 *    decisions, the DEFAULT one and each day create_partitions() makes,
 *    leaves room for HOT updates; 019 gives it to a day that existed
 *    before it; executions keep the default. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_embedded.h"

#define LEGACY_DONE "11111111-1111-4111-8111-111111111111"
#define LEGACY_PENDING "22222222-2222-4222-8222-222222222222"
#define LEGACY_OLD "33333333-3333-4333-8333-333333333333"
/* as in schemas/sql/019_decisions_fillfactor.sql */
#define DECISIONS_FILLFACTOR "50"

/* The database as runfleet before 018 left it: migrations 001-017, recorded. */
static void migrate_to_017(itest_t *t) {
        CHECK(itest_exec(t, "CREATE TABLE public.runfleet_migrations (name text PRIMARY KEY,"
                            " applied_at timestamptz NOT NULL DEFAULT now(), checksum text)") == 0);
        for (const rf_embedded_file_t *f = rf_embedded_files; f->name; f++) {
                char sql[256];

                if (strchr(f->name, '/') || atoi(f->name) < 1 || atoi(f->name) > 17)
                        continue;
                /* several statements: the simple query protocol, as migrate runs them */
                {
                        PGresult *res = PQexec(rf_pg_conn(t->pg), f->data);

                        CHECK(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK);
                        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
                                printf("# %s: %s", f->name, PQresultErrorMessage(res));
                        PQclear(res);
                }
                snprintf(sql, sizeof(sql),
                         "INSERT INTO public.runfleet_migrations (name, checksum) VALUES ('%s', '%s')", f->name,
                         f->sha256);
                CHECK(itest_exec(t, sql) == 0);
        }
        CHECK(itest_query_ll(t, "SELECT count(*) FROM public.runfleet_migrations") == 17);
}

/* Decisions of the day @p days_ago (UTC) with ids of that day, as the
 * programs make them: @p n rows of @p action in @p state, and for RUN
 * SUCCEEDED an execution with one call. */
static void insert_day(itest_t *t, int days_ago, int n, const char *action, const char *state) {
        char sql[2048];

        snprintf(sql, sizeof(sql),
                 "WITH d AS (INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, decided_at,"
                 "   scrapers, state, trace_id)"
                 " SELECT (lpad(to_hex((extract(epoch FROM (current_date - %d)::timestamp) * 1000)::bigint"
                 "          + 3600000 + g), 12, '0') || '7' || substr(md5(random()::text), 1, 19))::uuid,"
                 "        'w', '%s', 'old', (current_date - %d)::timestamp AT TIME ZONE 'UTC' + interval '1 hour',"
                 "        '{s}', '%s', 't'"
                 "   FROM generate_series(1, %d) AS g RETURNING decision_id, decided_at),"
                 " e AS (INSERT INTO runfleet.executions (execution_id, decision_id, attempt, worker_id, status,"
                 "   started_at, lease_until, finished_at)"
                 " SELECT d.decision_id, d.decision_id, 1, 'w-old', 'SUCCEEDED', d.decided_at, d.decided_at,"
                 "        d.decided_at FROM d WHERE '%s' = 'SUCCEEDED' RETURNING execution_id, started_at)"
                 " INSERT INTO runfleet.scraper_calls (execution_id, scraper, try, http_status, outcome, started_at,"
                 "   duration_ms)"
                 " SELECT execution_id, 's', 1, 200, 'OK', started_at, 5 FROM e",
                 days_ago, action, days_ago, state, n, state);
        CHECK(itest_exec(t, sql) == 0);
}

static long long partitions(itest_t *t, const char *parent) {
        return itest_query_ll(t,
                              "SELECT count(*) FROM pg_inherits WHERE inhparent = 'runfleet.%s'::regclass"
                              " AND inhrelid::regclass::text ~ '_[0-9]{8}$'",
                              parent);
}

/* The partitions of @p parent without the fillfactor of a day of decisions. */
static long long without_fillfactor(itest_t *t, const char *parent) {
        return itest_query_ll(t,
                              "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                              " WHERE i.inhparent = 'runfleet.%s'::regclass"
                              "   AND NOT coalesce(c.reloptions, '{}') @> '{fillfactor=" DECISIONS_FILLFACTOR "}'",
                              parent);
}

static bool has_day(itest_t *t, int days_ago) {
        return itest_query_ll(t,
                              "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                              " WHERE n.nspname = 'runfleet' AND c.relname = 'decisions_'"
                              "  || to_char(current_date - %d, 'YYYYMMDD')",
                              days_ago) == 1;
}

int main(void) {
        char *env[] = { "RUNFLEET_RETENTION_DAYS=30", NULL }, *keep_all[] = { "RUNFLEET_RETENTION_DAYS=0", NULL };
        char out[16384], id[37], sql[512];
        itest_t t;
        pid_t worker;

        itest_init(&t, "retention");
        itest_config(&t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/retention/s\"; } );\n"
                         "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n");

        /* 1. upgrade from 017 with history */
        migrate_to_017(&t);
        CHECK(itest_exec(
                      &t,
                      "INSERT INTO runfleet.decisions (decision_id, workflow, action, reason, decided_at, scrapers,"
                      " state, produced_at, delivered_at, trace_id) VALUES"
                      " ('" LEGACY_DONE "', 'w', 'RUN', 'before 018', now() - interval '2 hours', '{s}', 'SUCCEEDED',"
                      "  now() - interval '2 hours', now() - interval '2 hours', 't'),"
                      " ('" LEGACY_PENDING "', 'w', 'RUN', 'before 018', now() - interval '1 hour', '{s}', 'PENDING',"
                      "  now() - interval '1 hour', now() - interval '1 hour', 't'),"
                      " ('" LEGACY_OLD "', 'w', 'RUN', 'before 018', now() - interval '40 days', '{s}', 'SUCCEEDED',"
                      "  now() - interval '40 days', now() - interval '40 days', 't')") == 0);
        CHECK(itest_exec(&t, "INSERT INTO runfleet.executions (execution_id, decision_id, attempt, worker_id, status,"
                             " lease_until, finished_at) VALUES"
                             " (gen_random_uuid(), '" LEGACY_DONE "', 1, 'w-old', 'SUCCEEDED', now(), now()),"
                             " (gen_random_uuid(), '" LEGACY_OLD "', 1, 'w-old', 'SUCCEEDED', now(), now())") == 0);
        itest_migrate(&t);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_class WHERE oid = 'runfleet.decisions'::regclass"
                                 " AND relkind = 'p'") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions_before_018") == 3);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions") == 3);
        /* yesterday to a week ahead, each table */
        CHECK(partitions(&t, "decisions") == 9 && partitions(&t, "executions") == 9 &&
              partitions(&t, "scraper_calls") == 9);
        CHECK(has_day(&t, 1) && has_day(&t, 0) && has_day(&t, -7));
        /* migrate again: nothing new, nothing lost */
        itest_migrate(&t);
        CHECK(partitions(&t, "decisions") == 9);
        /* 5. the default and the days made by create_partitions() leave room
         * for HOT updates; a day from before 019 gets it from 019 */
        CHECK(without_fillfactor(&t, "decisions") == 0);
        CHECK(without_fillfactor(&t, "executions") == 10);
        CHECK(itest_exec(&t, "ALTER TABLE runfleet.decisions_before_018 RESET (fillfactor)") == 0);
        CHECK(itest_exec(&t, "DO $$ BEGIN EXECUTE format('ALTER TABLE runfleet.%I RESET (fillfactor)',"
                             " 'decisions_' || to_char(current_date + 3, 'YYYYMMDD')); END $$") == 0);
        CHECK(without_fillfactor(&t, "decisions") == 2);
        CHECK(itest_exec(&t, "DELETE FROM public.runfleet_migrations WHERE name = '019_decisions_fillfactor.sql'") ==
              0);
        itest_migrate(&t);
        CHECK(without_fillfactor(&t, "decisions") == 0);

        /* the pending decision from before 018 is re-produced and executed */
        worker = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        CHECK(itest_run(&t, out, sizeof(out), 60000, keep_all, "runfleet-reaper", "--once", NULL) == 0);
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '" LEGACY_PENDING "'"
                             " AND state = 'SUCCEEDED'"));

        /* 2. a new decision, its execution and calls: today's partitions */
        CHECK(itest_trigger(&t, "w", id) == 0);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '%s'"
                 " AND state = 'SUCCEEDED'",
                 id);
        CHECK(itest_wait_for(&t, 1, 30000, "%s", sql));
        CHECK(itest_query_ll(&t,
                             "SELECT count(*) FROM runfleet.decisions d"
                             "  JOIN runfleet.executions e ON e.decision_id = d.decision_id"
                             "  JOIN runfleet.scraper_calls c ON c.execution_id = e.execution_id"
                             " WHERE d.decision_id = '%s'"
                             "   AND d.tableoid::regclass::text = 'runfleet.decisions_' || to_char(now() AT TIME ZONE"
                             "       'UTC', 'YYYYMMDD')"
                             "   AND e.tableoid::regclass::text = 'runfleet.executions_' || to_char(now() AT TIME ZONE"
                             "       'UTC', 'YYYYMMDD')"
                             "   AND c.tableoid::regclass::text = 'runfleet.scraper_calls_' || to_char(now() AT TIME"
                             "       ZONE 'UTC', 'YYYYMMDD')",
                             id) == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions_before_018") == 3);

        /* 3. retention: three old days, the middle one with an open decision */
        CHECK(itest_exec(&t, "SELECT runfleet.create_partitions(current_date - 40, 3)") == 0);
        CHECK(has_day(&t, 40) && has_day(&t, 39) && has_day(&t, 38));
        insert_day(&t, 40, 50, "RUN", "SUCCEEDED");
        insert_day(&t, 39, 20, "RUN", "SUCCEEDED");
        insert_day(&t, 39, 1, "RUN", "PENDING");
        insert_day(&t, 38, 30, "SKIP", "SKIPPED");
        CHECK(itest_exec(&t, "INSERT INTO runfleet.alerts (decision_id, kind, sent_at)"
                             " SELECT decision_id, 'DEAD', now() FROM runfleet.decisions"
                             "  WHERE decided_at < now() - interval '39 days 12 hours' LIMIT 1") == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.alerts") == 1);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions_before_018") == 3);

        CHECK(itest_run(&t, out, sizeof(out), 30000, env, "runfleet-producer", "prune", "--dry-run", NULL) == 0);
        printf("%s", out);
        CHECK_CONTAINS(out, "would prune history older than 30 days");
        CHECK(strstr(out, "would drop") != NULL);
        CHECK_CONTAINS(out, "kept: 1 open decisions, 0 running executions");
        CHECK_CONTAINS(out, "would delete its ended decisions older than the cut-off");
        CHECK_CONTAINS(out, "6 would go, 1 kept");
        /* the planner had no estimate yet: the rows were counted */
        CHECK_CONTAINS(out, " 50  would drop");
        CHECK_CONTAINS(out, " 21  kept: 1 open decisions");
        CHECK_CONTAINS(out, " 30  would drop");
        CHECK(has_day(&t, 40) && has_day(&t, 39) && has_day(&t, 38));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE reason = 'old'") == 101);

        CHECK(itest_run(&t, out, sizeof(out), 60000, env, "runfleet-reaper", "--once", NULL) == 0);
        CHECK(!has_day(&t, 40) && has_day(&t, 39) && !has_day(&t, 38));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_class WHERE relname = 'executions_'"
                                 " || to_char(current_date - 40, 'YYYYMMDD')") == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE reason = 'old'") == 21);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.alerts") == 0);
        /* the default partition: the 40-day-old finished row went, the others stay */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions_before_018") == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '" LEGACY_OLD "'") == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE decision_id = '" LEGACY_OLD "'") == 0);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '%s'", id);
        CHECK(itest_query_ll(&t, "%s", sql) == 1);

        /* the open decision ends: its day goes at the next prune */
        CHECK(itest_exec(&t,
                         "UPDATE runfleet.decisions SET state = 'DEAD' WHERE reason = 'old' AND state = 'PENDING'") ==
              0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, env, "runfleet-producer", "prune", NULL) == 0);
        printf("%s", out);
        CHECK_CONTAINS(out, "dropped");
        CHECK(!has_day(&t, 39));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE reason = 'old'") == 0);
        CHECK(has_day(&t, 0));

        /* a day whose executions partition was never made keeps its
         * decisions, said so, and the prune goes on */
        CHECK(itest_exec(&t, "SELECT runfleet.create_partitions(current_date - 45, 2)") == 0);
        CHECK(itest_exec(&t, "DO $$ BEGIN EXECUTE format('DROP TABLE runfleet.%I',"
                             " 'executions_' || to_char(current_date - 45, 'YYYYMMDD')); END $$") == 0);
        insert_day(&t, 45, 3, "SKIP", "SKIPPED");
        insert_day(&t, 44, 3, "SKIP", "SKIPPED");
        CHECK(itest_run(&t, out, sizeof(out), 30000, env, "runfleet-producer", "prune", NULL) == 0);
        printf("%s", out);
        CHECK_CONTAINS(out, "kept: relation");
        CHECK(has_day(&t, 45) && !has_day(&t, 44));

        /* 4. bad input */
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "prune", "--keep-days", "0", NULL) ==
              2);
        CHECK_CONTAINS(out, "--keep-days needs a number of days from 1 to 36500");

        CHECK(itest_invariant_violations(&t) == 0);
        kill(worker, SIGTERM);
        CHECK(itest_wait(worker, 30000) == 0);
        return itest_finish(&t);
}
