/* SPDX-License-Identifier: Apache-2.0 */
/* What `timeline` and `explain` compute without a database: errors grouped
 * by cause (producer/causes.c) and local time ranges and their text
 * (producer/span.c), in America/New_York across a DST change. */
#include <stdlib.h>
#include <string.h>

#include "causes.h"
#include "rf_cron.h"
#include "rf_test.h"
#include "rf_util.h"
#include "span.h"

static int64_t at(const char *iso) {
        int64_t ms = 0;

        if (rf_time_parse(iso, &ms) < 0)
                abort();
        return ms;
}

static void test_message(void) {
        char buf[CAUSE_TEXT_MAX];

        /* the worker's prefix comes off; the first line is kept */
        cause_message("HTTP 500: Failed to load scraper: No module named 'x'\nTraceback ...", buf, sizeof(buf));
        CHECK_STR_EQ(buf, "Failed to load scraper: No module named 'x'");
        /* a JSON error body says it in a field */
        cause_message("HTTP 503: {\"ok\":false,\"path\":\"/a/events\",\"error\":\"upstream down\"}", buf, sizeof(buf));
        CHECK_STR_EQ(buf, "upstream down");
        cause_message("HTTP 502: {\"message\": \"bad gateway\\nmore\"}", buf, sizeof(buf));
        CHECK_STR_EQ(buf, "bad gateway");
        /* JSON cut short by the worker's 200-byte excerpt: the text as it is */
        cause_message("HTTP 500: {\"error\": \"cut", buf, sizeof(buf));
        CHECK_STR_EQ(buf, "{\"error\": \"cut");
        cause_message("Timeout was reached", buf, sizeof(buf));
        CHECK_STR_EQ(buf, "Timeout was reached");
        cause_message(NULL, buf, sizeof(buf));
        CHECK_STR_EQ(buf, "");
}

static void test_mask(void) {
        char a[CAUSE_TEXT_MAX], b[CAUSE_TEXT_MAX];

        cause_mask("lease expired (worker host-8812-1a2b)", a, sizeof(a));
        cause_mask("lease expired (worker host-9034-77c1)", b, sizeof(b));
        CHECK_STR_EQ(a, b);
        cause_mask("decision 1b4e28ba-2fa1-11d2-883f-0016d3cca427 failed after 30001 ms", a, sizeof(a));
        CHECK_STR_EQ(a, "decision # failed after # ms");
        /* words without digits stay, and so does what makes two messages differ */
        cause_mask("Module 'scrapers.oddsapi.oddsa_events' deadbeef", a, sizeof(a));
        CHECK_STR_EQ(a, "Module 'scrapers.oddsapi.oddsa_events' deadbeef");
        cause_mask("Failed to connect to 127.0.0.1 port 9 after 0 ms", a, sizeof(a));
        CHECK_STR_EQ(a, "Failed to connect to #.#.#.# port # after # ms");
}

static void test_grouping(void) {
        static const char *const body = "HTTP 500: Failed to load scraper... Module 'scrapers.oddsapi.oddsa_events";
        causes_t c = { 0 };
        char label[CAUSE_TEXT_MAX + 64];
        int64_t t0 = at("2026-01-20T18:05:02Z");

        /* the incident's 13:05 failure: one body from every scraper of three workflows */
        CHECK(causes_add(&c, "betting_lines", true, "HTTP_ERROR", 500, body, t0) == 0);
        CHECK(causes_add(&c, "betting_lines", true, "HTTP_ERROR", 500, body, t0 + 100) == 0);
        CHECK(causes_add(&c, "betting_lines", true, "HTTP_ERROR", 500, body, t0 + 200) == 0);
        CHECK(causes_add(&c, "referee_discovery", true, "HTTP_ERROR", 500, body, t0 + 300) == 0);
        CHECK(causes_add(&c, "schedule_dependency", true, "HTTP_ERROR", 500, body, t0 + 60000) == 0);
        /* other causes: another status, a timeout, two abandoned executions */
        CHECK(causes_add(&c, "betting_lines", true, "HTTP_ERROR", 503, body, t0) == 0);
        CHECK(causes_add(&c, "referee_discovery", true, "TIMEOUT", 0, "Timeout was reached", t0) == 0);
        CHECK(causes_add(&c, "referee_discovery", false, "ABANDONED", 0, "lease expired (worker a-12-ff01)", t0) == 0);
        CHECK(causes_add(&c, "betting_lines", false, "ABANDONED", 0, "lease expired (worker b-7-0e9c)", t0) == 0);
        causes_sort(&c);
        CHECK(c.count == 4);
        CHECK(c.list[0].calls == 5 && c.list[0].executions == 0);
        CHECK(c.list[0].workflow_count == 3);
        CHECK(c.list[0].http_status == 500);
        CHECK(c.list[0].first_ms == t0 && c.list[0].last_ms == t0 + 60000);
        CHECK_STR_EQ(c.list[0].workflows[2], "schedule_dependency");
        cause_label(&c.list[0], label, sizeof(label));
        CHECK_STR_EQ(label, "HTTP 500 \"Failed to load scraper \u2026 oddsa_events\"");
        CHECK(c.list[1].executions == 2 && c.list[1].calls == 0 && c.list[1].workflow_count == 2);
        cause_label(&c.list[1], label, sizeof(label));
        CHECK_STR_EQ(label, "ABANDONED \"lease expired (worker a-12-ff01)\"");
        for (size_t i = 2; i < c.count; i++) {
                cause_label(&c.list[i], label, sizeof(label));
                CHECK(strcmp(label, "TIMEOUT \"Timeout was reached\"") == 0 ||
                      strncmp(label, "HTTP 503 \"Failed to load scraper", 32) == 0);
        }
        causes_free(&c);
        CHECK(c.count == 0 && c.list == NULL);
}

static void test_span(void) {
        span_t s;
        int64_t ms, now = at("2026-01-20T18:05:02Z");
        char buf[64];

        /* a plain day, and the 23-hour day of the spring-forward change */
        CHECK(span_day("2026-01-20", &s) == 0);
        CHECK(s.from_ms == at("2026-01-20T05:00:00Z") && s.to_ms == at("2026-01-21T05:00:00Z"));
        CHECK(span_day("2026-03-08", &s) == 0);
        CHECK(s.to_ms - s.from_ms == 23 * 3600 * 1000LL);
        CHECK(span_day("2026-02-30", &s) < 0);
        CHECK(span_day("2026-1-20", &s) < 0);
        CHECK(span_day("yesterday", &s) < 0);
        CHECK(span_today(now, &s) == 0 && s.from_ms == at("2026-01-20T05:00:00Z"));

        /* local unless a zone is given */
        CHECK(span_time("2026-01-20 13:05", now, &ms) == 0 && ms == at("2026-01-20T18:05:00Z"));
        CHECK(span_time("2026-01-20T13:05:30", now, &ms) == 0 && ms == at("2026-01-20T18:05:30Z"));
        CHECK(span_time("2026-01-20", now, &ms) == 0 && ms == at("2026-01-20T05:00:00Z"));
        CHECK(span_time("13:30", now, &ms) == 0 && ms == at("2026-01-20T18:30:00Z"));
        CHECK(span_time("2026-01-20T13:05:00Z", now, &ms) == 0 && ms == at("2026-01-20T13:05:00Z"));
        CHECK(span_time("2026-01-20 13:05:00-05:00", now, &ms) == 0 && ms == at("2026-01-20T18:05:00Z"));
        CHECK(span_time("@1768932300", now, &ms) == 0 && ms == 1768932300000LL);
        CHECK(span_time("2026-03-08 02:30", now, &ms) < 0); /* skipped by the DST jump */
        CHECK(span_time("25:00", now, &ms) < 0);
        CHECK(span_time("2026-01-20 13:05 tomorrow", now, &ms) < 0);
        CHECK(span_time("", now, &ms) < 0);

        span_today(now, &s);
        span_clock(&s, at("2026-01-20T18:05:02Z"), buf, sizeof(buf));
        CHECK_STR_EQ(buf, "13:05:02");
        span_clock(&s, at("2026-01-19T18:05:02Z"), buf, sizeof(buf));
        CHECK_STR_EQ(buf, "2026-01-19 13:05:02");
        span_iso(at("2026-01-20T18:05:02.250Z"), buf, sizeof(buf));
        CHECK_STR_EQ(buf, "2026-01-20T13:05:02.250-05:00");
        span_iso(at("2026-07-01T12:00:00Z"), buf, sizeof(buf));
        CHECK_STR_EQ(buf, "2026-07-01T08:00:00.000-04:00");
        span_duration(850, buf, sizeof(buf));
        CHECK_STR_EQ(buf, "850ms");
        span_duration(26100, buf, sizeof(buf));
        CHECK_STR_EQ(buf, "26.1s");
        span_duration(725000, buf, sizeof(buf));
        CHECK_STR_EQ(buf, "12m05s");
}

int main(void) {
        /* as runfleet-producer's main() does with producer.timezone */
        if (rf_tz_pin("America/New_York") < 0)
                return 77;
        test_message();
        test_mask();
        test_grouping();
        test_span();
        return rf_test_finish();
}
