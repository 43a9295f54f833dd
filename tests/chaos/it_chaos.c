/* SPDX-License-Identifier: Apache-2.0 */
/* The chaos test: the invariant under everything at once. 5,000 RUN
 * decisions over 5 workflows of 1-4 scrapers are produced while workers are
 * SIGKILLed and restarted every few seconds, a reaper is killed, the Kafka
 * broker is SIGKILLed and restarted, PostgreSQL is stopped in immediate mode
 * and restarted, the evaluator dies between insert and produce, poison
 * messages arrive, and scrapers fail (5xx 5%, hang 2%, reset 1%). Once the
 * faults stop the fleet must settle, and then, from PostgreSQL: every RUN
 * decision has exactly one SUCCEEDED execution or is DEAD, the orphans view
 * is empty, and the DLQ holds exactly the poison messages.
 *
 * Seeded (RUNFLEET_CHAOS_SEED, default 42) so a run can be repeated; the
 * figures are printed at the end. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "chaos_lib.h"
#include "rf_util.h"

#define DECISIONS 5000
#define BATCH 125
#define WORKERS 3
#define POISON 7
#define CRASHED_EVALUATIONS 3
#define SETTLE_BOUND_MS 300000
/* Retries of failed calls resend the key by design, and killed workers
 * leave calls to be made again: repeats are allowed by at-least-once, but
 * bounded. */
#define DUPLICATE_BOUND_PERCENT 30

static const char *const workflows[] = { "one", "two", "three", "four", "mixed" };

typedef struct producer_run {
        itest_t *t;
        int64_t finished_ms;
} producer_run_t;

/* Produces the decisions in batches over ~40 s, on its own connections,
 * while the main thread injects faults. A batch caught by the Kafka outage
 * stays recorded for the reaper, as with the real evaluator; one caught by
 * the PostgreSQL outage is not recorded at all, so it is decided again
 * until all DECISIONS are in the database (as the evaluator would at its
 * next tick). */
static void *produce(void *arg) {
        producer_run_t *run = arg;
        rf_pg_t *pg = NULL;
        char errstr[512], sql[256];
        int64_t give_up = rf_mono_ms() + 180000;
        int batch = 0;

        snprintf(sql, sizeof(sql), "SELECT count(*) FROM runfleet.decisions WHERE reason = 'integration test'");
        rf_pg_connect(run->t->db_url, "chaos-producer", &pg, errstr, sizeof(errstr));
        while (pg && rf_mono_ms() < give_up) {
                PGresult *res = NULL;
                int recorded = -1;
                if (rf_pg_exec(pg, sql, 0, NULL, &res, errstr, sizeof(errstr)) == 0) {
                        recorded = atoi(PQgetvalue(res, 0, 0));
                        PQclear(res);
                }
                if (recorded >= DECISIONS)
                        break;
                if (recorded >= 0) {
                        int n = DECISIONS - recorded < BATCH ? DECISIONS - recorded : BATCH;
                        itest_decide(run->t, workflows[batch++ % 5], n, NULL);
                }
                itest_sleep_ms(1000);
        }
        rf_pg_destroy(pg);
        run->finished_ms = rf_mono_ms();
        return NULL;
}

/* What the DLQ holds: how many messages, how many distinct origins, and
 * how many of those are not our poison. A worker killed after
 * dead-lettering a message but before committing past it dead-letters it
 * again (at-least-once), so the same origin may appear twice. */
typedef struct {
        char origins[64][48];
        int origin_count, foreign;
} dlq_seen_t;

static void note_dead_letter(const rd_kafka_message_t *m, void *arg) {
        dlq_seen_t *seen = arg;
        rd_kafka_headers_t *h = NULL;
        const void *po, *oo;
        size_t pl, ol;

        if (m->len < 13 || memcmp(m->payload, "chaos-poison-", 13) != 0)
                seen->foreign++;
        if (rd_kafka_message_headers(m, &h) == 0 &&
            rd_kafka_header_get_last(h, "runfleet.dlq.source.partition", &po, &pl) == 0 &&
            rd_kafka_header_get_last(h, "runfleet.dlq.source.offset", &oo, &ol) == 0) {
                char origin[48];
                bool known = false;
                snprintf(origin, sizeof(origin), "%.*s:%.*s", (int)pl, (const char *)po, (int)ol, (const char *)oo);
                for (int i = 0; i < seen->origin_count; i++)
                        known |= strcmp(seen->origins[i], origin) == 0;
                if (!known && seen->origin_count < 64)
                        snprintf(seen->origins[seen->origin_count++], sizeof(seen->origins[0]), "%s", origin);
        }
}

int main(void) {
        itest_t t;
        const char *root = getenv("RUNFLEET_SOURCE_ROOT");
        unsigned seed = getenv("RUNFLEET_CHAOS_SEED") ? (unsigned)atoi(getenv("RUNFLEET_CHAOS_SEED")) : 42;
        pid_t workers[WORKERS], reapers[2];
        producer_run_t run = { 0 };
        pthread_t producer;
        int worker_kills = 0, reaper_kills = 0, broker_kills = 0, pg_restarts = 0, crashed = 0, poison = 0;
        int64_t t0, faults_end, settled_ms;
        long long dups = 0, keys = 0, total;
        char out[4096];
        bool settled;

        itest_init(&t, "chaos");
        if (!root) {
                fprintf(stderr, "FAIL: RUNFLEET_SOURCE_ROOT is not set\n");
                return 1;
        }
        srand(seed);
        itest_config(
                &t,
                "scrapers = (\n"
                "  { name = \"s1\"; url = \"@FAKE@/chaos-%s/s1?delay_ms=20&fail_rate=0.05&hang_rate=0.02&reset_rate=0.01\"; timeout_ms = 2000; retry_backoff_ms = 50; breaker_cooldown_ms = 2000; },\n"
                "  { name = \"s2\"; url = \"@FAKE@/chaos-%s/s2?delay_ms=50&fail_rate=0.05&hang_rate=0.02&reset_rate=0.01\"; timeout_ms = 2000; retry_backoff_ms = 50; breaker_cooldown_ms = 2000; },\n"
                "  { name = \"s3\"; url = \"@FAKE@/chaos-%s/s3?delay_ms=100&fail_rate=0.05&hang_rate=0.02&reset_rate=0.01\"; timeout_ms = 2000; retry_backoff_ms = 50; breaker_cooldown_ms = 2000; },\n"
                "  { name = \"s4\"; url = \"@FAKE@/chaos-%s/s4?delay_ms=10&fail_rate=0.05&hang_rate=0.02&reset_rate=0.01\"; timeout_ms = 2000; retry_backoff_ms = 50; breaker_cooldown_ms = 2000; },\n"
                "  { name = \"s5\"; url = \"@FAKE@/chaos-%s/s5?delay_ms=200&fail_rate=0.05&hang_rate=0.02&reset_rate=0.01\"; timeout_ms = 2000; retry_backoff_ms = 50; breaker_cooldown_ms = 2000; }\n"
                ");\n"
                "workflows = (\n"
                "  { name = \"one\"; schedule = \"0 3 * * *\"; scrapers = [\"s1\"]; deadline_ms = 30000; },\n"
                "  { name = \"two\"; schedule = \"0 3 * * *\"; scrapers = [\"s1\", \"s2\"]; deadline_ms = 30000; },\n"
                "  { name = \"three\"; schedule = \"0 3 * * *\"; scrapers = [\"s1\", \"s2\", \"s3\"]; deadline_ms = 30000; },\n"
                "  { name = \"four\"; schedule = \"0 3 * * *\"; scrapers = [\"s1\", \"s2\", \"s3\", \"s4\"]; deadline_ms = 30000; },\n"
                "  { name = \"mixed\"; schedule = \"0 3 * * *\"; scrapers = [\"s5\", \"s2\"]; deadline_ms = 30000; }\n"
                ");\n"
                "worker = { max_in_flight = 500; lease_ms = 3000; heartbeat_ms = 500; commit_interval_ms = 200;"
                " drain_timeout_ms = 5000; };\n"
                "reaper = { interval_ms = 500; grace_ms = 6000; backoff_ms = 300; max_failed_executions = 8; };\n",
                t.db_name, t.db_name, t.db_name, t.db_name, t.db_name);
        itest_migrate(&t);
        for (int i = 0; i < WORKERS; i++)
                workers[i] = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        for (int i = 0; i < 2; i++)
                reapers[i] = itest_spawn(&t, "reaper", "runfleet-reaper", NULL);

        t0 = rf_mono_ms();
        run.t = &t;
        pthread_create(&producer, NULL, produce, &run);
        for (int tick = 0; run.finished_ms == 0 || tick < 60; tick++) {
                int64_t elapsed = rf_mono_ms() - t0;
                if (tick % 3 == 1) { /* a worker dies every ~3 s */
                        int victim = rand() % WORKERS;
                        kill(workers[victim], SIGKILL);
                        itest_wait(workers[victim], 5000);
                        workers[victim] = itest_spawn(&t, "worker", "runfleet-worker", NULL);
                        worker_kills++;
                }
                if (tick == 8 && reaper_kills == 0) {
                        kill(reapers[0], SIGKILL);
                        itest_wait(reapers[0], 5000);
                        reaper_kills++;
                }
                if (tick == 12 && broker_kills == 0) {
                        CHECK(chaos_script(&t, root, NULL, "kafka kill9") == 0);
                        itest_sleep_ms(2000);
                        CHECK(chaos_script(&t, root, NULL, "kafka start") == 0);
                        broker_kills++;
                }
                if (tick == 26 && pg_restarts == 0) {
                        CHECK(chaos_script(&t, root, NULL, "postgres stop-immediate") == 0);
                        itest_sleep_ms(2000);
                        CHECK(chaos_script(&t, root, NULL, "postgres start") == 0);
                        pg_restarts++;
                }
                if (tick % 12 == 4 && crashed < CRASHED_EVALUATIONS) {
                        char *env[] = { "RUNFLEET_FAULT=after-insert", NULL };
                        if (itest_run(&t, out, sizeof(out), 30000, env, "runfleet-producer", "trigger", "three",
                                      NULL) == 86)
                                crashed++;
                }
                if (tick % 6 == 2 && poison < POISON) {
                        char bad[64];
                        int len = snprintf(bad, sizeof(bad), "chaos-poison-%d", poison);
                        if (itest_produce_raw(&t, t.topic, workflows[poison % 5], bad, (size_t)len) == 0)
                                poison++;
                }
                (void)elapsed;
                itest_sleep_ms(1000);
        }
        pthread_join(producer, NULL);
        faults_end = rf_mono_ms();
        CHECK(crashed == CRASHED_EVALUATIONS);
        CHECK(poison == POISON);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE reason = 'integration test'") ==
              DECISIONS);

        /* the fleet settles: every RUN decision ends SUCCEEDED or DEAD */
        settled = itest_wait_for(&t, 0, SETTLE_BOUND_MS,
                                 "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'"
                                 " AND state NOT IN ('SUCCEEDED', 'DEAD')");
        settled_ms = rf_mono_ms() - faults_end;
        if (!settled)
                chaos_explain_unsettled(&t);
        CHECK(settled);
        total = itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'");
        CHECK(total == DECISIONS + CRASHED_EVALUATIONS);
        CHECK(itest_invariant_violations(&t) == 0);
        {
                dlq_seen_t seen = { .origin_count = 0 };
                int messages = itest_read_topic(&t, NULL, t.dlq_topic, POISON, 30000, note_dead_letter, &seen);
                printf("# DLQ: %d messages from %d distinct origins, %d not injected by the test\n", messages,
                       seen.origin_count, seen.foreign);
                CHECK(seen.origin_count == POISON);
                CHECK(seen.foreign == 0);
                CHECK(messages >= POISON);
        }
        {
                char prefix[128];
                snprintf(prefix, sizeof(prefix), "/chaos-%s/", t.db_name);
                chaos_duplicates(&t, prefix, &keys, &dups);
        }
        {
                long long succeeded =
                        itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'");
                long long dead = itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE state = 'DEAD'");
                long long executions = itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions");
                double secs = (double)(rf_mono_ms() - t0) / 1000.0;
                printf("# chaos seed %u\n", seed);
                printf("# decisions: %lld (%lld SUCCEEDED, %lld DEAD), executions %lld\n", total, succeeded, dead,
                       executions);
                printf("# faults: %d worker SIGKILLs, %d reaper SIGKILL, %d broker SIGKILL+restart, %d PostgreSQL"
                       " immediate stop+restart, %d evaluator crashes between insert and produce, %d poison messages;"
                       " scrapers 5%% 5xx, 2%% hang, 1%% reset\n",
                       worker_kills, reaper_kills, broker_kills, pg_restarts, crashed, poison);
                printf("# duplicate side effects: %lld of %lld (scraper, key) pairs seen more than once (%.1f%%, bound %d%%)\n",
                       dups, keys, keys ? 100.0 * (double)dups / (double)keys : 0.0, DUPLICATE_BOUND_PERCENT);
                printf("# settled %lld ms after the faults stopped (bound %d ms); %.0f executions/s over the run\n",
                       (long long)settled_ms, SETTLE_BOUND_MS, (double)executions / secs);
                fflush(stdout);
                /* a broker SIGKILLed with a produce request in flight can leave an idempotent producer
                 * with a fatal error (sequence out of step); the process replaces it and goes on */
                itest_sh("echo \"# producers replaced after a fatal error: $(cat '%s'/*.log |"
                         " grep -c '\"event\":\"kafka.producer_replaced\"')\"",
                         t.dir);
        }
        CHECK(keys > 0 && dups * 100 <= keys * DUPLICATE_BOUND_PERCENT);
        (void)reapers;
        return itest_finish(&t);
}
