/* SPDX-License-Identifier: Apache-2.0 */
/* The reaper with replicas, and reapers dying mid-sweep.
 *
 * 1. Three reapers at once over 50 RUN decisions that were recorded and
 *    never produced: each decision is re-produced exactly once (attempt 2,
 *    one message per decision in the topic, and the sweeps' own counts add
 *    up to 50 over all three reapers).
 * 2. A reaper that crashes between its sweep's COMMIT and producing
 *    (decisions marked attempt 2, nothing in Kafka) and one that crashes
 *    before COMMIT (nothing changed), at fault points.
 * 3. Fresh reapers, one SIGKILLed while it works, and a worker: every
 *    decision ends with exactly one SUCCEEDED execution, nothing is DEAD or
 *    orphaned, and no (decision, attempt) was produced twice.
 *
 * The grace period is long (60 s) in 1 and 2 so that nothing is re-produced
 * behind the test's back; instead the test ages produced_at, which is what
 * the passing of the grace period amounts to. Part 3 runs with a short
 * grace period and no help. */
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_conf.h"
#include "rf_decision.h"
#include "rf_store.h"
#include "rf_util.h"

#define BATCH 50
#define CRASH_BATCH 30

typedef struct seen {
        char id[37];
        int attempt;
        int copies; /* messages with this (decision, attempt) */
} seen_t;

typedef struct topic_log {
        seen_t *v;
        size_t n, cap;
        int undecodable;
} topic_log_t;

static void note(topic_log_t *l, const rf_decision_t *d) {
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->v[i].id, d->decision_id) == 0 && l->v[i].attempt == d->attempt) {
                        l->v[i].copies++;
                        return;
                }
        if (l->n == l->cap) {
                l->cap = l->cap ? 2 * l->cap : 256;
                l->v = realloc(l->v, l->cap * sizeof(*l->v));
        }
        snprintf(l->v[l->n].id, sizeof(l->v[0].id), "%s", d->decision_id);
        l->v[l->n].attempt = d->attempt;
        l->v[l->n++].copies = 1;
}

/* Decodes one message of the test's topic into the log @p arg. */
static void note_message(const rd_kafka_message_t *m, void *arg) {
        topic_log_t *l = arg;
        rf_decision_t *d = NULL;
        char why[256];

        if (rf_decision_decode(m->payload, m->len, &d, why, sizeof(why)) == 0)
                note(l, d);
        else
                l->undecodable++;
        rf_decision_destroy(d);
}

/* Every message of the test's topic, from the beginning to the end offsets
 * as they are now. Returns how many messages were read. */
static int read_topic(itest_t *t, topic_log_t *l) {
        int n;

        memset(l, 0, sizeof(*l));
        n = itest_read_topic(t, NULL, t->topic, 0, 30000, note_message, l);
        CHECK(n >= 0);
        return n;
}

/* Records @p n RUN decisions of workflow "w" as the evaluator does, and
 * produces none of them: a producer that died between insert and produce. */
static void insert_orphans(itest_t *t, int n, char ids[][37]) {
        rf_conf_t *conf = NULL;
        char errstr[512];
        const rf_workflow_conf_t *w;

        CHECK(rf_conf_load(t->config, &conf, errstr, sizeof(errstr)) == 0);
        w = rf_conf_workflow(conf, "w");
        for (int i = 0; w && i < n; i++) {
                rf_decision_t *d = rf_decision_new();

                d->workflow = strdup(w->name);
                d->reason = strdup("integration test: never produced");
                d->deadline_ms = w->deadline_ms;
                rf_decision_set_scrapers(d, w->scrapers, w->scraper_count);
                CHECK(rf_store_insert_decision(t->pg, d, "RUN", -1, errstr, sizeof(errstr)) == 0);
                snprintf(ids[i], 37, "%s", d->decision_id);
                rf_decision_destroy(d);
        }
        rf_conf_destroy(conf);
}

/* Sum of a "reaper.sweep" log field over a log. */
static long long sum_field(const char *log, const char *field) {
        char key[64];
        long long sum = 0;

        snprintf(key, sizeof(key), "\"%s\":", field);
        for (const char *p = log; (p = strstr(p, "\"reaper.sweep\"")); p++) {
                const char *eol = strchr(p, '\n'), *f = strstr(p, key);
                if (f && (!eol || f < eol))
                        sum += strtoll(f + strlen(key), NULL, 10);
        }
        return sum;
}

static void forget(itest_t *t, pid_t pid) {
        for (int i = 0; i < t->proc_count; i++)
                if (t->procs[i] == pid)
                        t->procs[i] = 0;
}

int main(void) {
        itest_t t;
        static char a[BATCH][37], b[CRASH_BATCH][37], c[CRASH_BATCH][37];
        char *after_commit[] = { "RUNFLEET_FAULT=reaper-after-commit", NULL };
        char *before_commit[] = { "RUNFLEET_FAULT=reaper-before-commit", NULL };
        pid_t reapers[3], crashed;
        topic_log_t l;
        long long swept = 0;

        itest_init(&t, "reaper");
        t.partitions = 3;
        itest_config(
                &t,
                "scrapers = ( { name = \"s\"; url = \"@FAKE@/%s/s?delay_ms=10\"; } );\n"
                "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                "reaper = { interval_ms = 200; grace_ms = 60000; backoff_ms = 500; max_failed_executions = 3; };\n",
                t.topic);
        itest_migrate(&t);

        /* 1. three replicas, 50 orphans */
        insert_orphans(&t, BATCH, a);
        for (int i = 0; i < 3; i++) {
                char name[16];
                snprintf(name, sizeof(name), "reaper%d", i + 1);
                reapers[i] = itest_spawn(&t, name, "runfleet-reaper", NULL);
        }
        itest_sleep_ms(1500); /* all three sweeping, nothing due yet */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE attempt = 1") == BATCH);
        itest_query_ll(&t, "UPDATE runfleet.decisions SET produced_at = now() - interval '10 minutes'");
        CHECK(itest_wait_for(&t, BATCH, 30000,
                             "SELECT count(*) FROM runfleet.decisions WHERE attempt = 2 AND delivered_at IS NOT NULL"));
        itest_sleep_ms(2000); /* more sweeps by all three: nothing more to do */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE attempt = 2") == BATCH);
        CHECK(read_topic(&t, &l) == BATCH);
        CHECK(l.n == BATCH && l.undecodable == 0);
        for (size_t i = 0; i < l.n; i++)
                CHECK(l.v[i].copies == 1 && l.v[i].attempt == 2);
        free(l.v);
        for (int i = 0; i < 3; i++) {
                char *log = itest_read_log(&t, reapers[i]);
                long long n = sum_field(log, "unexecuted");
                printf("# reaper%d re-produced %lld\n", i + 1, n);
                swept += n;
                free(log);
        }
        CHECK(swept == BATCH);

        /* 2. crashes mid-sweep, one reaper at a time so the fault is hit */
        for (int i = 0; i < 3; i++) {
                kill(reapers[i], SIGTERM);
                CHECK(itest_wait(reapers[i], 20000) == 0);
                forget(&t, reapers[i]);
        }
        insert_orphans(&t, CRASH_BATCH, b);
        crashed = itest_spawn_env(&t, "reaper-crash-after", after_commit, "runfleet-reaper", NULL);
        itest_sleep_ms(500);
        itest_query_ll(&t, "UPDATE runfleet.decisions SET produced_at = now() - interval '10 minutes'"
                           " WHERE attempt = 1");
        CHECK(itest_wait(crashed, 30000) == 86);
        forget(&t, crashed);
        /* committed, never produced: attempt 2 in the database, nothing in Kafka */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE attempt = 2"
                                 " AND delivered_at IS NULL AND state = 'PENDING'") == CRASH_BATCH);
        CHECK(read_topic(&t, &l) == BATCH);
        free(l.v);

        insert_orphans(&t, CRASH_BATCH, c);
        crashed = itest_spawn_env(&t, "reaper-crash-before", before_commit, "runfleet-reaper", NULL);
        itest_sleep_ms(500);
        itest_query_ll(&t, "UPDATE runfleet.decisions SET produced_at = now() - interval '10 minutes'"
                           " WHERE attempt = 1");
        CHECK(itest_wait(crashed, 30000) == 86);
        forget(&t, crashed);
        /* rolled back with the connection: the batch is as it was */
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE attempt = 1") == CRASH_BATCH);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE attempt = 2") == BATCH + CRASH_BATCH);

        /* 3. recovery with a short grace period, a worker, and a reaper SIGKILLed at work */
        itest_config(&t,
                     "scrapers = ( { name = \"s\"; url = \"@FAKE@/%s/s?delay_ms=10\"; } );\n"
                     "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                     "reaper = { interval_ms = 200; grace_ms = 6000; backoff_ms = 500; max_failed_executions = 3; };\n",
                     t.topic);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        reapers[0] = itest_spawn(&t, "reaper4", "runfleet-reaper", NULL);
        reapers[1] = itest_spawn(&t, "reaper5", "runfleet-reaper", NULL);
        reapers[2] = itest_spawn(&t, "reaper6", "runfleet-reaper", NULL);
        /* the crashed batches come due about now: kill one reaper while they sweep */
        for (int i = 0; i < 40; i++) {
                if (itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE attempt = 3") > 0)
                        break;
                itest_sleep_ms(100);
        }
        kill(reapers[0], SIGKILL);
        CHECK(itest_wait(reapers[0], 10000) == 128 + SIGKILL);
        forget(&t, reapers[0]);
        CHECK(itest_wait_for(&t, BATCH + 2 * CRASH_BATCH, 120000,
                             "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        itest_sleep_ms(2000);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") ==
              BATCH + 2 * CRASH_BATCH);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM (SELECT decision_id FROM runfleet.executions"
                                 " WHERE status = 'SUCCEEDED' GROUP BY decision_id HAVING count(*) = 1) x") ==
              BATCH + 2 * CRASH_BATCH);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE state <> 'SUCCEEDED'") == 0);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.orphans") == 0);
        /* the batch whose attempt 2 was never produced ran as attempt 3 */
        {
                long long b3 = 0;
                for (int i = 0; i < CRASH_BATCH; i++)
                        b3 += itest_query_ll(&t,
                                             "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '%s'"
                                             " AND attempt = 3",
                                             b[i]);
                CHECK(b3 == CRASH_BATCH);
        }
        /* no (decision, attempt) was produced twice, and every decision is in the topic */
        read_topic(&t, &l);
        {
                int dup = 0;
                for (size_t i = 0; i < l.n; i++)
                        dup += l.v[i].copies > 1;
                CHECK(dup == 0);
                CHECK(l.undecodable == 0);
        }
        CHECK(itest_query_ll(&t, "SELECT count(DISTINCT decision_id) FROM runfleet.executions") ==
              BATCH + 2 * CRASH_BATCH);
        free(l.v);
        return itest_finish(&t);
}
