/* A garbage message lands in the DLQ with its reason and origin; the worker
 * keeps going, runs the valid decision behind it, and commits past both. */
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

/* Reads the one message on @p topic and checks its DLQ headers. */
static void check_dlq(itest_t *t, long long garbage_offset) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(3);
        rd_kafka_message_t *m = NULL;
        char errstr[256];
        int found = 0;

        rd_kafka_conf_set(kc, "bootstrap.servers", t->brokers, errstr, sizeof(errstr));
        rd_kafka_conf_set(kc, "group.id", "itest-dlq-reader", errstr, sizeof(errstr));
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, sizeof(errstr));
        for (int p = 0; p < 3; p++)
                rd_kafka_topic_partition_list_add(parts, t->dlq_topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(rk, parts);
        for (int i = 0; i < 100 && !found; i++) {
                m = rd_kafka_consumer_poll(rk, 200);
                if (!m)
                        continue;
                if (!m->err) {
                        rd_kafka_headers_t *h = NULL;
                        const void *v;
                        size_t len;
                        found = 1;
                        CHECK(m->len == 7 && memcmp(m->payload, "garbage", 7) == 0);
                        CHECK(rd_kafka_message_headers(m, &h) == 0);
                        CHECK(rd_kafka_header_get_last(h, "runfleet.dlq.reason", &v, &len) == 0);
                        {
                                char reason[256];
                                snprintf(reason, sizeof(reason), "%.*s", (int)len, (const char *)v);
                                printf("# DLQ reason: %s\n", reason);
                                CHECK_CONTAINS(reason, "undecodable");
                        }
                        CHECK(rd_kafka_header_get_last(h, "runfleet.dlq.source.topic", &v, &len) == 0);
                        CHECK(len == strlen(t->topic) && memcmp(v, t->topic, len) == 0);
                        CHECK(rd_kafka_header_get_last(h, "runfleet.dlq.source.offset", &v, &len) == 0);
                        CHECK(strtoll(v, NULL, 10) == garbage_offset);
                }
                rd_kafka_message_destroy(m);
        }
        CHECK(found);
        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
}

int main(void) {
        itest_t t;
        char out[4096];
        long long committed, end;

        itest_init(&t, "dlq");
        itest_config(&t,
                     "scrapers = ( { name = \"s\"; url = \"@FAKE@/dlq/s\"; } );\n"
                     "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n");
        itest_migrate(&t);
        /* same key as the valid decision: same partition, garbage first */
        CHECK(itest_produce_raw(&t, t.topic, "w", "garbage", 7) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "w", NULL) == 0);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);

        CHECK(itest_wait_for(&t, 1, 60000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        check_dlq(&t, 0);
        for (int i = 0; i < 40; i++) {
                itest_group_offsets(&t, t.topic, t.group, &committed, &end);
                if (committed == end)
                        break;
                itest_sleep_ms(250);
        }
        CHECK(end == 2);
        CHECK(committed == 2);
        return itest_finish(&t);
}
