/* SPDX-License-Identifier: Apache-2.0 */
/* A PostgreSQL failover under load: a primary with a streaming standby
 * (synchronous or asynchronous: the test's argument), every program on the
 * multi-host URL "postgresql://primary,standby/runfleet?target_session_attrs
 * =read-write". Decisions keep coming while the primary is SIGKILLed and the
 * standby promoted (pg_ctl promote). Then: workers record executions on the
 * new primary, the reaper and the evaluator are back on it, every RUN
 * decision ends with exactly one SUCCEEDED execution (or DEAD), the orphans
 * view is empty and the group committed every message.
 *
 * The standby is held back before the kill: the primary's WAL sender is
 * frozen (SIGSTOP) for LAG_MS, so the last commits are on the primary
 * alone; then every process of the primary is SIGKILLed at once (a dead
 * machine: no WAL sender left to finish its sending).
 * Synchronous: those commits were never acknowledged (the workers waited,
 * their loops did not), so no record a worker saw committed is missing
 * afterwards. Asynchronous: they were acknowledged and are lost with the
 * primary; their decisions run again once the reaper re-produces them, and
 * the invariant holds all the same. Printed: the failover pause (from the
 * kill to the first execution recorded on the new primary), how many
 * recorded executions were lost and how many decisions ran twice. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "itest_pg.h"
#include "rf_pg.h"
#include "rf_util.h"

#define DECISIONS 3000
#define BATCH 100
#define KILL_AFTER_SUCCEEDED 600
#define WORKERS 2
#define LAG_MS 1000

typedef struct load {
        itest_t *t;
        volatile int done;
} load_t;

/* Decides BATCH at a time until DECISIONS are recorded, on its own
 * connections (itest_decide connects anew each time, to whichever host is
 * the primary then). A batch that meets the failover is partly recorded, or
 * not at all; the count says how many more to decide. */
static void *produce(void *arg) {
        load_t *l = arg;
        rf_pg_t *pg = NULL;
        char errstr[512];
        int64_t give_up = rf_mono_ms() + 120000;

        rf_pg_connect(l->t->db_url, "failover-load", &pg, errstr, sizeof(errstr));
        while (pg && rf_mono_ms() < give_up) {
                PGresult *res = NULL;
                int recorded = -1;

                if (rf_pg_exec(pg, "SELECT count(*) FROM runfleet.decisions WHERE reason = 'integration test'", 0, NULL,
                               &res, errstr, sizeof(errstr)) == 0) {
                        recorded = atoi(PQgetvalue(res, 0, 0));
                        PQclear(res);
                }
                if (recorded >= DECISIONS)
                        break;
                if (recorded >= 0)
                        itest_decide(l->t, "load", DECISIONS - recorded < BATCH ? DECISIONS - recorded : BATCH, NULL);
                itest_sleep_ms(150);
        }
        rf_pg_destroy(pg);
        l->done = 1;
        return NULL;
}

/* What the workers' logs say they ran: executions recorded as finished
 * (their commit acknowledged) and executions that ran to the end, per
 * decision. */
typedef struct seen {
        json_t *recorded;  /* execution_id -> decision_id */
        json_t *runs;      /* decision_id -> { execution_id: true } of executions that ran to the end */
        long long unknown; /* messages dead-lettered: their decision's insert was lost */
} seen_t;

static void read_worker_log(itest_t *t, pid_t pid, seen_t *s) {
        char *log = itest_read_log(t, pid), *line, *save = NULL;

        for (line = log ? strtok_r(log, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
                json_t *j;
                const char *event, *ex, *dec;

                if (strstr(line, "decision not recorded in the database"))
                        s->unknown++;
                if (!strstr(line, "\"execution.finished\"") && !strstr(line, "\"execution.fenced\""))
                        continue;
                j = json_loads(line, 0, NULL);
                event = json_string_value(json_object_get(j, "event"));
                ex = json_string_value(json_object_get(j, "execution_id"));
                dec = json_string_value(json_object_get(j, "decision_id"));
                if (event && ex && dec) {
                        json_t *execs = json_object_get(s->runs, dec);
                        if (!execs)
                                json_object_set_new(s->runs, dec, execs = json_object());
                        json_object_set_new(execs, ex, json_true());
                        if (strcmp(event, "execution.finished") == 0)
                                json_object_set_new(s->recorded, ex, json_string(dec));
                }
                json_decref(j);
        }
        free(log);
}

int main(int argc, char **argv) {
        const char *mode = argc > 1 ? argv[1] : "sync";
        bool sync = strcmp(mode, "sync") == 0;
        itest_t t;
        itest_pg_t primary, standby;
        itest_pg_t *hosts[] = { &primary, &standby };
        pid_t workers[WORKERS], reaper, evaluator;
        pthread_t loader;
        load_t load = { .t = &t };
        seen_t seen = { json_object(), json_object(), 0 };
        int64_t kill_ms, kill_mono;
        long long pause_ms = -1, lost = 0, gone = 0, twice = 0, dead;

        if (strcmp(mode, "sync") != 0 && strcmp(mode, "async") != 0) {
                fprintf(stderr, "usage: %s sync|async\n", argv[0]);
                return 2;
        }
        itest_init(&t, sync ? "pg_failover_sync" : "pg_failover_async");
        if (itest_pg_start(&t, &primary, "primary", NULL, mode, NULL, 0) < 0 ||
            itest_pg_start(&t, &standby, "standby", &primary, NULL, &primary.port, 1) < 0) {
                itest_pg_reset(&t, hosts, 2);
                return 1;
        }
        itest_pg_use(&t, hosts, 2);
        itest_config(
                &t,
                "scrapers = ( { name = \"s1\"; url = \"@FAKE@/failover-%s/s1?delay_ms=1000\"; timeout_ms = 5000; } );\n"
                "workflows = ( { name = \"load\"; schedule = \"0 3 * * *\"; scrapers = [\"s1\"];"
                " deadline_ms = 30000; } );\n"
                "worker = { max_in_flight = 500; lease_ms = 5000; heartbeat_ms = 500; commit_interval_ms = 200;"
                " drain_timeout_ms = 5000; };\n"
                "reaper = { interval_ms = 500; grace_ms = 6000; backoff_ms = 300; max_failed_executions = 8; };\n",
                t.db_name);
        itest_migrate(&t);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = '%s'", mode) == 1);
        for (int i = 0; i < WORKERS; i++)
                workers[i] = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        reaper = itest_spawn(&t, "reaper", "runfleet-reaper", NULL);
        evaluator = itest_spawn(&t, "evaluator", "runfleet-producer", "evaluate", "--every", "1s", NULL);
        pthread_create(&loader, NULL, produce, &load);

        /* the fleet is busy: kill the primary in the middle of it */
        for (int64_t until = rf_mono_ms() + 60000;
             itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") <
                     KILL_AFTER_SUCCEEDED &&
             rf_mono_ms() < until;)
                itest_sleep_ms(100);
        {
                char errstr[512];
                CHECK(rf_pg_exec(t.pg, "CREATE TABLE itest_marker (n integer)", 0, NULL, NULL, errstr,
                                 sizeof(errstr)) == 0);
        }
        CHECK(itest_pg_signal_one(&t, &primary, "walsender", SIGSTOP) == 1);
        /* asynchronous: a commit the primary acknowledges now is on it alone
         * (synchronous: it would wait for the standby, like the workers' do) */
        if (!sync)
                CHECK(itest_query_ll(&t, "INSERT INTO itest_marker VALUES (1) RETURNING n") == 1);
        itest_sleep_ms(LAG_MS);
        kill_ms = rf_now_ms();
        kill_mono = rf_mono_ms();
        CHECK(itest_pg_signal(&t, &primary, SIGKILL) > 1);
        CHECK(itest_pg_script(&t, &standby, "promote") == 0);
        printf("# primary SIGKILLed and standby promoted in %lld ms\n", (long long)(rf_mono_ms() - kill_mono));

        /* workers: executions recorded on the new primary */
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT (count(*) > 0)::int FROM runfleet.executions"
                             " WHERE finished_at > to_timestamp(%lld / 1000.0)",
                             (long long)kill_ms));
        pause_ms = itest_query_ll(&t,
                                  "SELECT (extract(epoch FROM min(finished_at)) * 1000)::bigint - %lld"
                                  " FROM runfleet.executions WHERE finished_at > to_timestamp(%lld / 1000.0)",
                                  (long long)kill_ms, (long long)kill_ms);
        /* the reaper and the evaluator: connected to the new primary, the
         * evaluator holding its lock again (a session lock dies with its server) */
        CHECK(itest_wait_for(
                &t, 1, 30000,
                "SELECT (count(*) > 0)::int FROM pg_stat_activity WHERE application_name = 'runfleet-reaper'"));
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                             " WHERE l.locktype = 'advisory' AND l.objid = %lld AND l.granted"
                             " AND a.application_name = 'runfleet-producer'",
                             RF_LOCK_EVALUATOR & 0xffffffffLL));

        pthread_join(loader, NULL);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE reason = 'integration test'") >=
              DECISIONS);
        /* the fleet settles */
        CHECK(itest_wait_for(&t, 0, 120000,
                             "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'"
                             " AND state NOT IN ('SUCCEEDED', 'DEAD')"));
        CHECK(itest_wait_committed(&t, t.topic, t.group, 60000));
        CHECK(itest_invariant_violations(&t) == 0);
        dead = itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE state = 'DEAD'");
        CHECK(dead == 0); /* the scraper never fails: nothing may be given up */

        /* what the workers saw committed, against what the new primary holds */
        read_worker_log(&t, workers[0], &seen); /* the workers share worker.log */
        {
                const char *ex;
                json_t *dec;
                json_object_foreach(seen.recorded, ex, dec) {
                        if (itest_query_ll(&t,
                                           "SELECT count(*) FROM runfleet.executions WHERE execution_id = '%s'"
                                           " AND status = 'SUCCEEDED'",
                                           ex) != 1) {
                                lost++;
                                /* the decision's insert was lost too: the evaluator decides anew */
                                gone += itest_query_ll(
                                                &t, "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '%s'",
                                                json_string_value(dec)) == 0;
                        }
                }
        }
        {
                const char *dec;
                json_t *n;
                json_object_foreach(seen.runs, dec, n) {
                        if (json_object_size(n) > 1)
                                twice++;
                }
        }
        printf("# %s replication: failover pause %lld ms (SIGKILL of the primary to the first execution recorded on"
               " the new primary); %zu executions recorded by workers, %lld of them lost with the old primary"
               " (%lld with their decision); %lld decisions ran twice; %lld messages dead-lettered for a decision"
               " whose insert was lost\n",
               mode, pause_ms, json_object_size(seen.recorded), lost, gone, twice, seen.unknown);
        CHECK(json_object_size(seen.recorded) >= DECISIONS);
        if (sync)
                CHECK(lost == 0 && seen.unknown == 0);
        else /* the held-back standby did miss an acknowledged commit */
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM itest_marker WHERE n = 1") == 0);
        CHECK(pause_ms >= 0);
        json_decref(seen.recorded);
        json_decref(seen.runs);
        (void)reaper;
        (void)evaluator;
        rf_test_failures += itest_cleanup(&t, rf_test_failures);
        itest_pg_reset(&t, hosts, 2);
        return rf_test_finish();
}
