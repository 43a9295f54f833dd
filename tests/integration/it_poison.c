/* SPDX-License-Identifier: Apache-2.0 */
/* Poison messages on one partition, between valid decisions: each poison
 * message lands in the DLQ with its own reason and its bytes unchanged,
 * every valid decision runs exactly once (one of them written with a newer
 * schema, v2, that the worker learns from RUNFLEET_DECISION_SCHEMA_DIR),
 * and the worker neither crashes, nor stalls the partition, nor grows
 * without bound. A scraper that answers with binary garbage and an absurd
 * Retry-After gets its execution recorded as FAILED, not retried for ever. */
#include <avro.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rf_decision.h"
#include "rf_fingerprint.h"
#include "rf_store.h"
#include "rf_util.h"

#define KEY "w" /* every message: one partition */
#define MAX_MSGS 32
#define PEAK_RSS_LIMIT_KB (100 * 1024)

/* ---- a hostile scraper: binary error pages and absurd Retry-After ------ */

static int hostile_fd = -1;
static volatile int hostile_stop;

static void hostile_answer(int c) {
        static const char binary_body[] =
                "\xff\xfe oops \xc3\x28 \xed\xa0\x80 \x1b[31m\r\nTraceback \xe9\xe9\xe9 "
                "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
        char req[8192], head[256];
        size_t got = 0;
        const char *body = "";
        size_t body_len = 0;
        const char *status, *extra = "";

        /* the request line and headers; the small JSON body may follow or not */
        while (got < sizeof(req) - 1) {
                struct pollfd p = { .fd = c, .events = POLLIN };
                ssize_t n;

                if (poll(&p, 1, 2000) <= 0)
                        break;
                n = read(c, req + got, sizeof(req) - 1 - got);
                if (n <= 0)
                        break;
                got += (size_t)n;
                req[got] = '\0';
                if (strstr(req, "\r\n\r\n"))
                        break;
        }
        req[got] = '\0';
        if (strstr(req, " /retry")) {
                status = "429 Too Many Requests";
                extra = "Retry-After: 9223372036854775807\r\n";
        } else {
                status = "500 Internal Server Error";
                body = binary_body;
                body_len = sizeof(binary_body) - 1;
        }
        snprintf(head, sizeof(head), "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n", status, extra,
                 body_len);
        if (write(c, head, strlen(head)) < 0 || (body_len && write(c, body, body_len) < 0))
                fprintf(stderr, "# hostile scraper: write failed\n");
        shutdown(c, SHUT_WR);
        /* let the client read everything before the close */
        while (read(c, req, sizeof(req)) > 0)
                ;
        close(c);
}

static void *hostile_main(void *arg) {
        (void)arg;
        while (!hostile_stop) {
                struct pollfd p = { .fd = hostile_fd, .events = POLLIN };
                int c;

                if (poll(&p, 1, 200) <= 0)
                        continue;
                c = accept(hostile_fd, NULL, NULL);
                if (c >= 0)
                        hostile_answer(c);
        }
        return NULL;
}

static int hostile_start(pthread_t *thread) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);

        hostile_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (hostile_fd < 0 || bind(hostile_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(hostile_fd, 16) < 0 ||
            getsockname(hostile_fd, (struct sockaddr *)&a, &len) < 0 ||
            pthread_create(thread, NULL, hostile_main, NULL) != 0)
                return -1;
        return ntohs(a.sin_port);
}

/* ---- messages ---------------------------------------------------------- */

typedef struct sent {
        unsigned char *value; /* NULL: a tombstone (null value) */
        size_t len;
        const char *what;
        const char *reason; /* expected in runfleet.dlq.reason; NULL: a valid decision */
        char decision_id[37];
        int seen; /* in the DLQ */
} sent_t;

static sent_t msgs[MAX_MSGS];
static int n_msgs;

static void add(const char *what, const void *value, size_t len, const char *reason) {
        sent_t *s = &msgs[n_msgs++];

        s->what = what;
        s->reason = reason;
        s->len = len;
        if (value) {
                s->value = malloc(len ? len : 1);
                memcpy(s->value, value, len);
        }
}

/* A decision of workflow @p workflow calling @p scraper; recorded in the
 * database first when @p record (as the evaluator does). The caller owns it. */
static rf_decision_t *decision(itest_t *t, const char *workflow, const char *scraper, bool record) {
        rf_decision_t *d = rf_decision_new();
        char *names[] = { (char *)scraper };
        char errstr[512], id[37];

        d->workflow = strdup(workflow);
        d->reason = strdup("poison test");
        d->deadline_ms = 20000;
        rf_decision_set_scrapers(d, names, 1);
        if (record) {
                CHECK(rf_store_insert_decision(t->pg, d, "RUN", -1, errstr, sizeof(errstr)) == 0);
        } else {
                rf_uuid_new(id);
                d->decision_id = strdup(id);
                rf_uuid_new(id);
                d->trace_id = strdup(id);
                d->decided_at_ms = 1;
                d->attempt = 1;
        }
        return d;
}

static void add_decision(const char *what, const rf_decision_t *d, const char *reason) {
        char errstr[256];
        void *buf = NULL;
        size_t len = 0;

        CHECK(rf_decision_encode(d, &buf, &len, errstr, sizeof(errstr)) == 0);
        add(what, buf, len, reason);
        snprintf(msgs[n_msgs - 1].decision_id, 37, "%s", d->decision_id);
        free(buf);
}

static void add_valid(itest_t *t, const char *what) {
        rf_decision_t *d = decision(t, "w", "s", true);

        add_decision(what, d, NULL);
        rf_decision_destroy(d);
}

/* The same decision written by a newer producer: schema v2 (an extra field,
 * "priority") read from @p schema_path. */
static void add_v2(itest_t *t, const char *schema_path) {
        rf_decision_t *d = decision(t, "w", "s", true);
        FILE *f = fopen(schema_path, "rb");
        char json[8192] = "", errstr[256];
        avro_schema_t schema = NULL;
        avro_value_iface_t *cls = NULL;
        avro_value_t v, field, item;
        avro_writer_t w;
        unsigned char buf[4096];
        size_t n = 0, size = 0;
        uint64_t fp = 0;

        if (f) {
                n = fread(json, 1, sizeof(json) - 1, f);
                fclose(f);
        }
        json[n] = '\0';
        CHECK(n > 0);
        CHECK(rf_avro_fingerprint(json, &fp, errstr, sizeof(errstr)) == 0);
        CHECK(avro_schema_from_json_length(json, n, &schema) == 0);
        cls = avro_generic_class_from_schema(schema);
        CHECK(cls && avro_generic_value_new(cls, &v) == 0);
        avro_value_get_by_name(&v, "decision_id", &field, NULL);
        avro_value_set_string(&field, d->decision_id);
        avro_value_get_by_name(&v, "workflow", &field, NULL);
        avro_value_set_string(&field, d->workflow);
        avro_value_get_by_name(&v, "scrapers", &field, NULL);
        avro_value_append(&field, &item, NULL);
        avro_value_set_string(&item, d->scrapers[0]);
        avro_value_get_by_name(&v, "decided_at", &field, NULL);
        avro_value_set_long(&field, d->decided_at_ms);
        avro_value_get_by_name(&v, "attempt", &field, NULL);
        avro_value_set_int(&field, d->attempt);
        avro_value_get_by_name(&v, "priority", &field, NULL);
        avro_value_set_int(&field, 7);
        avro_value_get_by_name(&v, "reason", &field, NULL);
        avro_value_set_string(&field, d->reason);
        avro_value_get_by_name(&v, "deadline_ms", &field, NULL);
        avro_value_set_long(&field, d->deadline_ms);
        avro_value_get_by_name(&v, "replay_of", &field, NULL);
        avro_value_set_branch(&field, 0, &item);
        avro_value_set_null(&item);
        avro_value_get_by_name(&v, "trace_id", &field, NULL);
        avro_value_set_string(&field, d->trace_id);
        CHECK(avro_value_sizeof(&v, &size) == 0 && size + RF_SOE_HEADER_LEN <= sizeof(buf));
        buf[0] = 0xc3;
        buf[1] = 0x01;
        for (int i = 0; i < 8; i++)
                buf[2 + i] = (unsigned char)(fp >> (8 * i));
        w = avro_writer_memory((const char *)buf + RF_SOE_HEADER_LEN, (int64_t)size);
        CHECK(avro_value_write(w, &v) == 0);
        avro_writer_free(w);
        avro_value_decref(&v);
        avro_value_iface_decref(cls);
        avro_schema_decref(schema);
        add("valid decision, schema v2 (extra field)", buf, RF_SOE_HEADER_LEN + size, NULL);
        snprintf(msgs[n_msgs - 1].decision_id, 37, "%s", d->decision_id);
        rf_decision_destroy(d);
}

/* ---- checks ------------------------------------------------------------ */

typedef struct {
        const itest_t *t;
        int32_t partition; /* of the test's topic, where every poison message went */
} dlq_check_t;

static int header(const rd_kafka_message_t *m, const char *name, char *out, size_t size) {
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t len;

        if (rd_kafka_message_headers(m, &h) != 0 || rd_kafka_header_get_last(h, name, &v, &len) != 0)
                return -1;
        snprintf(out, size, "%.*s", (int)len, (const char *)v);
        return 0;
}

/* Matches one dead letter to what was sent at its source offset, which must
 * be on the test topic's partition @p arg names. */
static void check_dead_letter(const rd_kafka_message_t *m, void *arg) {
        const itest_t *t = ((const dlq_check_t *)arg)->t;
        int32_t partition = ((const dlq_check_t *)arg)->partition;
        char reason[700], src_topic[200], src_part[16], src_off[32];
        long long off;

        CHECK(header(m, "runfleet.dlq.reason", reason, sizeof(reason)) == 0);
        CHECK(header(m, "runfleet.dlq.source.topic", src_topic, sizeof(src_topic)) == 0);
        CHECK(header(m, "runfleet.dlq.source.partition", src_part, sizeof(src_part)) == 0);
        CHECK(header(m, "runfleet.dlq.source.offset", src_off, sizeof(src_off)) == 0);
        CHECK_STR_EQ(src_topic, t->topic);
        CHECK(atoi(src_part) == partition);
        off = strtoll(src_off, NULL, 10);
        CHECK(off >= 0 && off < n_msgs);
        if (off < 0 || off >= n_msgs)
                return;
        printf("# DLQ offset %lld (%s): %s\n", off, msgs[off].what, reason);
        CHECK(msgs[off].reason != NULL); /* a valid decision never lands here */
        if (msgs[off].reason)
                CHECK_CONTAINS(reason, msgs[off].reason);
        /* the unresolvable extra schema was skipped, and the refusal says so */
        if (strcmp(msgs[off].what, "wrong fingerprint") == 0)
                CHECK_CONTAINS(reason, "RUNFLEET_DECISION_SCHEMA_DIR: skipped broken.avsc");
        /* the bytes as they were: nothing is lost by dead-lettering */
        CHECK(m->len == msgs[off].len && (!m->len || memcmp(m->payload, msgs[off].value, m->len) == 0));
        CHECK((m->payload == NULL) == (msgs[off].value == NULL));
        msgs[off].seen++;
}

static bool offsets_settled(itest_t *t, long long want_end) {
        long long committed = -1, end = -1;

        for (int i = 0; i < 80; i++) {
                itest_group_offsets(t, t->topic, t->group, &committed, &end);
                if (committed == end && end == want_end)
                        return true;
                itest_sleep_ms(250);
        }
        printf("# committed %lld, end %lld, want %lld\n", committed, end, want_end);
        return false;
}

/* The v2 schema is in tests/vectors: found from this file's own path, which
 * is relative to the build directory unless the build is out of the tree. */
static void v2_schema_path(const itest_t *t, char *out, size_t size) {
        char here[1024], *slash;

        if (__FILE__[0] == '/')
                snprintf(here, sizeof(here), "%s", __FILE__);
        else
                snprintf(here, sizeof(here), "%s/%s", t->bin_dir, __FILE__);
        slash = strrchr(here, '/');
        if (slash)
                *slash = '\0';
        snprintf(out, size, "%s/../vectors/run_decision_v2_test.avsc", here);
}

int main(void) {
        itest_t t;
        pthread_t hostile;
        char schema_src[1200], schema_dir[700], cmd[4096], env_dir[800], *env[] = { env_dir, NULL };
        rf_decision_t *d;
        int port, status, dead_letters = 0, valid = 0;
        pid_t worker;
        int32_t partition = -1;
        long hwm;

        itest_init(&t, "poison");
        port = hostile_start(&hostile);
        CHECK(port > 0);
        itest_config(
                &t,
                "scrapers = ( { name = \"s\"; url = \"@FAKE@/poison/s\"; },\n"
                "  { name = \"binary\"; url = \"http://127.0.0.1:%d/binary\"; max_tries = 1; breaker_failures = 0; },\n"
                "  { name = \"retry\"; url = \"http://127.0.0.1:%d/retry\"; max_tries = 3; breaker_failures = 0; } );\n"
                "workflows = ( { name = \"w\"; schedule = \"0 3 * * *\"; scrapers = [\"s\"]; },\n"
                "  { name = \"h\"; schedule = \"0 3 * * *\"; scrapers = [\"binary\", \"retry\"]; } );\n"
                "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n",
                port, port);
        itest_migrate(&t);

        /* The worker's extra writer schemas: v2, and one it cannot resolve
         * (no trace_id), which must be skipped without harm and named in
         * the reason an unknown fingerprint is refused with. */
        v2_schema_path(&t, schema_src, sizeof(schema_src));
        snprintf(schema_dir, sizeof(schema_dir), "%s/schemas", t.dir);
        snprintf(cmd, sizeof(cmd),
                 "mkdir -p '%s' && cp '%s' '%s/run_decision.v2.avsc' && printf '%%s' '{\"type\":\"record\","
                 "\"name\":\"RunDecision\",\"namespace\":\"runfleet.v1\",\"fields\":[{\"name\":\"decision_id\","
                 "\"type\":\"string\"}]}' > '%s/broken.avsc'",
                 schema_dir, schema_src, schema_dir, schema_dir);
        CHECK(system(cmd) == 0);
        snprintf(env_dir, sizeof(env_dir), "RUNFLEET_DECISION_SCHEMA_DIR=%s", schema_dir);

        /* one partition (key "w"): valid decisions around every kind of poison */
        add_valid(&t, "valid decision 1");
        add("empty value", "", 0, "shorter than the 10-byte header");
        add("null value (tombstone)", NULL, 0, "shorter than the 10-byte header");
        add_valid(&t, "valid decision 2");
        {
                const sent_t *v = &msgs[0];
                add("truncated valid message", v->value, v->len / 2, "truncated Avro body");
        }
        {
                static const unsigned char junk[] = { 0x5b, 0x17, 0xe2, 0x00, 0x9c, 0x44, 0xff, 0x01, 0x80, 0x3a,
                                                      0x6e, 0xd5, 0x21, 0x07, 0xc8, 0x90, 0x4f, 0x33, 0xab, 0x12 };
                add("random bytes", junk, sizeof(junk), "not an Avro single-object message: marker 5b 17");
        }
        {
                unsigned char *wrong = malloc(msgs[0].len);
                memcpy(wrong, msgs[0].value, msgs[0].len);
                wrong[5] ^= 0x5a;
                add("wrong fingerprint", wrong, msgs[0].len, "unknown schema fingerprint");
                free(wrong);
        }
        add_valid(&t, "valid decision 3");
        {
                /* the header is right; the first string length is -1 */
                unsigned char corrupt[40];
                memcpy(corrupt, msgs[0].value, RF_SOE_HEADER_LEN);
                memset(corrupt + RF_SOE_HEADER_LEN, 0x01, sizeof(corrupt) - RF_SOE_HEADER_LEN);
                add("valid header, corrupt body", corrupt, sizeof(corrupt),
                    "malformed Avro body: negative string length");
        }
        {
                /* 20 bytes that claim a 2 GB string: zigzag(2^31) = 2^32 as a varint */
                static const unsigned char len2g[] = { 0x80, 0x80, 0x80, 0x80, 0x10 };
                unsigned char absurd[20];
                memcpy(absurd, msgs[0].value, RF_SOE_HEADER_LEN);
                memcpy(absurd + RF_SOE_HEADER_LEN, len2g, sizeof(len2g));
                memset(absurd + RF_SOE_HEADER_LEN + sizeof(len2g), 'A',
                       sizeof(absurd) - RF_SOE_HEADER_LEN - sizeof(len2g));
                add("2 GB string length in 20 bytes", absurd, sizeof(absurd), "string of 2147483648 bytes");
        }
        d = decision(&t, "no_such_workflow", "s", false);
        add_decision("unknown workflow", d, "unknown workflow 'no_such_workflow'");
        rf_decision_destroy(d);
        d = decision(&t, "w", "evil", false);
        add_decision("unknown scraper", d, "unknown scraper 'evil' in workflow 'w'");
        rf_decision_destroy(d);
        add_v2(&t, schema_src);
        d = decision(&t, "h", "binary", true);
        {
                char *names[] = { "binary", "retry" };
                rf_decision_set_scrapers(d, names, 2);
        }
        add_decision("hostile scraper responses", d, NULL);
        rf_decision_destroy(d);
        add_valid(&t, "valid decision 4");

        for (int i = 0; i < n_msgs; i++) {
                CHECK(itest_produce_raw(&t, t.topic, KEY, msgs[i].value, msgs[i].len) == 0);
                if (msgs[i].reason)
                        dead_letters++;
                else
                        valid++;
        }
        printf("# produced %d messages: %d valid, %d poison\n", n_msgs, valid, dead_letters);

        worker = itest_spawn_env(&t, "worker", env, "runfleet-worker", NULL);
        CHECK(itest_wait_for(&t, valid, 90000,
                             "SELECT count(*) FROM runfleet.executions WHERE status IN ('SUCCEEDED', 'FAILED')"));
        partition = (int32_t)itest_query_ll(&t, "SELECT min(kafka_partition) FROM runfleet.executions");
        CHECK(itest_query_ll(&t, "SELECT count(DISTINCT kafka_partition) FROM runfleet.executions") == 1);

        /* every valid decision exactly once, the v2 one included */
        for (int i = 0; i < n_msgs; i++) {
                if (msgs[i].reason)
                        continue;
                CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions WHERE decision_id = '%s'",
                                     msgs[i].decision_id) == 1);
                if (strstr(msgs[i].what, "hostile")) {
                        /* recorded, not retried for ever: the error text is valid UTF-8 for PostgreSQL */
                        CHECK(itest_query_ll(&t,
                                             "SELECT count(*) FROM runfleet.executions WHERE decision_id = '%s'"
                                             " AND status = 'FAILED'",
                                             msgs[i].decision_id) == 1);
                        CHECK(itest_query_ll(&t,
                                             "SELECT count(*) FROM runfleet.scraper_calls c JOIN runfleet.executions e"
                                             " USING (execution_id) WHERE e.decision_id = '%s' AND c.scraper = 'binary'"
                                             " AND c.http_status = 500 AND c.error LIKE 'HTTP 500: ?? oops%%'",
                                             msgs[i].decision_id) == 1);
                        /* Retry-After: 9223372036854775807 is past the deadline: one try, no overflow */
                        CHECK(itest_query_ll(&t,
                                             "SELECT count(*) FROM runfleet.scraper_calls c JOIN runfleet.executions e"
                                             " USING (execution_id) WHERE e.decision_id = '%s' AND c.scraper = 'retry'"
                                             " AND c.http_status = 429",
                                             msgs[i].decision_id) == 1);
                } else
                        CHECK(itest_query_ll(&t,
                                             "SELECT count(*) FROM runfleet.executions WHERE decision_id = '%s'"
                                             " AND status = 'SUCCEEDED'",
                                             msgs[i].decision_id) == 1);
        }
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.executions") == valid);

        /* never stalled: the partition is committed to its end */
        CHECK(offsets_settled(&t, n_msgs));

        /* every poison message once in the DLQ, with its reason */
        CHECK(itest_read_topic(&t, NULL, t.dlq_topic, dead_letters, 10000, check_dead_letter,
                               &(dlq_check_t){ &t, partition }) == dead_letters);
        for (int i = 0; i < n_msgs; i++)
                if (msgs[i].reason && msgs[i].seen != 1) {
                        fprintf(stderr, "poison message %d (%s) is %d times in the DLQ\n", i, msgs[i].what,
                                msgs[i].seen);
                        CHECK(msgs[i].seen == 1);
                }
        /* still consuming after all that: one more decision runs */
        add_valid(&t, "valid decision 5");
        CHECK(itest_produce_raw(&t, t.topic, KEY, msgs[n_msgs - 1].value, msgs[n_msgs - 1].len) == 0);
        CHECK(itest_wait_for(&t, 1, 60000,
                             "SELECT count(*) FROM runfleet.executions WHERE decision_id = '%s'"
                             " AND status = 'SUCCEEDED'",
                             msgs[n_msgs - 1].decision_id));
        CHECK(offsets_settled(&t, n_msgs));

        /* never crashed, never grew */
        CHECK(waitpid(worker, &status, WNOHANG) == 0 && kill(worker, 0) == 0);
        hwm = itest_peak_rss_kb(worker);
        printf("# worker peak RSS (VmHWM): %ld kB\n", hwm);
        CHECK(hwm > 0 && hwm < PEAK_RSS_LIMIT_KB);

        hostile_stop = 1;
        pthread_join(hostile, NULL);
        close(hostile_fd);
        for (int i = 0; i < n_msgs; i++)
                free(msgs[i].value);
        return itest_finish(&t);
}
