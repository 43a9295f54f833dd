/* SPDX-License-Identifier: Apache-2.0 */
/* A producer's fatal error does not stop the fleet. An idempotent producer
 * whose sequence numbers fall out of step with the broker (seen in the
 * chaos test: the broker SIGKILLed with a request in flight, then "out of
 * order sequence number") fails every message from then on; before this
 * was handled, the reaper failed every sweep for good and the decisions it
 * owed stayed PENDING. RUNFLEET_FAULT=kafka-fatal raises such an error
 * (librdkafka's rd_kafka_test_fatal_error) right after a process queues
 * its first message.
 *
 * 1. The worker's DLQ producer: a garbage message still reaches the DLQ,
 *    the group commits past it, and the valid decision behind it runs.
 * 2. The reaper's producer: a decision recorded and never produced (the
 *    evaluator crashed after its insert) is re-produced by the replaced
 *    producer and runs.
 * 3. The evaluator's way, in this process: rf_kafka_producer_recover()
 *    leaves a sound producer alone, replaces a failed one, and the
 *    decision published next is delivered and runs. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_conf.h"
#include "rf_kafka.h"
#include "rf_store.h"

static void count_garbage(const rd_kafka_message_t *m, void *arg) {
        int *garbage = arg;

        *garbage += m->len == 7 && memcmp(m->payload, "garbage", 7) == 0;
}

/* The log of @p pid says its producer was replaced after a fatal error. */
static void check_replaced(itest_t *t, pid_t pid) {
        char *log = itest_read_log(t, pid);

        CHECK(log != NULL);
        CHECK_CONTAINS(log, "\"event\":\"kafka.producer_replaced\"");
        CHECK_CONTAINS(log, "injected by RUNFLEET_FAULT=kafka-fatal");
        free(log);
}

static void publish_after_fatal(itest_t *t) {
        rf_conf_t *conf = NULL;
        rd_kafka_t *rk = NULL;
        char errstr[1024];

        CHECK(rf_conf_load(t->config, &conf, errstr, sizeof(errstr)) == 0);
        CHECK(rf_kafka_producer_new(conf, "itest", rf_store_dr_cb, NULL, &rk, errstr, sizeof(errstr)) == 0);
        CHECK(rf_kafka_producer_recover(&rk, conf, "itest", rf_store_dr_cb) == 0);
        CHECK(rd_kafka_test_fatal_error(rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "it_kafka_fatal") ==
              RD_KAFKA_RESP_ERR_NO_ERROR);
        CHECK(rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR);
        CHECK(rf_kafka_producer_recover(&rk, conf, "itest", rf_store_dr_cb) == 1);
        CHECK(rd_kafka_fatal_error(rk, NULL, 0) == RD_KAFKA_RESP_ERR_NO_ERROR);
        /* delivered: the evaluator publishes the same way (rf_store_publish) */
        CHECK(itest_decide_with(t, rk, "w", 1, NULL) == 1);
        rd_kafka_destroy(rk);
        rf_conf_destroy(conf);
}

int main(void) {
        static char fault[] = "RUNFLEET_FAULT=kafka-fatal";
        char *fatal_env[] = { fault, NULL };
        static char crash[] = "RUNFLEET_FAULT=after-insert";
        char *crash_env[] = { crash, NULL };
        itest_t t;
        char out[4096];
        pid_t worker, reaper;
        int garbage = 0;

        itest_init(&t, "kafka_fatal");
        itest_config(&t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/kafka_fatal/s\"; } );\n"
                         "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                         "worker = { lease_ms = 5000; heartbeat_ms = 500; commit_interval_ms = 200; };\n"
                         "reaper = { interval_ms = 500; grace_ms = 6000; };\n");
        itest_migrate(&t);

        /* 1: same key as the valid decision, so same partition, garbage first */
        CHECK(itest_produce_raw(&t, t.topic, "w", "garbage", 7) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "w", NULL) == 0);
        worker = itest_spawn_env(&t, "worker", fatal_env, "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, 1, 60000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        /* the letter in flight at the fatal error may have reached the broker: once or twice */
        CHECK(itest_read_topic(&t, NULL, t.dlq_topic, 1, 20000, count_garbage, &garbage) >= 1);
        CHECK(garbage >= 1);
        CHECK(itest_wait_committed(&t, t.topic, t.group, 20000));
        check_replaced(&t, worker);

        /* 2: recorded, never produced; only the reaper can bring it to the worker */
        CHECK(itest_run(&t, out, sizeof(out), 30000, crash_env, "runfleet-producer", "trigger", "w", NULL) == 86);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE state = 'PENDING'") == 1);
        reaper = itest_spawn_env(&t, "reaper", fatal_env, "runfleet-reaper", NULL);
        CHECK(itest_wait_for(&t, 2, 60000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        check_replaced(&t, reaper);

        publish_after_fatal(&t);
        CHECK(itest_wait_for(&t, 3, 60000, "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'") == 3);
        return itest_finish(&t);
}
