/* SPDX-License-Identifier: Apache-2.0 */
/* Misbehaving scrapers: 5xx retried with backoff and every try recorded; a
 * 404 not retried; a 429's Retry-After honoured; a circuit breaker that
 * fails fast without calling, then probes; a rate limit that holds. */
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static long long fake_count(itest_t *t, const char *path) {
        json_t *stats = itest_fake_stats_prefix(t, path);
        long long n = json_integer_value(json_object_get(json_object_get(stats, "paths"), path));

        json_decref(stats);
        return n;
}

int main(void) {
        itest_t t;
        char path[128];
        long long calls, gap_ms, span_ms;
        pid_t worker;

        itest_init(&t, "resilience");
        itest_config(
                &t,
                "scrapers = (\n"
                "  { name = \"e5xx\"; url = \"@FAKE@/res-%s/e5xx?status=503\"; max_tries = 3;"
                " retry_backoff_ms = 100; breaker_failures = 0; },\n"
                "  { name = \"nf\"; url = \"@FAKE@/res-%s/nf?status=404\"; max_tries = 3; breaker_failures = 0; },\n"
                "  { name = \"thr\"; url = \"@FAKE@/res-%s/thr?status=429&retry_after=1\"; max_tries = 2;"
                " retry_backoff_ms = 10; breaker_failures = 0; },\n"
                "  { name = \"broken\"; url = \"@FAKE@/res-%s/broken?status=500\"; max_tries = 1;"
                " breaker_failures = 2; breaker_cooldown_ms = 60000; },\n"
                "  { name = \"broken2\"; url = \"@FAKE@/res-%s/broken2?status=500\"; max_tries = 1;"
                " breaker_failures = 1; breaker_cooldown_ms = 1500; },\n"
                "  { name = \"lim\"; url = \"@FAKE@/res-%s/lim?delay_ms=10\"; rate_per_s = 5; }\n"
                ");\n"
                "workflows = (\n"
                "  { name = \"w5xx\"; schedule = \"0 3 * * *\"; scrapers = [\"e5xx\"]; },\n"
                "  { name = \"w404\"; schedule = \"0 3 * * *\"; scrapers = [\"nf\"]; },\n"
                "  { name = \"w429\"; schedule = \"0 3 * * *\"; scrapers = [\"thr\"]; },\n"
                "  { name = \"wbroken\"; schedule = \"0 3 * * *\"; scrapers = [\"broken\"]; deadline_ms = 1000; },\n"
                "  { name = \"wpatient\"; schedule = \"0 3 * * *\"; scrapers = [\"broken2\"]; deadline_ms = 30000; },\n"
                "  { name = \"wlim\"; schedule = \"0 3 * * *\"; scrapers = [\"lim\"]; }\n"
                ");\n"
                "worker = { lease_ms = 10000; heartbeat_ms = 1000; commit_interval_ms = 200; };\n",
                t.db_name, t.db_name, t.db_name, t.db_name, t.db_name, t.db_name);
        itest_migrate(&t);
        worker = itest_spawn(&t, "worker", "runfleet-worker", NULL);

        /* 503: three tries, all recorded, then FAILED */
        CHECK(itest_decide(&t, "w5xx", 1, NULL) == 1);
        /* 404: the caller's fault, one try */
        CHECK(itest_decide(&t, "w404", 1, NULL) == 1);
        /* 429 with Retry-After: 1 — the second try waits a second */
        CHECK(itest_decide(&t, "w429", 1, NULL) == 1);
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                             " USING (decision_id) WHERE d.workflow = 'w5xx' AND e.status = 'FAILED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls WHERE scraper = 'e5xx'"
                                 " AND http_status = 503 AND outcome = 'HTTP_ERROR'") == 3);
        CHECK(itest_query_ll(&t, "SELECT max(try) FROM runfleet.scraper_calls WHERE scraper = 'e5xx'") == 3);
        snprintf(path, sizeof(path), "/res-%s/e5xx", t.db_name);
        CHECK(fake_count(&t, path) == 3);

        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                             " USING (decision_id) WHERE d.workflow = 'w404' AND e.status = 'FAILED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls WHERE scraper = 'nf'") == 1);

        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                             " USING (decision_id) WHERE d.workflow = 'w429' AND e.status = 'FAILED'"));
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls WHERE scraper = 'thr'") == 2);
        gap_ms = itest_query_ll(&t, "SELECT (extract(epoch FROM max(started_at) - min(started_at)) * 1000)::bigint"
                                    " FROM runfleet.scraper_calls WHERE scraper = 'thr'");
        printf("# Retry-After gap %lld ms\n", gap_ms);
        CHECK(gap_ms >= 950 && gap_ms < 10000);

        /* breaker: two real failures open it; the next calls fail fast without a request
         * (their 1 s deadline ends long before the 60 s cool-down) */
        for (int i = 0; i < 4; i++) {
                CHECK(itest_decide(&t, "wbroken", 1, NULL) == 1);
                CHECK(itest_wait_for(
                        &t, i + 1, 30000,
                        "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                        " USING (decision_id) WHERE d.workflow = 'wbroken' AND e.finished_at IS NOT NULL"));
        }
        snprintf(path, sizeof(path), "/res-%s/broken", t.db_name);
        calls = fake_count(&t, path);
        CHECK(calls == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls WHERE scraper = 'broken'"
                                 " AND outcome = 'CIRCUIT_OPEN' AND http_status IS NULL AND duration_ms = 0") == 2);

        /* a short cool-down and a long deadline: a refused call waits for the
         * breaker and becomes its half-open probe; one request per decision */
        CHECK(itest_decide(&t, "wpatient", 1, NULL) == 1);
        CHECK(itest_wait_for(&t, 1, 30000,
                             "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                             " USING (decision_id) WHERE d.workflow = 'wpatient' AND e.finished_at IS NOT NULL"));
        CHECK(itest_decide(&t, "wpatient", 1, NULL) == 1);
        CHECK(itest_wait_for(&t, 2, 30000,
                             "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                             " USING (decision_id) WHERE d.workflow = 'wpatient' AND e.finished_at IS NOT NULL"));
        snprintf(path, sizeof(path), "/res-%s/broken2", t.db_name);
        CHECK(fake_count(&t, path) == 2);
        CHECK(itest_query_ll(&t, "SELECT count(*) FROM runfleet.scraper_calls WHERE scraper = 'broken2'"
                                 " AND outcome = 'HTTP_ERROR'") == 2);
        {
                char *log = itest_read_log(&t, worker);
                CHECK_CONTAINS(log, "\"from\":\"half-open\"");
                CHECK_CONTAINS(log, "\"to\":\"open\"");
                free(log);
        }

        /* rate limit 5/s (burst 5): 20 calls need at least 3 s */
        CHECK(itest_decide(&t, "wlim", 20, NULL) == 20);
        CHECK(itest_wait_for(&t, 20, 60000,
                             "SELECT count(*) FROM runfleet.executions e JOIN runfleet.decisions d"
                             " USING (decision_id) WHERE d.workflow = 'wlim' AND e.status = 'SUCCEEDED'"));
        span_ms = itest_query_ll(&t, "SELECT (extract(epoch FROM max(started_at) - min(started_at)) * 1000)::bigint"
                                     " FROM runfleet.scraper_calls WHERE scraper = 'lim'");
        printf("# 20 rate-limited calls spread over %lld ms (measured rate %.1f/s)\n", span_ms,
               span_ms > 0 ? 19000.0 / (double)span_ms : 0.0);
        CHECK(span_ms >= 2700);
        /* no one-second window holds more than the burst plus the rate */
        CHECK(itest_query_ll(&t, "SELECT max(n) FROM (SELECT (SELECT count(*) FROM runfleet.scraper_calls b"
                                 " WHERE b.scraper = 'lim' AND b.started_at >= a.started_at"
                                 " AND b.started_at < a.started_at + interval '1 s') AS n"
                                 " FROM runfleet.scraper_calls a WHERE a.scraper = 'lim') x") <= 10);
        return itest_finish(&t);
}
