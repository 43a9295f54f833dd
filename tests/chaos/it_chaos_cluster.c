/* SPDX-License-Identifier: Apache-2.0 */
/* The cluster chaos test: the invariant when Kafka itself is replicated and
 * loses brokers. The test starts a 3-node KRaft cluster of its own
 * (scripts/kafka with KAFKA_BROKERS=3, its own state directory, and ports
 * two above the suite's broker so the two never meet), migrates (topics
 * with replication factor 3 and min.insync.replicas 2), and while
 * decisions arrive at a steady rate (for LOAD_S seconds, and at least
 * AFTER_S after the outage below):
 *   - SIGKILLs the leader of the busiest partition, restarting it later;
 *   - stops two of the three brokers at once for OUTAGE_MS (the quorum and
 *     every partition's ISR are lost: acks=all writes and offset commits
 *     block, decisions whose delivery timed out stay unacknowledged for the
 *     reaper to produce again), then starts them again.
 * Once the load stops the fleet must settle, and then, from PostgreSQL,
 * the invariant holds: every RUN decision has exactly one SUCCEEDED
 * execution or is DEAD, no decision has two, the orphans view is empty.
 * Duplicate side effects (calls the fake scraper saw twice for one key)
 * are counted and printed. The cluster is stopped and its storage deleted
 * at the end. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "chaos_lib.h"
#include "rf_util.h"

#define LOAD_S 75  /* seconds of steady load, at least */
#define AFTER_S 10 /* ... of which at least this many after the outage */
#define BATCH 40   /* decisions a second */
#define WORKERS 3
#define LEADER_KILL_AT_S 10  /* SIGKILL the busiest partition's leader */
#define LEADER_DOWN_MS 12000 /* ... and restart it that much later */
#define OUTAGE_AT_S 40       /* stop two brokers at once */
#define OUTAGE_MS 20000
#define SETTLE_BOUND_MS 300000

static const char *const workflows[] = { "one", "two", "three" };

typedef struct load {
        itest_t *t;
        volatile int stop;
        int requested, acknowledged, batches;
} load_t;

/* A batch a second, recorded then produced by a producer of its own, as the
 * evaluator does: a batch whose delivery times out (the cluster is down)
 * stays recorded, unacknowledged, for the reaper. */
static void *produce(void *arg) {
        load_t *load = arg;
        int64_t next = rf_mono_ms();

        while (!load->stop) {
                load->acknowledged += itest_decide(load->t, workflows[load->batches % 3], BATCH, NULL);
                load->requested += BATCH;
                load->batches++;
                next += 1000;
                if (next > rf_mono_ms())
                        itest_sleep_ms((int)(next - rf_mono_ms()));
                else
                        next = rf_mono_ms();
        }
        return NULL;
}

/* The node (= broker id) leading the partition of @p topic with the most
 * messages, or -1. Also counts partitions with fewer than 3 replicas into
 * *ret_under_replicated when given (-1 when the metadata did not come). */
static int busiest_leader(const char *brokers, const char *topic, int *ret_under_replicated) {
        char errstr[512];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_topic_t *rkt;
        const struct rd_kafka_metadata *md = NULL;
        int leader = -1, under = -1; /* -1: no metadata */
        int64_t most = -1;

        rd_kafka_conf_set(kc, "bootstrap.servers", brokers, errstr, sizeof(errstr));
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        if (!rk) {
                rd_kafka_conf_destroy(kc);
                return -1;
        }
        rkt = rd_kafka_topic_new(rk, topic, NULL);
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
                const rd_kafka_metadata_topic_t *mt = &md->topics[0];
                if (!mt->err && mt->partition_cnt > 0)
                        under = 0;
                for (int i = 0; i < mt->partition_cnt; i++) {
                        int64_t lo = 0, hi = 0;
                        if (under >= 0 && mt->partitions[i].replica_cnt < 3)
                                under++;
                        if (rd_kafka_query_watermark_offsets(rk, topic, mt->partitions[i].id, &lo, &hi, 5000) ==
                                    RD_KAFKA_RESP_ERR_NO_ERROR &&
                            hi > most) {
                                most = hi;
                                leader = mt->partitions[i].leader;
                        }
                }
                if (!ret_under_replicated)
                        printf("# busiest partition of %s holds %lld messages, led by broker %d\n", topic,
                               (long long)most, leader);
        }
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        if (ret_under_replicated)
                *ret_under_replicated = under;
        return leader;
}

/* The min.insync.replicas the brokers report for @p topic, or -1. */
static int topic_min_isr(const char *brokers, const char *topic) {
        char errstr[512];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_ConfigResource_t *res;
        rd_kafka_queue_t *q;
        rd_kafka_event_t *ev;
        int isr = -1;

        rd_kafka_conf_set(kc, "bootstrap.servers", brokers, errstr, sizeof(errstr));
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        if (!rk) {
                rd_kafka_conf_destroy(kc);
                return -1;
        }
        res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
        q = rd_kafka_queue_new(rk);
        rd_kafka_DescribeConfigs(rk, &res, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 15000);
        if (ev && !rd_kafka_event_error(ev)) {
                size_t nres = 0, nconf = 0;
                const rd_kafka_ConfigResource_t **rs =
                        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
                const rd_kafka_ConfigEntry_t **entries =
                        nres == 1 ? rd_kafka_ConfigResource_configs(rs[0], &nconf) : NULL;
                for (size_t i = 0; i < nconf; i++)
                        if (strcmp(rd_kafka_ConfigEntry_name(entries[i]), "min.insync.replicas") == 0 &&
                            rd_kafka_ConfigEntry_value(entries[i]))
                                isr = atoi(rd_kafka_ConfigEntry_value(entries[i]));
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_ConfigResource_destroy(res);
        rd_kafka_destroy(rk);
        return isr;
}

/* The port of the first broker of a "host:port,..." list, or 0. */
static int first_port(const char *brokers) {
        const char *colon = strchr(brokers, ':');
        return colon ? atoi(colon + 1) : 0;
}

int main(void) {
        itest_t t;
        const char *root = getenv("RUNFLEET_SOURCE_ROOT");
        const char *build = getenv("RUNFLEET_BUILD_ROOT");
        char env[1024], cmd[64], out[16384];
        load_t load = { 0 };
        pthread_t producer;
        pid_t workers[WORKERS];
        int base, leader = -1, under = -1, others[2] = { 0, 0 }, cluster_rc, rc;
        int64_t t0, load_end, settled_ms;
        long long total, succeeded, dead, executions, reproduced, keys = 0, dups = 0;
        bool settled;

        itest_init(&t, "chaos_cluster");
        if (!root || !build) {
                fprintf(stderr, "FAIL: RUNFLEET_SOURCE_ROOT or RUNFLEET_BUILD_ROOT is not set\n");
                return 1;
        }
        /* two above the suite's broker (19092 -> nodes on 19094..19099), or RUNFLEET_CHAOS_KAFKA_PORT */
        base = getenv("RUNFLEET_CHAOS_KAFKA_PORT") ? atoi(getenv("RUNFLEET_CHAOS_KAFKA_PORT"))
                                                   : first_port(t.brokers) + 2;
        if (base < 1024 || base > 65530) {
                fprintf(stderr, "FAIL: no port for the cluster (RUNFLEET_KAFKA_BROKERS=%s)\n", t.brokers);
                return 1;
        }
        snprintf(env, sizeof(env),
                 "KAFKA_BROKERS=3 KAFKA_PORT=%d KAFKA_CONTROLLER_PORT=%d KAFKA_STOP_TIMEOUT=15"
                 " KAFKA_HEAP_OPTS='-Xms256m -Xmx384m' RUNFLEET_STATE_DIR='%s/chaos-cluster'",
                 base, base + 1, build);
        snprintf(t.brokers, sizeof(t.brokers), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", base, base + 2, base + 4);
        printf("# cluster on %s, state in %s/chaos-cluster\n", t.brokers, build);
        /* a fresh cluster: whatever an interrupted run left is stopped and deleted */
        CHECK(chaos_script(&t, root, env, "kafka reset") == 0);
        cluster_rc = chaos_script(&t, root, env, "kafka start");
        CHECK(cluster_rc == 0);
        if (cluster_rc != 0) {
                itest_sh("tail -n 20 '%s/services.log'", t.dir);
                chaos_script(&t, root, env, "kafka stop");
                return itest_finish(&t);
        }

        itest_config(
                &t,
                "scrapers = (\n"
                "  { name = \"s1\"; url = \"@FAKE@/chaos-%s/s1?delay_ms=20&fail_rate=0.05\"; timeout_ms = 2000; retry_backoff_ms = 50; breaker_cooldown_ms = 2000; },\n"
                "  { name = \"s2\"; url = \"@FAKE@/chaos-%s/s2?delay_ms=50&fail_rate=0.05\"; timeout_ms = 2000; retry_backoff_ms = 50; breaker_cooldown_ms = 2000; },\n"
                "  { name = \"s3\"; url = \"@FAKE@/chaos-%s/s3?delay_ms=10&fail_rate=0.05\"; timeout_ms = 2000; retry_backoff_ms = 50; breaker_cooldown_ms = 2000; }\n"
                ");\n"
                "workflows = (\n"
                "  { name = \"one\"; schedule = \"0 3 * * *\"; scrapers = [\"s1\"]; deadline_ms = 30000; },\n"
                "  { name = \"two\"; schedule = \"0 3 * * *\"; scrapers = [\"s1\", \"s2\"]; deadline_ms = 30000; },\n"
                "  { name = \"three\"; schedule = \"0 3 * * *\"; scrapers = [\"s1\", \"s2\", \"s3\"]; deadline_ms = 30000; }\n"
                ");\n"
                "worker = { max_in_flight = 500; lease_ms = 3000; heartbeat_ms = 500; commit_interval_ms = 200;"
                " drain_timeout_ms = 5000; };\n"
                "reaper = { interval_ms = 500; grace_ms = 6000; backoff_ms = 300; max_failed_executions = 8; };\n",
                t.db_name, t.db_name, t.db_name);
        /* migrate on the cluster: replication factor 3, min ISR 2 by default */
        CHECK(itest_run(&t, out, sizeof(out), 90000, NULL, "runfleet-producer", "migrate", NULL) == 0);
        CHECK_CONTAINS(out, "\"replication_factor\":3,\"min_insync_replicas\":2,\"brokers\":3");
        busiest_leader(t.brokers, t.topic, &under);
        CHECK(under == 0);
        CHECK(topic_min_isr(t.brokers, t.topic) == 2);

        for (int i = 0; i < WORKERS; i++)
                workers[i] = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        for (int i = 0; i < 2; i++)
                itest_spawn(&t, "reaper", "runfleet-reaper", NULL);

        t0 = rf_mono_ms();
        load.t = &t;
        pthread_create(&producer, NULL, produce, &load);

        itest_sleep_ms(LEADER_KILL_AT_S * 1000);
        leader = busiest_leader(t.brokers, t.topic, NULL);
        CHECK(leader >= 1 && leader <= 3);
        if (leader < 1 || leader > 3)
                leader = 1;
        snprintf(cmd, sizeof(cmd), "kafka kill9 %d", leader);
        CHECK(chaos_script(&t, root, env, cmd) == 0);
        printf("# %.1f s: broker %d (leader of the busiest partition) SIGKILLed\n",
               (double)(rf_mono_ms() - t0) / 1000.0, leader);
        itest_sleep_ms(LEADER_DOWN_MS);
        snprintf(cmd, sizeof(cmd), "kafka start %d", leader);
        CHECK(chaos_script(&t, root, env, cmd) == 0);
        printf("# %.1f s: broker %d restarted\n", (double)(rf_mono_ms() - t0) / 1000.0, leader);

        if (rf_mono_ms() - t0 < OUTAGE_AT_S * 1000)
                itest_sleep_ms((int)(OUTAGE_AT_S * 1000 - (rf_mono_ms() - t0)));
        /* the two brokers other than the one killed before: the restarted one must now carry the cluster */
        others[0] = leader % 3 + 1;
        others[1] = (leader + 1) % 3 + 1;
        snprintf(cmd, sizeof(cmd), "kafka stop %d %d", others[0], others[1]);
        CHECK(chaos_script(&t, root, env, cmd) == 0);
        printf("# %.1f s: brokers %d and %d stopped\n", (double)(rf_mono_ms() - t0) / 1000.0, others[0], others[1]);
        itest_sleep_ms(OUTAGE_MS);
        snprintf(cmd, sizeof(cmd), "kafka start %d %d", others[0], others[1]);
        CHECK(chaos_script(&t, root, env, cmd) == 0);
        printf("# %.1f s: brokers %d and %d started\n", (double)(rf_mono_ms() - t0) / 1000.0, others[0], others[1]);

        /* load goes on for LOAD_S in all, and at least AFTER_S with the cluster whole again */
        itest_sleep_ms(rf_mono_ms() - t0 < (LOAD_S - AFTER_S) * 1000 ? (int)(LOAD_S * 1000 - (rf_mono_ms() - t0))
                                                                     : AFTER_S * 1000);
        load.stop = 1;
        pthread_join(producer, NULL);
        load_end = rf_mono_ms();
        /* the outage was real: some decisions were not acknowledged and wait for the reaper */
        CHECK(load.acknowledged < load.requested);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE reason = 'integration test'") ==
              load.requested);

        settled = itest_wait_for(&t, 0, SETTLE_BOUND_MS,
                                 "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'"
                                 " AND state NOT IN ('SUCCEEDED', 'DEAD')");
        settled_ms = rf_mono_ms() - load_end;
        if (!settled)
                chaos_explain_unsettled(&t);
        CHECK(settled);
        total = itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'");
        CHECK(total == load.requested);
        CHECK(itest_invariant_violations(&t) == 0);
        {
                char prefix[128];
                snprintf(prefix, sizeof(prefix), "/chaos-%s/", t.db_name);
                chaos_duplicates(&t, prefix, &keys, &dups);
        }
        CHECK(keys > 0);
        succeeded = itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'");
        dead = itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE state = 'DEAD'");
        executions = itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions");
        /* attempt 1 is the first production; each re-production adds one */
        reproduced = itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN' AND attempt > 1");
        CHECK(reproduced > 0);
        printf("# decisions: %lld (%lld SUCCEEDED, %lld DEAD), executions %lld\n", total, succeeded, dead, executions);
        printf("# load: %d batches of %d over %.0f s; Kafka acknowledged %d of %d at first, the reaper produced"
               " again %lld decisions\n",
               load.batches, BATCH, (double)(load_end - t0) / 1000.0, load.acknowledged, load.requested, reproduced);
        printf("# faults: broker %d SIGKILLed for %d ms; brokers %d and %d stopped together for %d ms\n", leader,
               LEADER_DOWN_MS, others[0], others[1], OUTAGE_MS);
        printf("# duplicate side effects: %lld of %lld (scraper, key) pairs seen more than once (%.1f%%)\n", dups, keys,
               keys ? 100.0 * (double)dups / (double)keys : 0.0);
        printf("# settled %lld ms after the load stopped (bound %d ms)\n", (long long)settled_ms, SETTLE_BOUND_MS);
        itest_sh("echo \"# producers replaced after a fatal error: $(cat '%s'/*.log |"
                 " grep -c '\"event\":\"kafka.producer_replaced\"')\"",
                 t.dir);
        (void)workers;

        rc = itest_finish(&t);
        /* after the workers and reapers drained (they need the cluster to) */
        if (chaos_script(&t, root, env, "kafka reset") != 0) {
                fprintf(stderr, "FAIL: the cluster did not stop (see %s/services.log)\n", t.dir);
                rc = 1;
        }
        return rc;
}
