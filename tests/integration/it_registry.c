/* SPDX-License-Identifier: Apache-2.0 */
/* The Schema Registry wire format against the real registry (Apicurio,
 * scripts/services): `migrate` registers <topic>-value with BACKWARD, and
 * exits 1 with a clear line for an incompatible schema or an unreachable
 * registry; the programs produce decisions framed 00 + id; a topic that
 * holds both formats (and a framed message with an id the registry does
 * not know) is read by the worker (runs both, dead-letters the unknown id
 * with that reason and the original bytes), by `replay` (replays both) and
 * by `dlq list` (names the decisions of both formats). */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "rf_decision.h"
#include "rf_util.h"

#define UNKNOWN_ID 987654

typedef struct {
        int framed, single, other;
        int32_t ids[8];
        void *values[8]; /* copies, in topic order (one partition) */
        size_t lens[8];
        int n;
} seen_t;

static void collect(const rd_kafka_message_t *m, void *arg) {
        seen_t *s = arg;
        int32_t id = -1;
        rf_wire_t w = rf_decision_wire(m->payload, m->len, &id);

        if (w == RF_WIRE_CONFLUENT)
                s->framed++;
        else if (w == RF_WIRE_SINGLE_OBJECT)
                s->single++;
        else
                s->other++;
        if (s->n < 8) {
                s->ids[s->n] = w == RF_WIRE_CONFLUENT ? id : -1;
                s->values[s->n] = malloc(m->len);
                memcpy(s->values[s->n], m->payload, m->len);
                s->lens[s->n] = m->len;
                s->n++;
        }
}

static void seen_free(seen_t *s) {
        for (int i = 0; i < s->n; i++)
                free(s->values[i]);
}

typedef struct {
        const void *want;
        size_t want_len;
        int matched;
        char reason[512];
} dead_t;

static void check_dead(const rd_kafka_message_t *m, void *arg) {
        dead_t *d = arg;
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t len;

        if (rd_kafka_message_headers(m, &h) == 0 && rd_kafka_header_get_last(h, "runfleet.dlq.reason", &v, &len) == 0)
                snprintf(d->reason, sizeof(d->reason), "%.*s", (int)len, (const char *)v);
        printf("# DLQ reason: %s\n", d->reason);
        if (m->len == d->want_len && memcmp(m->payload, d->want, m->len) == 0)
                d->matched++;
}

/* GET url + path, parsed as JSON (NULL when it is not 200 JSON). */
static json_t *registry_get(itest_t *t, const char *path) {
        itest_reply_t r;
        char url[600];
        json_t *j = NULL;

        snprintf(url, sizeof(url), "%s%s", t->registry_url, path);
        itest_http("GET", url, &r);
        if (r.status == 200)
                j = json_loadb(r.body, r.len, 0, NULL);
        else
                printf("# GET %s: HTTP %ld %.*s\n", url, r.status, (int)r.len, r.body);
        free(r.body);
        return j;
}

int main(void) {
        itest_t t;
        char out[16384], path[400], env_topic[200], env_dlq[200], env_url[200], from[40], to[40];
        char *env_other[] = { env_topic, env_dlq, NULL }, *env_down[] = { env_url, NULL };
        seen_t seen = { 0 };
        dead_t dead = { 0 };
        json_t *j;
        int32_t id = -1;
        int port;

        itest_init(&t, "registry");
        itest_require_registry(&t);
        t.partitions = 1; /* one partition: the messages' order is the topic's */
        setenv("RUNFLEET_KAFKA_VALUE_FORMAT", "schema-registry", 1); /* for the programs started below */
        itest_config(&t,
                     "schema_registry = { url = \"%s\"; timeout_ms = 2000; };\n"
                     "scrapers = ( { name = \"s\"; url = \"@FAKE@/registry/s\"; } );\n"
                     "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; } );\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n",
                     t.registry_url);

        /* migrate: registered under <topic>-value, compatibility BACKWARD */
        itest_migrate(&t);
        snprintf(path, sizeof(path), "/subjects/%s-value/versions/latest", t.topic);
        j = registry_get(&t, path);
        CHECK(j && json_is_integer(json_object_get(j, "id")));
        if (j) {
                id = (int32_t)json_integer_value(json_object_get(j, "id"));
                CHECK_CONTAINS(json_string_value(json_object_get(j, "schema")), "RunDecision");
        }
        json_decref(j);
        snprintf(path, sizeof(path), "/config/%s-value", t.topic);
        j = registry_get(&t, path);
        CHECK(j && json_string_value(json_object_get(j, "compatibilityLevel")) &&
              strcmp(json_string_value(json_object_get(j, "compatibilityLevel")), "BACKWARD") == 0);
        json_decref(j);
        /* again: idempotent, the same id */
        itest_migrate(&t);
        snprintf(path, sizeof(path), "/subjects/%s-value/versions", t.topic);
        j = registry_get(&t, path);
        CHECK(j && json_array_size(j) == 1);
        json_decref(j);

        /* an incompatible schema already under another topic's subject: refused, exit 1 */
        snprintf(env_topic, sizeof(env_topic), "RUNFLEET_KAFKA_TOPIC=%s.other", t.topic);
        snprintf(env_dlq, sizeof(env_dlq), "RUNFLEET_KAFKA_DLQ_TOPIC=%s.other.dlq", t.topic);
        CHECK(itest_sh("curl -fsS -o /dev/null -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' "
                       "'%s/subjects/%s.other-value/versions' -d '{\"schema\": \"{\\\"type\\\":\\\"record\\\","
                       "\\\"name\\\":\\\"RunDecision\\\",\\\"namespace\\\":\\\"runfleet.v1\\\",\\\"fields\\\":"
                       "[{\\\"name\\\":\\\"x\\\",\\\"type\\\":\\\"int\\\"}]}\"}'",
                       t.registry_url, t.topic) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 60000, env_other, "runfleet-producer", "migrate", NULL) == 1);
        CHECK_CONTAINS(out, "incompatible (BACKWARD)");
        CHECK_CONTAINS(out, ".other-value");

        /* the registry unreachable: exit 1, naming it */
        port = itest_free_port(NULL, 0);
        snprintf(env_url, sizeof(env_url), "RUNFLEET_SCHEMA_REGISTRY_URL=http://127.0.0.1:%d/apis/ccompat/v7", port);
        CHECK(itest_run(&t, out, sizeof(out), 60000, env_down, "runfleet-producer", "migrate", NULL) == 1);
        CHECK_CONTAINS(out, "schema registry http://127.0.0.1:");
        CHECK_CONTAINS(out, "cannot register the decision schema");

        /* a topic holding both formats and an unknown id, in this order:
         * framed (trigger, a program), single-object (this process has no
         * registry set up: itest_decide encodes single-object), framed with
         * an id the registry never gave */
        rf_time_format(rf_now_ms() - 2000, from, sizeof(from));
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "trigger", "w", NULL) == 0);
        CHECK(itest_decide(&t, "w", 1, NULL) == 1);
        {
                rf_decision_t *d = rf_decision_new();
                char uuid[37], err[256], scraper[] = "s", *scrapers[] = { scraper };
                void *buf = NULL;
                size_t len = 0;

                rf_uuid_new(uuid);
                d->decision_id = strdup(uuid);
                d->workflow = strdup("w");
                d->reason = strdup("unknown id");
                d->trace_id = strdup("0123456789abcdef0123456789abcdef");
                d->decided_at_ms = rf_now_ms();
                d->attempt = 1;
                d->deadline_ms = 60000;
                rf_decision_set_scrapers(d, scrapers, 1);
                CHECK(rf_decision_encode_confluent(d, UNKNOWN_ID, &buf, &len, err, sizeof(err)) == 0);
                if (!buf)
                        printf("# encode: %s\n", err);
                CHECK(itest_produce_raw(&t, t.topic, "w", buf, len) == 0);
                dead.want = buf;
                dead.want_len = len;
                rf_decision_destroy(d);
        }
        CHECK(itest_read_topic(&t, NULL, t.topic, 3, 20000, collect, &seen) == 3);
        CHECK(seen.framed == 2 && seen.single == 1 && seen.other == 0);
        CHECK(seen.ids[0] == id); /* the program framed with the registered id */
        CHECK(seen.ids[1] == -1 && seen.ids[2] == UNKNOWN_ID);

        /* the worker: runs both formats, dead-letters the unknown id */
        itest_spawn(&t, "worker", "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, 2, 60000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(itest_read_topic(&t, NULL, t.dlq_topic, 1, 30000, check_dead, &dead) == 1);
        CHECK(dead.matched == 1); /* the original bytes */
        CHECK_CONTAINS(dead.reason, "schema id 987654 is unknown to the schema registry");
        CHECK(itest_wait_committed(&t, t.topic, t.group, 20000));

        /* replay over the range: both formats decoded (the unknown id is not) */
        rf_time_format(rf_now_ms() + 1000, to, sizeof(to));
        itest_sleep_ms(1500);
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "replay", "--from", from, "--to", to,
                        NULL) == 0);
        CHECK_CONTAINS(out, "2 decisions replayed");
        CHECK(itest_wait_for(&t, 4, 60000, "SELECT count(*) FROM runfleet.executions WHERE status = 'SUCCEEDED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE replay_of IS NOT NULL") == 2);

        /* dlq list: a framed and a single-object dead letter both named */
        CHECK(itest_produce_raw(&t, t.dlq_topic, "w", seen.values[0], seen.lens[0]) == 0);
        CHECK(itest_produce_raw(&t, t.dlq_topic, "w", seen.values[1], seen.lens[1]) == 0);
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "dlq", "list", NULL) == 0);
        {
                int named = 0;

                for (const char *p = out; (p = strstr(p, "decision ")); p++)
                        if (strstr(p, " of w") && strstr(p, " of w") - p < 60)
                                named++;
                printf("# dlq list names %d decisions\n", named);
                CHECK(named == 2);
        }
        CHECK_CONTAINS(out, "undecodable bytes (schema id 987654 is unknown to the schema registry");
        CHECK(itest_invariant_violations(&t) == 0);
        free((void *)dead.want);
        seen_free(&seen);
        return itest_finish(&t);
}
