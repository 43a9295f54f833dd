/* SPDX-License-Identifier: Apache-2.0 */
/* A failed offset commit is sent again. During a rebalance the group
 * coordinator refuses commits (REBALANCE_IN_PROGRESS; STALE_MEMBER_EPOCH
 * under KIP-848) and librdkafka does not retry them: a worker that took
 * such a commit as done left a partition whose last message had executed
 * with that message uncommitted for good, since nothing new arrived there
 * to commit again (seen in the Kubernetes suite when KEDA scaled the
 * workers 1 -> 2). The refusals are injected by librdkafka's mock cluster,
 * the only way to make them happen on cue; PostgreSQL is the real one. */
#include <librdkafka/rdkafka.h>

#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h, which it needs */
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#define API_OFFSET_COMMIT 8 /* the Kafka protocol's ApiKey; librdkafka's name for it is internal */

static int count(const char *hay, const char *needle) {
        int n = 0;

        for (const char *p = hay; (p = strstr(p, needle)); p++)
                n++;
        return n;
}

int main(void) {
        rd_kafka_mock_cluster_t *mock;
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        char errstr[512], *log;
        rd_kafka_t *owner;
        long long committed, end;
        itest_t t;
        pid_t w;
        static const char config[] =
                "scrapers = ( { name = \"s\"; url = \"@FAKE@/commit_retry/s\"; } );\n"
                "workflows = ( { name = \"once\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                "worker = { commit_interval_ms = 100; };\n";

        itest_init(&t, "commit_retry");
        owner = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        if (!owner) {
                fprintf(stderr, "FAIL: rd_kafka_new: %s\n", errstr);
                return 1;
        }
        mock = rd_kafka_mock_cluster_new(owner, 1);
        CHECK(mock != NULL);
        if (!mock)
                return rf_test_finish();
        /* migrate against the real broker (the mock cluster answers no
         * DescribeConfigs), then point everything else at the mock */
        itest_config(&t, "%s", config);
        itest_migrate(&t);
        snprintf(t.brokers, sizeof(t.brokers), "%s", rd_kafka_mock_cluster_bootstraps(mock));
        CHECK(rd_kafka_mock_topic_create(mock, t.topic, 3, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
        CHECK(rd_kafka_mock_topic_create(mock, t.dlq_topic, 3, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
        itest_config(&t, "%s", config);
        /* the worker's first three commits are refused, as mid-rebalance */
        rd_kafka_mock_push_request_errors(mock, API_OFFSET_COMMIT, 3, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
                                          RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
                                          RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS);
        w = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        /* one message in one partition: nothing later would commit past it */
        CHECK(itest_decide(&t, "once", 1, NULL) == 1);
        CHECK(itest_wait_for(&t, 1, 30000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(itest_wait_committed(&t, t.topic, t.group, 20000));
        itest_group_offsets(&t, t.topic, t.group, &committed, &end);
        CHECK(end == 1);
        CHECK(committed == 1);
        log = itest_read_log(&t, w);
        CHECK(count(log, "\"kafka.commit_failed\"") >= 1);
        CHECK(count(log, "\"retried\":true") >= 1);
        free(log);
        itest_finish(&t);
        rd_kafka_mock_cluster_destroy(mock);
        rd_kafka_destroy(owner);
        return rf_test_finish();
}
