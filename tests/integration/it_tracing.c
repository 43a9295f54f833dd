/* SPDX-License-Identifier: Apache-2.0 */
/* Trace context end to end, against a real OpenTelemetry Collector
 * (tests/otelcol, otelcol v0.165.0 with the OTLP receiver, built by
 * scripts/build-otelcol) that writes every span it receives to a file:
 *
 *  - every scraper request carries a traceparent whose trace id is its
 *    decision's (rf_trace_id_of(trace_id)), the same across the retries of
 *    a call (a scraper failing, then answering) and across attempts (the
 *    reaper re-producing a failed decision), with a distinct span id per
 *    request;
 *  - a replay is a new decision with a new trace, linked to the original's;
 *  - the collector receives one trace per decision: the "decision
 *    produced" root span (from `trigger`), the reaper's re-produce span
 *    under it, the worker's execution span under the produce span of the
 *    attempt it ran, and one span per request under the execution span,
 *    whose span id is the one that request's traceparent carried, with
 *    its HTTP status and outcome;
 *  - with the collector down, executions still succeed while the worker
 *    drops and counts spans (runfleet_spans_dropped_total). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itest.h"
#include "rf_trace.h"
#include "rf_util.h"

typedef struct collector {
        pid_t pid;
        int port;
        char spans_path[700];
} collector_t;

/* Builds (a cache hit after the first time) and starts the test collector. */
static void collector_start(itest_t *t, collector_t *c, const int *avoid, int navoid) {
        char src[600], cmd[1400], bin[700] = "", cfg[700], log[700];
        FILE *f;

        itest_source_root(t, src, sizeof(src));
        snprintf(cmd, sizeof(cmd), "'%s/scripts/build-otelcol' 2>>'%s/otelcol-build.log'", src, t->dir);
        f = popen(cmd, "r");
        if (!f || !fgets(bin, sizeof(bin), f)) {
                const char *require = getenv("RUNFLEET_REQUIRE_SERVICES");
                bool required = require && strcmp(require, "1") == 0;

                /* like a missing service: a developer's quick run skips, scripts/test fails */
                fprintf(stderr, "%s: scripts/build-otelcol gave no collector (Go missing? see %s/otelcol-build.log)\n",
                        required ? "FAIL" : "SKIP", t->dir);
                exit(required ? 1 : 77);
        }
        pclose(f);
        bin[strcspn(bin, "\n")] = '\0';
        c->port = itest_free_port(avoid, navoid);
        snprintf(c->spans_path, sizeof(c->spans_path), "%s/spans.jsonl", t->dir);
        snprintf(cfg, sizeof(cfg), "%s/otelcol.yaml", t->dir);
        snprintf(log, sizeof(log), "%s/otelcol.log", t->dir);
        f = fopen(cfg, "w");
        CHECK(f != NULL);
        if (!f)
                exit(1);
        fprintf(f,
                "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:%d\n"
                "exporters:\n  rfjson:\n    path: %s\n"
                "service:\n  telemetry:\n    metrics:\n      level: none\n"
                "  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [rfjson]\n",
                c->port, c->spans_path);
        fclose(f);
        c->pid = fork();
        if (c->pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
                execl(bin, bin, "--config", cfg, (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 300; i++) {
                char url[128];
                itest_reply_t r = { 0, NULL, 0 };
                snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/traces", c->port);
                itest_http("GET", url, &r); /* any answer: it listens */
                free(r.body);
                if (r.status > 0) {
                        printf("# collector %s on port %d\n", bin, c->port);
                        return;
                }
                itest_sleep_ms(100);
        }
        fprintf(stderr, "FAIL: the collector did not listen on %d (see %s)\n", c->port, log);
        exit(1);
}

static void collector_stop(collector_t *c) {
        if (c->pid <= 0)
                return;
        kill(c->pid, SIGTERM);
        if (itest_wait(c->pid, 20000) < 0) {
                kill(c->pid, SIGKILL);
                waitpid(c->pid, NULL, 0);
        }
        c->pid = 0;
}

/* Every span the collector wrote, each with "service" added. */
static json_t *read_spans(const collector_t *c) {
        json_t *all = json_array();
        char *line = NULL;
        size_t cap = 0;
        FILE *f = fopen(c->spans_path, "r");

        while (f && getline(&line, &cap, f) > 0) {
                json_t *doc = json_loads(line, 0, NULL), *rs, *ss, *sp;
                size_t i, j, k;

                json_array_foreach(json_object_get(doc, "resourceSpans"), i, rs) {
                        const char *service = NULL;
                        json_t *a;
                        size_t n;
                        json_array_foreach(json_object_get(json_object_get(rs, "resource"), "attributes"), n, a) {
                                if (strcmp(json_string_value(json_object_get(a, "key")), "service.name") == 0)
                                        service = json_string_value(
                                                json_object_get(json_object_get(a, "value"), "stringValue"));
                        }
                        json_array_foreach(json_object_get(rs, "scopeSpans"), j, ss) {
                                json_array_foreach(json_object_get(ss, "spans"), k, sp) {
                                        json_object_set_new(sp, "service", json_string(service ? service : ""));
                                        json_array_append(all, sp);
                                }
                        }
                }
                json_decref(doc);
        }
        free(line);
        if (f)
                fclose(f);
        return all;
}

/* A span attribute as text (string or int value), or NULL. */
static const char *span_attr(json_t *span, const char *key) {
        json_t *a, *v;
        size_t i;

        json_array_foreach(json_object_get(span, "attributes"), i, a) {
                if (strcmp(json_string_value(json_object_get(a, "key")), key) != 0)
                        continue;
                v = json_object_get(a, "value");
                return json_string_value(json_object_get(v, "stringValue"))
                               ?: json_string_value(json_object_get(v, "intValue"));
        }
        return NULL;
}

static const char *sget(json_t *o, const char *k) {
        const char *s = json_string_value(json_object_get(o, k));
        return s ? s : "";
}

/* The span of @p spans named @p name whose attribute @p key is @p value
 * (and, when @p attempt > 0, whose runfleet.attempt is it); NULL if none. */
static json_t *find_span(json_t *spans, const char *name, const char *key, const char *value, int attempt) {
        json_t *sp;
        size_t i;

        json_array_foreach(spans, i, sp) {
                const char *v = span_attr(sp, key), *a = span_attr(sp, "runfleet.attempt");
                if (strncmp(sget(sp, "name"), name, strlen(name)) == 0 && v && strcmp(v, value) == 0 &&
                    (attempt <= 0 || (a && atoi(a) == attempt)))
                        return sp;
        }
        return NULL;
}

static void outage(itest_t *t, const char *prefix, bool on) {
        char url[600];
        itest_reply_t r = { 0, NULL, 0 };

        snprintf(url, sizeof(url), "%s/outage?prefix=%s%s", t->fake_url, prefix, on ? "&status=503" : "");
        itest_http("POST", url, &r);
        CHECK(r.status == 200);
        free(r.body);
}

static void trace_hex_of(itest_t *t, const char *decision_id, char hex[RF_TRACE_ID_HEX]) {
        char sql[200];
        PGresult *res = NULL;
        char errstr[256];
        const char *params[] = { decision_id };

        snprintf(sql, sizeof(sql), "SELECT trace_id FROM runfleet.decisions WHERE decision_id = $1");
        hex[0] = '\0';
        if (rf_pg_exec(t->pg, sql, 1, params, &res, errstr, sizeof(errstr)) == 0 && PQntuples(res) == 1)
                rf_trace_id_of(PQgetvalue(res, 0, 0), hex);
        PQclear(res);
        CHECK(hex[0] != '\0');
}

/* What the fake scraper saw for one decision (by Idempotency-Key). */
typedef struct seen {
        int requests;
        int bad_traceparent; /* missing or malformed */
        int wrong_trace;     /* trace id not the decision's */
        int attempts[4];     /* requests per X-Runfleet-Attempt (1..3) */
        char span_ids[32][RF_SPAN_ID_HEX];
        int span_count;
} seen_t;

static void seen_of(json_t *stats, const char *decision_id, const char *trace_hex, seen_t *s) {
        json_t *list, *e;
        const char *path;
        size_t i;

        memset(s, 0, sizeof(*s));
        json_object_foreach(json_object_get(stats, "requests_by_path"), path, list) {
                json_array_foreach(list, i, e) {
                        char tr[RF_TRACE_ID_HEX], sp[RF_SPAN_ID_HEX];
                        int attempt = atoi(sget(e, "attempt"));

                        if (strcmp(sget(e, "idempotency_key"), decision_id) != 0)
                                continue;
                        s->requests++;
                        if (attempt >= 1 && attempt <= 3)
                                s->attempts[attempt]++;
                        if (rf_traceparent_parse(sget(e, "traceparent"), tr, sp) < 0) {
                                s->bad_traceparent++;
                                continue;
                        }
                        if (strcmp(tr, trace_hex) != 0)
                                s->wrong_trace++;
                        if (s->span_count < 32)
                                snprintf(s->span_ids[s->span_count++], RF_SPAN_ID_HEX, "%s", sp);
                }
        }
}

static int distinct(const seen_t *s) {
        for (int i = 0; i < s->span_count; i++)
                for (int j = 0; j < i; j++)
                        if (strcmp(s->span_ids[i], s->span_ids[j]) == 0)
                                return 0;
        return 1;
}

/* Checks the span tree of decision @p id (trace @p hex) for attempts
 * 1..@p attempts, and that its call spans are exactly the requests in @p s. */
static void check_tree(json_t *spans, const char *id, const char *hex, int attempts, const seen_t *s,
                       int want_failed_calls) {
        char root_id[RF_SPAN_ID_HEX];
        json_t *root, *sp;
        size_t i;
        int calls = 0, calls_matched = 0, failed = 0, in_trace = 0, foreign = 0;

        rf_trace_decision_span_id(id, 1, root_id);
        root = find_span(spans, "decision produced", "runfleet.decision_id", id, 1);
        CHECK(root != NULL);
        if (!root)
                return;
        CHECK_STR_EQ(sget(root, "traceId"), hex);
        CHECK_STR_EQ(sget(root, "spanId"), root_id);
        CHECK(json_object_get(root, "parentSpanId") == NULL || strcmp(sget(root, "parentSpanId"), "") == 0);
        CHECK(json_integer_value(json_object_get(root, "kind")) == 4); /* PRODUCER */
        CHECK_STR_EQ(sget(root, "service"), "runfleet-producer");

        for (int a = 1; a <= attempts; a++) {
                char produce_id[RF_SPAN_ID_HEX];
                json_t *produce = find_span(spans, "decision produced", "runfleet.decision_id", id, a);
                json_t *ex = find_span(spans, "execution ", "runfleet.decision_id", id, a);

                rf_trace_decision_span_id(id, a, produce_id);
                CHECK(produce != NULL);
                CHECK(ex != NULL);
                if (produce && a > 1) { /* the reaper's re-produce, under the root */
                        CHECK_STR_EQ(sget(produce, "parentSpanId"), root_id);
                        CHECK_STR_EQ(sget(produce, "service"), "runfleet-reaper");
                }
                if (!ex)
                        continue;
                CHECK_STR_EQ(sget(ex, "traceId"), hex);
                CHECK_STR_EQ(sget(ex, "parentSpanId"), produce_id);
                CHECK_STR_EQ(sget(ex, "service"), "runfleet-worker");
                /* the call spans under this execution */
                json_array_foreach(spans, i, sp) {
                        const char *code = span_attr(sp, "http.response.status_code");
                        if (strcmp(sget(sp, "parentSpanId"), sget(ex, "spanId")) != 0)
                                continue;
                        calls++;
                        CHECK_STR_EQ(sget(sp, "name"), "POST");
                        CHECK(json_integer_value(json_object_get(sp, "kind")) == 3); /* CLIENT */
                        CHECK_STR_EQ(sget(sp, "traceId"), hex);
                        CHECK(span_attr(sp, "runfleet.try") && span_attr(sp, "runfleet.scraper") &&
                              span_attr(sp, "url.full") && !strchr(span_attr(sp, "url.full"), '?'));
                        if (code && strcmp(code, "503") == 0) {
                                failed++;
                                CHECK_STR_EQ(span_attr(sp, "runfleet.outcome"), "HTTP_ERROR");
                                CHECK(json_integer_value(json_object_get(json_object_get(sp, "status"), "code")) == 2);
                        } else {
                                CHECK(code && strcmp(code, "200") == 0);
                                CHECK_STR_EQ(span_attr(sp, "runfleet.outcome"), "OK");
                        }
                        for (int k = 0; k < s->span_count; k++)
                                calls_matched += strcmp(s->span_ids[k], sget(sp, "spanId")) == 0;
                }
        }
        /* one span per request, each with the span id its traceparent carried */
        CHECK(calls == s->requests);
        CHECK(calls_matched == s->requests);
        CHECK(failed == want_failed_calls);
        /* one trace per decision: everything naming it is in its trace */
        json_array_foreach(spans, i, sp) {
                const char *d = span_attr(sp, "runfleet.decision_id");
                if (!d || strcmp(d, id) != 0)
                        continue;
                in_trace++;
                foreign += strcmp(sget(sp, "traceId"), hex) != 0;
        }
        CHECK(in_trace >= 2 * attempts && foreign == 0);
        printf("# decision %s: trace %s, %d attempt(s), %d call spans (%d failed)\n", rf_uuid_short(id), hex, attempts,
               calls, failed);
}

static double metric(int port, const char *series) {
        char url[128];
        itest_reply_t r = { 0, NULL, 0 };
        char line[200];
        const char *p;
        double v = -1;

        /* a sample line, not the # HELP line naming the metric too */
        snprintf(line, sizeof(line), "\n%s", series);
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
        itest_http("GET", url, &r);
        p = r.body ? strstr(r.body, line) : NULL;
        if (p)
                v = strtod(p + strlen(line), NULL);
        free(r.body);
        return v;
}

int main(void) {
        itest_t t;
        collector_t c = { 0 };
        char d1[37], d2[37], d3[37], h1[RF_TRACE_ID_HEX], h2[RF_TRACE_ID_HEX], hr[RF_TRACE_ID_HEX];
        char from[40], to[40], out[8192], replay_id[37] = "", prefix[200];
        int http_port, avoid[2];
        json_t *stats, *spans;
        seen_t s1, s2, sr;
        pid_t worker;

        itest_init(&t, "tracing");
        itest_own_fake_scraper(&t); /* it records the headers of each request */
        http_port = itest_free_port(NULL, 0);
        avoid[0] = http_port;
        collector_start(&t, &c, avoid, 1);
        snprintf(prefix, sizeof(prefix), "/%s/", t.topic);
        itest_config(&t,
                     "scrapers = (\n"
                     "  { name = \"flaky\"; url = \"@FAKE@/%1$s/flaky?token=secret\"; max_tries = 6;"
                     " retry_backoff_ms = 200; breaker_failures = 0; },\n"
                     "  { name = \"ok\"; url = \"@FAKE@/%1$s/ok?delay_ms=5\"; },\n"
                     "  { name = \"down\"; url = \"@FAKE@/%1$s/down\"; max_tries = 2; retry_backoff_ms = 100;"
                     " breaker_failures = 0; }\n"
                     ");\n"
                     "workflows = (\n"
                     "  { name = \"retried\"; schedule = \"0 0 1 1 *\"; scrapers = [\"flaky\", \"ok\"]; },\n"
                     "  { name = \"reattempted\"; schedule = \"0 0 1 1 *\"; scrapers = [\"down\"]; }\n"
                     ");\n"
                     "worker = { lease_ms = 5000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n"
                     "reaper = { backoff_ms = 0; grace_ms = 60000; };\n"
                     "http = { listen = \"127.0.0.1\"; port = %2$d; };\n"
                     "tracing = { otlp_endpoint = \"http://127.0.0.1:%3$d/v1/traces\"; export_interval_ms = 100;"
                     " export_timeout_ms = 2000; };\n",
                     t.topic, http_port, c.port);
        itest_migrate(&t);
        worker = itest_spawn(&t, "worker", "runfleet-worker", NULL);

        /* 1. retries: "flaky" answers 503 until its outage ends, then 200 */
        {
                char p[300];
                snprintf(p, sizeof(p), "/%s/flaky", t.topic);
                outage(&t, p, true);
                rf_time_format(rf_now_ms() - 1000, from, sizeof(from));
                CHECK(itest_trigger(&t, "retried", d1) == 0);
                for (int i = 0; i < 200 && itest_fake_path_count(&t, "flaky") < 2; i++)
                        itest_sleep_ms(50);
                outage(&t, p, false);
        }
        CHECK(itest_wait_for(&t, 1, 60000,
                             "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '%s'"
                             " AND state = 'SUCCEEDED'",
                             d1));

        /* 2. attempts: "down" fails both tries of attempt 1; the reaper
         * re-produces the decision (attempt 2), which succeeds */
        {
                char p[300];
                snprintf(p, sizeof(p), "/%s/down", t.topic);
                outage(&t, p, true);
                CHECK(itest_trigger(&t, "reattempted", d2) == 0);
                CHECK(itest_wait_for(&t, 1, 60000,
                                     "SELECT count(*) FROM runfleet.executions WHERE decision_id = '%s'"
                                     " AND attempt = 1 AND status = 'FAILED'",
                                     d2));
                outage(&t, p, false);
                CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-reaper", "--once", NULL) == 0);
                CHECK(itest_wait_for(&t, 1, 60000,
                                     "SELECT count(*) FROM runfleet.executions WHERE decision_id = '%s'"
                                     " AND attempt = 2 AND status = 'SUCCEEDED'",
                                     d2));
        }

        /* 3. a replay of d1: a new decision, a new trace, linked to d1's */
        rf_time_format(rf_now_ms() + 1000, to, sizeof(to));
        itest_sleep_ms(1200);
        CHECK(itest_run(&t, out, sizeof(out), 60000, NULL, "runfleet-producer", "replay", "--from", from, "--to", to,
                        "--workflow", "retried", NULL) == 0);
        {
                PGresult *res = NULL;
                char errstr[256];
                const char *params[] = { d1 };
                if (rf_pg_exec(t.pg, "SELECT decision_id::text FROM runfleet.decisions WHERE replay_of = $1", 1, params,
                               &res, errstr, sizeof(errstr)) == 0 &&
                    PQntuples(res) == 1)
                        snprintf(replay_id, sizeof(replay_id), "%s", PQgetvalue(res, 0, 0));
                PQclear(res);
        }
        CHECK(replay_id[0] != '\0');
        CHECK(itest_wait_for(&t, 1, 60000,
                             "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '%s'"
                             " AND state = 'SUCCEEDED'",
                             replay_id));

        /* the traceparents the scrapers received */
        trace_hex_of(&t, d1, h1);
        trace_hex_of(&t, d2, h2);
        trace_hex_of(&t, replay_id, hr);
        stats = itest_fake_stats_prefix(&t, prefix);
        seen_of(stats, d1, h1, &s1);
        seen_of(stats, d2, h2, &s2);
        seen_of(stats, replay_id, hr, &sr);
        json_decref(stats);
        printf("# d1: %d requests, d2: %d (attempt 1: %d, attempt 2: %d), replay: %d\n", s1.requests, s2.requests,
               s2.attempts[1], s2.attempts[2], sr.requests);
        CHECK(s1.requests >= 3); /* flaky: >= 1 failure and a success; ok: 1 */
        CHECK(s1.bad_traceparent == 0 && s1.wrong_trace == 0 && distinct(&s1));
        CHECK(s2.attempts[1] == 2 && s2.attempts[2] == 1);
        CHECK(s2.bad_traceparent == 0 && s2.wrong_trace == 0 && distinct(&s2));
        CHECK(sr.requests == 2 && sr.bad_traceparent == 0 && sr.wrong_trace == 0 && distinct(&sr));
        CHECK(strcmp(hr, h1) != 0); /* a replay is a new trace */

        /* the spans the collector received (the worker exports every 100 ms) */
        spans = NULL;
        for (int i = 0; i < 100; i++) {
                json_decref(spans);
                spans = read_spans(&c);
                if (find_span(spans, "execution ", "runfleet.decision_id", replay_id, 1) &&
                    find_span(spans, "execution ", "runfleet.decision_id", d2, 2))
                        break;
                itest_sleep_ms(200);
        }
        printf("# the collector received %zu spans\n", json_array_size(spans));
        check_tree(spans, d1, h1, 1, &s1, s1.requests - 2);
        check_tree(spans, d2, h2, 2, &s2, 2);
        check_tree(spans, replay_id, hr, 1, &sr, 0);
        {
                json_t *root = find_span(spans, "decision produced", "runfleet.decision_id", replay_id, 1);
                json_t *link = json_array_get(json_object_get(root, "links"), 0);
                char d1_root[RF_SPAN_ID_HEX];

                rf_trace_decision_span_id(d1, 1, d1_root);
                CHECK_STR_EQ(span_attr(root, "runfleet.replay_of"), d1);
                CHECK_STR_EQ(sget(link, "traceId"), h1);
                CHECK_STR_EQ(sget(link, "spanId"), d1_root);
        }
        json_decref(spans);
        CHECK(metric(http_port, "runfleet_spans_exported_total ") > 0);

        /* 4. the collector down: executions succeed, spans are dropped and counted */
        collector_stop(&c);
        CHECK(itest_trigger(&t, "retried", d3) == 0);
        CHECK(itest_wait_for(&t, 1, 60000,
                             "SELECT count(*) FROM runfleet.decisions WHERE decision_id = '%s'"
                             " AND state = 'SUCCEEDED'",
                             d3));
        {
                double dropped = -1;
                for (int i = 0; i < 100 && dropped < 3; i++) {
                        dropped = metric(http_port, "runfleet_spans_dropped_total{reason=\"export_failed\"} ");
                        if (dropped < 3)
                                itest_sleep_ms(100);
                }
                printf("# collector down: %g spans dropped (export_failed)\n", dropped);
                CHECK(dropped >= 3); /* the execution and its two calls, at least */
        }
        {
                char *log = itest_read_log(&t, worker);
                CHECK_CONTAINS(log, "tracing.export_failed");
                free(log);
        }
        return itest_finish(&t);
}
