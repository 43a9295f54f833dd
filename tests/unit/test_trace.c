/* SPDX-License-Identifier: Apache-2.0 */
/* Trace context (rf_trace.c), the OTLP/JSON encoder (rf_otlp.c) and the
 * exporter (rf_tracer.c) against a tiny HTTP server in this process: spans
 * arrive, a refused or absent collector drops and counts them, a slow one
 * fills the queue without ever making rf_tracer_submit() wait. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rf_metrics.h"
#include "rf_otlp.h"
#include "rf_test.h"
#include "rf_trace.h"
#include "rf_tracer.h"
#include "rf_util.h"

static void test_ids(void) {
        char t[RF_TRACE_ID_HEX], t2[RF_TRACE_ID_HEX], s[RF_SPAN_ID_HEX], s2[RF_SPAN_ID_HEX];
        char tp[RF_TRACEPARENT_SIZE], pt[RF_TRACE_ID_HEX], ps[RF_SPAN_ID_HEX];

        /* the mapping: a UUID's hex digits, dashes dropped, lowercased */
        rf_trace_id_of("4BF92F35-77B3-4DA6-A3CE-929D0E0E4736", t);
        CHECK_STR_EQ(t, "4bf92f3577b34da6a3ce929d0e0e4736");
        /* not a UUID: a stable, valid id all the same */
        rf_trace_id_of("not-a-uuid", t);
        rf_trace_id_of("not-a-uuid", t2);
        CHECK(rf_trace_hex_valid(t, 32) && strcmp(t, t2) == 0);
        rf_trace_id_of("00000000-0000-0000-0000-000000000000", t);
        CHECK(rf_trace_hex_valid(t, 32)); /* the invalid all-zero id is never used */
        rf_trace_id_of(NULL, t);
        CHECK(rf_trace_hex_valid(t, 32));

        /* decision span ids: derived, per attempt */
        rf_trace_decision_span_id("d1", 1, s);
        rf_trace_decision_span_id("d1", 1, s2);
        CHECK(rf_trace_hex_valid(s, 16) && strcmp(s, s2) == 0);
        rf_trace_decision_span_id("d1", 2, s2);
        CHECK(strcmp(s, s2) != 0);
        rf_trace_decision_span_id("d2", 1, s2);
        CHECK(strcmp(s, s2) != 0);

        /* fresh span ids: valid and distinct */
        {
                enum { N = 2000 };
                static char ids[N][RF_SPAN_ID_HEX];
                int dup = 0, bad = 0;
                for (int i = 0; i < N; i++) {
                        rf_trace_span_id_new(ids[i]);
                        bad += !rf_trace_hex_valid(ids[i], 16);
                        for (int j = 0; j < i; j++)
                                dup += strcmp(ids[i], ids[j]) == 0;
                }
                CHECK(bad == 0 && dup == 0);
        }

        rf_trace_id_of("4bf92f35-77b3-4da6-a3ce-929d0e0e4736", t);
        CHECK(rf_traceparent_format(t, "00f067aa0ba902b7", tp) == 0);
        CHECK_STR_EQ(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        CHECK(rf_traceparent_parse(tp, pt, ps) == 0);
        CHECK_STR_EQ(pt, t);
        CHECK_STR_EQ(ps, "00f067aa0ba902b7");
        CHECK(rf_traceparent_format(t, "0000000000000000", tp) == -EINVAL);
        CHECK(rf_traceparent_format("4BF92F3577B34DA6A3CE929D0E0E4736", "00f067aa0ba902b7", tp) == -EINVAL);
        CHECK(rf_traceparent_format(t, "00f067aa0ba902b", tp) == -EINVAL);
        CHECK(rf_traceparent_parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01", pt, ps) == -EINVAL);
        CHECK(rf_traceparent_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", pt, ps) == -EINVAL);
        CHECK(rf_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0", pt, ps) == -EINVAL);
}

static void test_url_redact(void) {
        char out[128];

        rf_trace_url_redact("http://user:pw@scraper.example:8080/p/x?token=abc#frag", out, sizeof(out));
        CHECK_STR_EQ(out, "http://scraper.example:8080/p/x");
        rf_trace_url_redact("https://h?key=1", out, sizeof(out));
        CHECK_STR_EQ(out, "https://h");
        rf_trace_url_redact("http://h/a/b", out, sizeof(out));
        CHECK_STR_EQ(out, "http://h/a/b");
        rf_trace_url_redact("garbage", out, sizeof(out));
        CHECK_STR_EQ(out, "");
        /* found by fuzz_otlp: an '@' in the password, and "://" after something that is no scheme */
        rf_trace_url_redact("http://u:p@ss@h:1/x?y", out, sizeof(out));
        CHECK_STR_EQ(out, "http://h:1/x");
        rf_trace_url_redact("#?x://h/p", out, sizeof(out));
        CHECK_STR_EQ(out, "");
        rf_trace_url_redact("://h/p", out, sizeof(out));
        CHECK_STR_EQ(out, "");
}

static json_t *attr(json_t *attrs, const char *key) {
        size_t i;
        json_t *a;

        json_array_foreach(attrs, i, a) {
                if (strcmp(json_string_value(json_object_get(a, "key")), key) == 0)
                        return json_object_get(a, "value");
        }
        return NULL;
}

static void make_span(rf_span_t *sp, const char *parent, const char *name) {
        char t[RF_TRACE_ID_HEX], s[RF_SPAN_ID_HEX];

        rf_trace_id_of("4bf92f35-77b3-4da6-a3ce-929d0e0e4736", t);
        rf_trace_span_id_new(s);
        CHECK(rf_span_init(sp, t, s, parent, name, RF_SPAN_CLIENT, UINT64_C(1700000000000000000)) == 0);
        sp->end_ns = UINT64_C(1700000000250000000);
}

static void test_encode(void) {
        rf_span_t spans[2];
        char *text = NULL, errstr[256];
        size_t len = 0;
        json_t *doc, *list, *sp, *v;

        make_span(&spans[0], NULL, "root");
        make_span(&spans[1], spans[0].span_id, "bad \xff utf-8 \xc3\xa9");
        rf_span_attr_int(&spans[1], "http.response.status_code", 503);
        rf_span_attr_str(&spans[1], "runfleet.outcome", "HTTP_ERROR");
        rf_span_set_status(&spans[1], RF_SPAN_STATUS_ERROR, "injected \x80 failure");
        CHECK(rf_otlp_encode("svc", "inst", spans, 2, &text, &len, errstr, sizeof(errstr)) == 0);
        CHECK(text && strlen(text) == len);
        doc = text ? json_loads(text, 0, NULL) : NULL;
        CHECK(doc != NULL);
        v = attr(json_object_get(json_object_get(json_array_get(json_object_get(doc, "resourceSpans"), 0), "resource"),
                                 "attributes"),
                 "service.name");
        CHECK_STR_EQ(json_string_value(json_object_get(v, "stringValue")), "svc");
        list = json_object_get(
                json_array_get(json_object_get(json_array_get(json_object_get(doc, "resourceSpans"), 0), "scopeSpans"),
                               0),
                "spans");
        CHECK(json_array_size(list) == 2);
        sp = json_array_get(list, 0);
        CHECK_STR_EQ(json_string_value(json_object_get(sp, "traceId")), "4bf92f3577b34da6a3ce929d0e0e4736");
        CHECK(json_object_get(sp, "parentSpanId") == NULL); /* a root */
        CHECK_STR_EQ(json_string_value(json_object_get(sp, "startTimeUnixNano")), "1700000000000000000");
        CHECK(json_integer_value(json_object_get(sp, "kind")) == RF_SPAN_CLIENT);
        sp = json_array_get(list, 1);
        CHECK_STR_EQ(json_string_value(json_object_get(sp, "parentSpanId")), spans[0].span_id);
        CHECK_STR_EQ(json_string_value(json_object_get(sp, "name")), "bad \xef\xbf\xbd utf-8 \xc3\xa9");
        v = attr(json_object_get(sp, "attributes"), "http.response.status_code");
        CHECK_STR_EQ(json_string_value(json_object_get(v, "intValue")), "503"); /* int64: a decimal string */
        CHECK(json_integer_value(json_object_get(json_object_get(sp, "status"), "code")) == RF_SPAN_STATUS_ERROR);
        CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(sp, "status"), "message")),
                     "injected \xef\xbf\xbd failure");
        json_decref(doc);
        free(text);

        /* a malformed id is refused, naming the span */
        spans[1].span_id[0] = 'X';
        text = NULL;
        CHECK(rf_otlp_encode("svc", NULL, spans, 2, &text, &len, errstr, sizeof(errstr)) == -EINVAL);
        CHECK(text == NULL);
        CHECK_CONTAINS(errstr, "span 1");
        rf_span_clear(&spans[0]);
        rf_span_clear(&spans[1]);
}

/* ---- a collector in a thread ----------------------------------------------- */

typedef struct collector {
        int fd, port;
        int status;        /* answered */
        int delay_ms;      /* before answering */
        _Atomic int spans; /* received */
        _Atomic int posts;
        _Atomic bool stop;
        pthread_t thread;
} collector_t;

static void serve_one(collector_t *c, int conn) {
        char buf[1 << 16];
        size_t have = 0, need = SIZE_MAX;
        char *body;

        while (have < sizeof(buf) - 1) {
                ssize_t n = read(conn, buf + have, sizeof(buf) - 1 - have);
                char *eoh;
                if (n <= 0)
                        break;
                have += (size_t)n;
                buf[have] = '\0';
                eoh = strstr(buf, "\r\n\r\n");
                if (eoh && need == SIZE_MAX) {
                        char *cl = strcasestr(buf, "Content-Length:");
                        need = (size_t)(eoh + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
                }
                if (have >= need)
                        break;
        }
        body = strstr(buf, "\r\n\r\n");
        if (body) {
                json_t *doc = json_loads(body + 4, 0, NULL);
                json_t *list = json_object_get(
                        json_array_get(
                                json_object_get(json_array_get(json_object_get(doc, "resourceSpans"), 0), "scopeSpans"),
                                0),
                        "spans");
                atomic_fetch_add(&c->spans, (int)json_array_size(list));
                atomic_fetch_add(&c->posts, 1);
                json_decref(doc);
        }
        if (c->delay_ms)
                usleep((useconds_t)c->delay_ms * 1000);
        dprintf(conn,
                "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                c->status);
        close(conn);
}

static void *collector_main(void *opaque) {
        collector_t *c = opaque;

        while (!atomic_load(&c->stop)) {
                int conn = accept(c->fd, NULL, NULL);
                if (conn < 0)
                        continue;
                if (atomic_load(&c->stop)) {
                        close(conn);
                        break;
                }
                serve_one(c, conn);
        }
        return NULL;
}

static int listen_any(int *ret_port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof(a);
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
            getsockname(fd, (struct sockaddr *)&a, &al) < 0)
                return -1;
        *ret_port = ntohs(a.sin_port);
        return fd;
}

static void collector_start(collector_t *c, int status, int delay_ms) {
        memset(c, 0, sizeof(*c));
        c->status = status;
        c->delay_ms = delay_ms;
        c->fd = listen_any(&c->port);
        CHECK(c->fd >= 0);
        pthread_create(&c->thread, NULL, collector_main, c);
}

static void collector_stop(collector_t *c) {
        int fd;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

        atomic_store(&c->stop, true);
        /* wake accept() */
        a.sin_port = htons((uint16_t)c->port);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        connect(fd, (struct sockaddr *)&a, sizeof(a));
        close(fd);
        pthread_join(c->thread, NULL);
        close(c->fd);
}

static rf_tracer_t *tracer_for(int port, int batch, int queue, int interval_ms, int timeout_ms, int shutdown_ms) {
        char url[64], errstr[256];
        rf_tracer_t *t = NULL;
        rf_tracer_conf_t tc = { .endpoint = url,
                                .service_name = "test",
                                .batch_size = batch,
                                .export_interval_ms = interval_ms,
                                .queue_size = queue,
                                .export_timeout_ms = timeout_ms,
                                .shutdown_timeout_ms = shutdown_ms };

        snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", port);
        CHECK(rf_tracer_new(&tc, &t, errstr, sizeof(errstr)) == 0);
        return t;
}

static double dropped(const char *reason) {
        return rf_metrics_value(rf_metrics_counter("runfleet_spans_dropped_total", "", "reason"), reason);
}

static void submit_n(rf_tracer_t *t, int n, int64_t *ret_slowest_ms) {
        *ret_slowest_ms = 0;
        for (int i = 0; i < n; i++) {
                rf_span_t sp;
                int64_t t0 = rf_mono_ms(), took;
                make_span(&sp, NULL, "s");
                rf_tracer_submit(t, &sp);
                took = rf_mono_ms() - t0;
                if (took > *ret_slowest_ms)
                        *ret_slowest_ms = took;
        }
}

static void test_exporter(void) {
        collector_t c;
        rf_tracer_t *t;
        uint64_t exported, drops;
        int64_t slowest, t0;
        double before;

        /* a working collector: every span arrives, in batches */
        collector_start(&c, 200, 0);
        t = tracer_for(c.port, 10, 100, 50, 2000, 2000);
        submit_n(t, 25, &slowest);
        rf_tracer_destroy_counts(t, &exported, &drops);
        CHECK(exported == 25 && drops == 0);
        CHECK(atomic_load(&c.spans) == 25);
        CHECK(atomic_load(&c.posts) >= 3);
        collector_stop(&c);

        /* a collector refusing (HTTP 503): dropped, counted export_failed */
        collector_start(&c, 503, 0);
        before = dropped("export_failed");
        t = tracer_for(c.port, 5, 100, 20, 2000, 2000);
        submit_n(t, 10, &slowest);
        rf_tracer_destroy_counts(t, &exported, &drops);
        CHECK(exported == 0 && drops == 10);
        CHECK(dropped("export_failed") - before == 10);
        collector_stop(&c);

        /* no collector at all (connection refused): the same */
        {
                int port, fd = listen_any(&port);
                close(fd);
                before = dropped("export_failed");
                t = tracer_for(port, 5, 100, 20, 2000, 2000);
                submit_n(t, 10, &slowest);
                rf_tracer_destroy_counts(t, &exported, &drops);
                CHECK(exported == 0 && drops == 10);
                CHECK(dropped("export_failed") - before == 10);
        }

        /* a slow collector (answers after 1.5 s): the queue fills, new spans
         * are dropped as queue_full, and submitting never waits for it;
         * shutdown gives up after its bound */
        collector_start(&c, 200, 1500);
        before = dropped("queue_full");
        t = tracer_for(c.port, 4, 8, 10, 5000, 300);
        usleep(50 * 1000);
        submit_n(t, 4, &slowest); /* the first batch goes out and hangs */
        usleep(100 * 1000);
        submit_n(t, 200, &slowest);
        CHECK(slowest < 100);
        CHECK(dropped("queue_full") - before >= 200 - 8);
        t0 = rf_mono_ms();
        rf_tracer_destroy_counts(t, &exported, &drops);
        /* the batch in flight finishes (1.5 s), then at most the bound */
        CHECK(rf_mono_ms() - t0 < 5000);
        CHECK(drops >= 200 - 8);
        collector_stop(&c);

        /* NULL tracer: a span is only cleared */
        {
                rf_span_t sp;
                make_span(&sp, NULL, "s");
                rf_tracer_submit(NULL, &sp);
                CHECK(sp.name == NULL);
        }
}

int main(void) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        test_ids();
        test_url_redact();
        test_encode();
        test_exporter();
        curl_global_cleanup();
        return rf_test_finish();
}
