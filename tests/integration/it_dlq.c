/* SPDX-License-Identifier: Apache-2.0 */
/* A garbage message lands in the DLQ with its reason and origin; the worker
 * keeps going, runs the valid decision behind it, and commits past both. */
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

typedef struct {
        const char *topic; /* where the garbage was produced */
        long long offset;
} origin_t;

/* Checks one dead letter: the garbage as it was, and its DLQ headers. */
static void check_dead_letter(const rd_kafka_message_t *m, void *arg) {
        const origin_t *origin = arg;
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t len;
        char reason[256];

        CHECK(m->len == 7 && memcmp(m->payload, "garbage", 7) == 0);
        CHECK(rd_kafka_message_headers(m, &h) == 0);
        CHECK(rd_kafka_header_get_last(h, "runfleet.dlq.reason", &v, &len) == 0);
        snprintf(reason, sizeof(reason), "%.*s", (int)len, (const char *)v);
        printf("# DLQ reason: %s\n", reason);
        CHECK_CONTAINS(reason, "undecodable");
        CHECK(rd_kafka_header_get_last(h, "runfleet.dlq.source.topic", &v, &len) == 0);
        CHECK(len == strlen(origin->topic) && memcmp(v, origin->topic, len) == 0);
        CHECK(rd_kafka_header_get_last(h, "runfleet.dlq.source.offset", &v, &len) == 0);
        CHECK(strtoll(v, NULL, 10) == origin->offset);
}

int main(void) {
        itest_t t;
        char out[4096];
        long long committed, end;

        itest_init(&t, "dlq");
        itest_config(&t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/dlq/s\"; } );\n"
                         "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                         "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n");
        itest_migrate(&t);
        /* same key as the valid decision: same partition, garbage first */
        CHECK(itest_produce_raw(&t, t.topic, "w", "garbage", 7) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 30000, NULL, "runfleet-producer", "trigger", "w", NULL) == 0);
        itest_spawn(&t, "worker", "runfleet-worker", NULL);

        CHECK(itest_wait_for(&t, 1, 60000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(itest_read_topic(&t, NULL, t.dlq_topic, 1, 20000, check_dead_letter, &(origin_t){ t.topic, 0 }) == 1);
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
