/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for rf_cron: parse errors, matching, prev/next in UTC and in
 * America/New_York across the 2026 DST changes, @every alignment, and a
 * brute-force cross-check against a minute-by-minute reference. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "rf_cron.h"
#include "rf_test.h"
#include "rf_util.h"

#define NY "America/New_York"

static int64_t utc(int y, int mo, int d, int h, int mi) {
        struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi };

        return (int64_t)timegm(&tm);
}

static const char *fmt(int64_t t, char *buf, size_t size) {
        struct tm tm;
        time_t tt = (time_t)t;

        gmtime_r(&tt, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return buf;
}

static void check_error(const char *expr, const char *reason) {
        rf_cron_t *c = NULL;
        char err[256] = "";
        int r = rf_cron_parse(expr, &c, err, sizeof(err));

        CHECK(r == -EINVAL);
        CHECK(c == NULL);
        CHECK_STR_EQ(err, reason);
        rf_cron_destroy(c);
}

/* next(after) must be @p want (0 = -ENOENT). */
static void check_next_at(int line, const char *expr, const char *tz, int64_t after, int64_t want) {
        rf_cron_t *c = NULL;
        char err[256] = "", a[32], b[32];
        int64_t got = -1;
        int r;

        r = rf_cron_parse(expr, &c, err, sizeof(err));
        CHECK(r == 0);
        if (r < 0) {
                fprintf(stderr, "line %d: parse '%s': %s\n", line, expr, err);
                return;
        }
        r = rf_cron_next(c, tz, after, &got);
        if (want == 0)
                CHECK(r == -ENOENT);
        else {
                CHECK(r == 0);
                CHECK(got == want);
                if (r != 0 || got != want)
                        fprintf(stderr, "line %d: next('%s', %s, %s) = %s, want %s\n", line, expr, tz ? tz : "UTC",
                                fmt(after, a, sizeof(a)), r == 0 ? fmt(got, b, sizeof(b)) : "ENOENT",
                                fmt(want, a, sizeof(a)));
        }
        rf_cron_destroy(c);
}

static void check_prev_at(int line, const char *expr, const char *tz, int64_t now, int64_t want) {
        rf_cron_t *c = NULL;
        char err[256] = "", a[32], b[32];
        int64_t got = -1;
        int r;

        r = rf_cron_parse(expr, &c, err, sizeof(err));
        CHECK(r == 0);
        if (r < 0) {
                fprintf(stderr, "line %d: parse '%s': %s\n", line, expr, err);
                return;
        }
        r = rf_cron_prev(c, tz, now, &got);
        if (want == 0)
                CHECK(r == -ENOENT);
        else {
                CHECK(r == 0);
                CHECK(got == want);
                if (r != 0 || got != want)
                        fprintf(stderr, "line %d: prev('%s', %s, %s) = %s, want %s\n", line, expr, tz ? tz : "UTC",
                                fmt(now, a, sizeof(a)), r == 0 ? fmt(got, b, sizeof(b)) : "ENOENT",
                                fmt(want, a, sizeof(a)));
        }
        rf_cron_destroy(c);
}

#define check_next(e, tz, after, want) check_next_at(__LINE__, e, tz, after, want)
#define check_prev(e, tz, now, want) check_prev_at(__LINE__, e, tz, now, want)

static void test_parse_errors(void) {
        check_error("", "empty schedule");
        check_error("   ", "empty schedule");
        check_error(NULL, "empty schedule");
        check_error("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4");
        check_error("0 * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 6");
        check_error("60 * * * *", "minute: 60 is out of range 0-59");
        check_error("* 24 * * *", "hour: 24 is out of range 0-23");
        check_error("* * 0 * *", "day-of-month: 0 is out of range 1-31");
        check_error("* * 32 * *", "day-of-month: 32 is out of range 1-31");
        check_error("* * * 0 *", "month: 0 is out of range 1-12");
        check_error("* * * 13 *", "month: 13 is out of range 1-12");
        check_error("* * * * 8", "day-of-week: 8 is out of range 0-7");
        check_error("x * * * *", "minute: 'x' is not a number");
        check_error("1x * * * *", "minute: '1x' is not a number");
        check_error("* * * FOO *", "month: 'FOO' is not a number or month name");
        check_error("* * * * MONDAY", "day-of-week: 'MONDAY' is not a number or day name");
        check_error("* * * * MON-FOO", "day-of-week: 'FOO' is not a number or day name");
        check_error("* JAN * * *", "hour: 'JAN' is not a number");
        check_error("5-2 * * * *", "minute: range '5-2' is backwards");
        check_error("* * * * FRI-MON", "day-of-week: range 'FRI-MON' is backwards");
        check_error("*/0 * * * *", "minute: step 0 is out of range 1-59");
        check_error("*/60 * * * *", "minute: step 60 is out of range 1-59");
        check_error("0 */24 * * *", "hour: step 24 is out of range 1-23");
        check_error("*/x * * * *", "minute: step 'x' is not a number");
        check_error("*/ * * * *", "minute: '*/' has no step after '/'");
        check_error("/5 * * * *", "minute: '/5' has no value before '/'");
        check_error("1,,2 * * * *", "minute: empty element in list '1,,2'");
        check_error("1, * * * *", "minute: empty element in list '1,'");
        check_error("0 0 30 2 *", "never fires: no selected month has the selected day-of-month");
        check_error("0 0 31 4,6,9,11 *", "never fires: no selected month has the selected day-of-month");
        check_error("@foo",
                    "unknown shorthand '@foo' (use @hourly, @daily, @weekly, @monthly, @yearly or @every <N>s|m|h)");
        check_error(
                "@every10s",
                "unknown shorthand '@every10s' (use @hourly, @daily, @weekly, @monthly, @yearly or @every <N>s|m|h)");
        check_error("@hourly 5", "@hourly takes no fields");
        check_error("@every", "@every: '' is not a duration (use <N>s, <N>m or <N>h)");
        check_error("@every 10", "@every: '10' is not a duration (use <N>s, <N>m or <N>h)");
        check_error("@every 10x", "@every: '10x' is not a duration (use <N>s, <N>m or <N>h)");
        check_error("@every 1.5m", "@every: '1.5m' is not a duration (use <N>s, <N>m or <N>h)");
        check_error("@every 10s 5", "@every: '10s 5' is not a duration (use <N>s, <N>m or <N>h)");
        check_error("@every 0s", "@every: the period must be at least 1s");
        check_error("@every 9000h", "@every: the period is longer than 366 days");
}

static void test_parse_ok(void) {
        static const char *const good[] = {
                "* * * * *",       "0 * * * *",     "0 11 * * *",         "*/15 9-17 * * MON-FRI",
                "0 0 1 JAN-MAR *", "0,30 * * * *",  "5-55/10 * * * *",    "0 0 * * 7",
                "0 0 * * sun",     "0 0 29 2 *",    "  0   1  *  *  *  ", "\t0\t1\t*\t*\t*",
                "@hourly",         "@daily",        "@midnight",          "@weekly",
                "@monthly",        "@yearly",       "@annually",          "@HOURLY",
                "@every 15s",      "@every 5m",     "@every 2h",          "@every  30s ",
                "0 0 13 * FRI",    "59 23 31 12 *", "0 12 * * 1-5/2",     "10/20 * * * *",
        };
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                rf_cron_t *c = NULL;
                char err[256] = "";

                CHECK(rf_cron_parse(good[i], &c, err, sizeof(err)) == 0);
                if (!c)
                        fprintf(stderr, "parse '%s': %s\n", good[i], err);
                rf_cron_destroy(c);
        }
        rf_cron_destroy(NULL);
}

static void test_utc(void) {
        int64_t t = utc(2026, 5, 14, 10, 7); /* a Thursday */

        check_next("* * * * *", NULL, t, t + 60);
        check_next("* * * * *", NULL, t + 30, t + 60);
        check_next("* * * * *", "UTC", t - 1, t);
        check_prev("* * * * *", NULL, t, t);
        check_prev("* * * * *", NULL, t + 59, t);
        check_prev("* * * * *", NULL, t - 1, t - 60);
        check_next("0 * * * *", NULL, t, utc(2026, 5, 14, 11, 0));
        check_prev("0 * * * *", NULL, t, utc(2026, 5, 14, 10, 0));
        check_next("@hourly", NULL, t, utc(2026, 5, 14, 11, 0));
        check_next("0 11 * * *", NULL, t, utc(2026, 5, 14, 11, 0));
        check_next("0 11 * * *", NULL, utc(2026, 5, 14, 11, 0), utc(2026, 5, 15, 11, 0));
        check_prev("0 11 * * *", NULL, t, utc(2026, 5, 13, 11, 0));
        check_prev("0 11 * * *", NULL, utc(2026, 5, 14, 11, 0), utc(2026, 5, 14, 11, 0));
        check_next("*/15 * * * *", NULL, t, utc(2026, 5, 14, 10, 15));
        check_next("5-55/10 * * * *", NULL, t, utc(2026, 5, 14, 10, 15));
        check_next("10/20 * * * *", NULL, utc(2026, 5, 14, 10, 50), utc(2026, 5, 14, 11, 10));
        check_next("0,30 9 * * *", NULL, t, utc(2026, 5, 15, 9, 0));
        check_next("0,30 9 * * *", NULL, utc(2026, 5, 15, 9, 0), utc(2026, 5, 15, 9, 30));
        check_next("*/15 9-17 * * MON-FRI", NULL, utc(2026, 5, 15, 17, 45), utc(2026, 5, 18, 9, 0));
        check_prev("*/15 9-17 * * MON-FRI", NULL, utc(2026, 5, 18, 8, 59), utc(2026, 5, 15, 17, 45));
        check_next("0 12 * * 1-5/2", NULL, t, utc(2026, 5, 15, 12, 0)); /* Mon, Wed, Fri */
        check_next("0 0 * * 0", NULL, t, utc(2026, 5, 17, 0, 0));
        check_next("0 0 * * 7", NULL, t, utc(2026, 5, 17, 0, 0));
        check_next("0 0 * * sun", NULL, t, utc(2026, 5, 17, 0, 0));
        check_next("@weekly", NULL, t, utc(2026, 5, 17, 0, 0));
        check_next("@daily", NULL, t, utc(2026, 5, 15, 0, 0));
        check_next("@monthly", NULL, t, utc(2026, 6, 1, 0, 0));
        check_next("@yearly", NULL, t, utc(2027, 1, 1, 0, 0));
        check_prev("@yearly", NULL, t, utc(2026, 1, 1, 0, 0));
        check_next("0 0 1 JAN-MAR *", NULL, t, utc(2027, 1, 1, 0, 0));
        check_next("0 0 1 jan-mar *", NULL, utc(2027, 1, 1, 0, 0), utc(2027, 2, 1, 0, 0));
        check_next("59 23 31 12 *", NULL, t, utc(2026, 12, 31, 23, 59));
        check_next("0 0 31 * *", NULL, utc(2026, 5, 31, 0, 0), utc(2026, 7, 31, 0, 0));
        /* Vixie: both restricted -> either matches (13th or any Friday). */
        check_next("0 0 13 * FRI", NULL, t, utc(2026, 5, 15, 0, 0));
        check_next("0 0 13 * FRI", NULL, utc(2026, 6, 12, 0, 0), utc(2026, 6, 13, 0, 0));
        /* ... but a field starting with '*' makes it "both": odd days that are Fridays. */
        check_next("0 0 */2 * FRI", NULL, t, utc(2026, 5, 15, 0, 0));
        check_next("0 0 */2 * FRI", NULL, utc(2026, 5, 15, 0, 0), utc(2026, 5, 29, 0, 0));
        /* 29 February: next finds 2028; prev finds none within 366 days. */
        check_next("0 0 29 2 *", NULL, t, utc(2028, 2, 29, 0, 0));
        check_prev("0 0 29 2 *", NULL, t, 0);
        check_prev("0 0 29 2 *", NULL, utc(2028, 12, 31, 0, 0), utc(2028, 2, 29, 0, 0));
        check_next("0 0 29 2 *", NULL, utc(2096, 3, 1, 0, 0), utc(2104, 2, 29, 0, 0));
        /* Year boundary. */
        check_next("0 0 * * *", NULL, utc(2026, 12, 31, 12, 0), utc(2027, 1, 1, 0, 0));
        check_prev("59 23 * * *", NULL, utc(2027, 1, 1, 0, 0), utc(2026, 12, 31, 23, 59));
        /* Before the epoch works too. */
        check_next("0 0 2 1 *", NULL, utc(1969, 6, 1, 0, 0), utc(1970, 1, 2, 0, 0));
        check_prev("0 12 * * *", NULL, utc(1969, 12, 31, 13, 0), utc(1969, 12, 31, 12, 0));
}

static void test_new_york(void) {
        /* Ordinary days: EDT is UTC-4, EST is UTC-5. */
        check_next("0 11 * * *", NY, utc(2026, 6, 15, 12, 0), utc(2026, 6, 15, 15, 0));
        check_next("0 11 * * *", NY, utc(2026, 12, 15, 12, 0), utc(2026, 12, 15, 16, 0));
        check_prev("0 11 * * *", NY, utc(2026, 6, 15, 14, 59), utc(2026, 6, 14, 15, 0));
        check_next("0 * * * *", NY, utc(2026, 6, 15, 12, 30), utc(2026, 6, 15, 13, 0));

        /* Across local midnight (UTC and local dates differ). */
        check_next("0 23 * * *", NY, utc(2026, 6, 15, 2, 0), utc(2026, 6, 15, 3, 0));
        check_next("0 0 * * MON", NY, utc(2026, 6, 15, 3, 0), utc(2026, 6, 15, 4, 0));
        check_next("0 0 * * MON", NULL, utc(2026, 6, 15, 3, 0), utc(2026, 6, 22, 0, 0));
        check_next("0 0 1 * *", NY, utc(2026, 6, 30, 12, 0), utc(2026, 7, 1, 4, 0));
        check_prev("0 0 1 * *", NY, utc(2026, 7, 1, 3, 59), utc(2026, 6, 1, 4, 0));
        check_next("30 23 31 12 *", NY, utc(2026, 12, 31, 12, 0), utc(2027, 1, 1, 4, 30));
        check_prev("0 0 * * *", NY, utc(2026, 6, 16, 3, 59), utc(2026, 6, 15, 4, 0));

        /* Spring forward 2026-03-08: 02:00 EST (07:00Z) becomes 03:00 EDT. */
        check_next("30 2 * * *", NY, utc(2026, 3, 7, 12, 0), utc(2026, 3, 9, 6, 30)); /* skipped on the 8th */
        check_prev("30 2 * * *", NY, utc(2026, 3, 8, 12, 0), utc(2026, 3, 7, 7, 30));
        check_next("0 2 * * *", NY, utc(2026, 3, 7, 12, 0), utc(2026, 3, 9, 6, 0));
        check_next("0 3 * * *", NY, utc(2026, 3, 7, 12, 0), utc(2026, 3, 8, 7, 0));
        check_next("59 1 * * *", NY, utc(2026, 3, 7, 12, 0), utc(2026, 3, 8, 6, 59));
        check_next("*/30 * * * *", NY, utc(2026, 3, 8, 6, 45), utc(2026, 3, 8, 7, 0));
        check_prev("*/30 * * * *", NY, utc(2026, 3, 8, 7, 0) - 1, utc(2026, 3, 8, 6, 30));
        check_next("0 * * * *", NY, utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 7, 0)); /* 01:00 EST -> 03:00 EDT */
        check_prev("0 * * * *", NY, utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 7, 0));
        check_next("0 11 * * *", NY, utc(2026, 3, 7, 17, 0), utc(2026, 3, 8, 15, 0));

        /* Fall back 2026-11-01: 02:00 EDT (06:00Z) becomes 01:00 EST; 01:xx
         * happens twice (05:xxZ and 06:xxZ) and fires only the first time. */
        check_next("30 1 * * *", NY, utc(2026, 10, 31, 12, 0), utc(2026, 11, 1, 5, 30));
        check_next("30 1 * * *", NY, utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30));
        check_prev("30 1 * * *", NY, utc(2026, 11, 1, 6, 45), utc(2026, 11, 1, 5, 30));
        check_next("0 * * * *", NY, utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 7, 0));
        check_prev("0 * * * *", NY, utc(2026, 11, 1, 6, 59), utc(2026, 11, 1, 5, 0));
        check_next("*/15 * * * *", NY, utc(2026, 11, 1, 5, 45), utc(2026, 11, 1, 7, 0));
        check_next("*/15 * * * *", NY, utc(2026, 11, 1, 6, 20), utc(2026, 11, 1, 7, 0));
        check_prev("*/15 * * * *", NY, utc(2026, 11, 1, 6, 30), utc(2026, 11, 1, 5, 45));
        check_prev("*/15 * * * *", NY, utc(2026, 11, 1, 7, 0), utc(2026, 11, 1, 7, 0));
        check_next("0 2 * * *", NY, utc(2026, 10, 31, 12, 0), utc(2026, 11, 1, 7, 0));
        check_next("0 0 * * *", NY, utc(2026, 10, 31, 12, 0), utc(2026, 11, 1, 4, 0));
        check_next("0 0 * * *", NY, utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 5, 0));
        check_next("0 11 * * *", NY, utc(2026, 10, 31, 16, 0), utc(2026, 11, 1, 16, 0));

        /* Other zones: no DST, and a half-hour offset. */
        check_next("0 9 * * *", "Asia/Kolkata", utc(2026, 6, 15, 0, 0), utc(2026, 6, 15, 3, 30));
        check_next("0 9 * * *", "Etc/UTC", utc(2026, 6, 15, 0, 0), utc(2026, 6, 15, 9, 0));
        /* Southern hemisphere: Sydney springs forward 2026-10-04 02:00 -> 03:00. */
        check_next("30 2 * * *", "Australia/Sydney", utc(2026, 10, 2, 0, 0), utc(2026, 10, 2, 16, 30));
        check_next("30 2 * * *", "Australia/Sydney", utc(2026, 10, 2, 16, 30), utc(2026, 10, 4, 15, 30));
}

static void test_every(void) {
        rf_cron_t *c = NULL;
        char err[128];
        int64_t t = 0;

        CHECK(rf_cron_parse("@every 15s", &c, err, sizeof(err)) == 0);
        CHECK(rf_cron_next(c, NULL, 1000000007, &t) == 0 && t == 1000000020);
        CHECK(rf_cron_next(c, NY, 1000000020, &t) == 0 && t == 1000000035);
        CHECK(rf_cron_prev(c, NY, 1000000020, &t) == 0 && t == 1000000020);
        CHECK(rf_cron_prev(c, NULL, 1000000034, &t) == 0 && t == 1000000020);
        CHECK(rf_cron_prev(c, NULL, -1, &t) == 0 && t == -15);
        CHECK(rf_cron_next(c, NULL, -16, &t) == 0 && t == -15);
        CHECK(rf_cron_next(c, "Nowhere/Atlantis", 0, &t) == -EINVAL);
        rf_cron_destroy(c);

        c = NULL;
        CHECK(rf_cron_parse("@every 7m", &c, err, sizeof(err)) == 0);
        CHECK(rf_cron_next(c, NULL, 0, &t) == 0 && t == 420);
        CHECK(rf_cron_prev(c, NULL, 839, &t) == 0 && t == 420);
        rf_cron_destroy(c);

        /* Two "replicas" starting at different moments agree on the ticks. */
        c = NULL;
        CHECK(rf_cron_parse("@every 2h", &c, err, sizeof(err)) == 0);
        int64_t a = 0, b = 0;
        CHECK(rf_cron_next(c, NULL, utc(2026, 5, 14, 10, 7), &a) == 0);
        CHECK(rf_cron_next(c, NY, utc(2026, 5, 14, 11, 59), &b) == 0);
        CHECK(a == b && a == utc(2026, 5, 14, 12, 0));
        rf_cron_destroy(c);
}

static void test_zones(void) {
        rf_cron_t *c = NULL;
        char err[128];
        int64_t t = 0;

        CHECK(rf_tz_valid("UTC"));
        CHECK(rf_tz_valid("America/New_York"));
        CHECK(rf_tz_valid("Europe/London"));
        CHECK(!rf_tz_valid("America/Nwe_York"));
        CHECK(!rf_tz_valid("America"));
        CHECK(!rf_tz_valid(""));
        CHECK(!rf_tz_valid(NULL));
        CHECK(!rf_tz_valid("../../etc/passwd"));
        CHECK(!rf_tz_valid("/etc/localtime"));
        CHECK(!rf_tz_valid("America/../America/New_York"));
        CHECK(!rf_tz_valid("zone.tab"));
        CHECK(!rf_tz_valid("America/New York"));

        CHECK(rf_cron_parse("0 * * * *", &c, err, sizeof(err)) == 0);
        CHECK(rf_cron_next(c, "America/Nwe_York", 0, &t) == -EINVAL);
        CHECK(rf_cron_prev(c, "America/Nwe_York", 0, &t) == -EINVAL);

        /* The caller's TZ is left as it was. */
        unsetenv("TZ");
        CHECK(rf_cron_next(c, NY, 0, &t) == 0);
        CHECK(getenv("TZ") == NULL);
        setenv("TZ", "Europe/Paris", 1);
        CHECK(rf_cron_next(c, NY, 0, &t) == 0);
        CHECK_STR_EQ(getenv("TZ"), "Europe/Paris");
        setenv("TZ", ":" NY, 1); /* already the zone asked for */
        CHECK(rf_cron_next(c, NY, utc(2026, 6, 15, 12, 30), &t) == 0 && t == utc(2026, 6, 15, 13, 0));
        CHECK_STR_EQ(getenv("TZ"), ":" NY);
        unsetenv("TZ");
        rf_cron_destroy(c);
}

/* ---- brute-force cross-check ------------------------------------------ */

typedef struct ref {
        const char *expr;
        int minute[60], hour[24], dom[32], month[13], dow[8];
        bool dom_star, dow_star;
} ref_t;

/* A deliberately naive parser for the subset of syntax used below: "*",
 * "*\/n", "a", "a-b", "a-b/n", comma lists, numbers only. */
static void ref_field(const char *s, int *set, int min, int max) {
        char buf[64];
        char *save = NULL;

        snprintf(buf, sizeof(buf), "%s", s);
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                int lo = min, hi = max, step = 1;
                char *slash = strchr(tok, '/');

                if (slash) {
                        step = atoi(slash + 1);
                        *slash = 0;
                }
                if (strcmp(tok, "*") != 0) {
                        char *dash = strchr(tok, '-');

                        lo = atoi(tok);
                        hi = dash ? atoi(dash + 1) : (slash ? max : lo);
                }
                for (int v = lo; v <= hi; v += step)
                        set[v] = 1;
        }
}

static void ref_parse(ref_t *r, const char *expr) {
        char f[5][64];

        memset(r, 0, sizeof(*r));
        r->expr = expr;
        CHECK(sscanf(expr, "%63s %63s %63s %63s %63s", f[0], f[1], f[2], f[3], f[4]) == 5);
        ref_field(f[0], r->minute, 0, 59);
        ref_field(f[1], r->hour, 0, 23);
        ref_field(f[2], r->dom, 1, 31);
        ref_field(f[3], r->month, 1, 12);
        ref_field(f[4], r->dow, 0, 7);
        if (r->dow[7])
                r->dow[0] = 1;
        r->dom_star = f[2][0] == '*';
        r->dow_star = f[4][0] == '*';
}

/* Does instant @p t (a whole minute) fire? Local fields from localtime_r
 * in the current TZ; a repeated wall-clock time fires only at its first
 * occurrence. */
static bool ref_fires(const ref_t *r, int64_t t) {
        struct tm tm, earlier;
        time_t tt = (time_t)t, te;
        bool dm, wm;

        localtime_r(&tt, &tm);
        if (!r->minute[tm.tm_min] || !r->hour[tm.tm_hour] || !r->month[tm.tm_mon + 1])
                return false;
        dm = r->dom[tm.tm_mday];
        wm = r->dow[tm.tm_wday];
        if ((r->dom_star || r->dow_star) ? !(dm && wm) : !(dm || wm))
                return false;
        /* Same wall clock one hour earlier (every DST shift in our zones is 1h)? */
        te = tt - 3600;
        localtime_r(&te, &earlier);
        if (earlier.tm_hour == tm.tm_hour && earlier.tm_min == tm.tm_min && earlier.tm_mday == tm.tm_mday)
                return false;
        return true;
}

static void cross_check(const char *tz) {
        static const char *const exprs[] = {
                "* * * * *",   "0 * * * *",     "*/15 * * * *",     "30 2 * * *",  "0 1 * * *",   "45 1 * * *",
                "0 0 * * *",   "5 4 * * 0",     "0 9-17/2 * * 1-5", "0 0 13 * 5",  "0 0 */2 * 5", "0,20,40 1-3 * * *",
                "59 23 * * *", "0 12 1,15 * *", "15 3 * 3,11 *",    "0 0 * * 6,7",
        };
        static const int64_t starts[] = {
                1772946000, 1772949600, 1772951400, 1772953200, 1772954100, /* 2026-03-08 05:00Z .. 07:15Z */
                1793502000, 1793509200, 1793511000, 1793512800, 1793514600,
                1793516400,                         /* 2026-11-01 03:00Z .. 07:00Z */
                1781000000, 1767225600, 1767225599, /* 2026-06-09, 2026-01-01 and a second before */
        };
        char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
        char tzbuf[64];
        int mismatches = 0, compared = 0;

        for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++) {
                rf_cron_t *c = NULL;
                char err[128];
                ref_t ref;

                ref_parse(&ref, exprs[e]);
                CHECK(rf_cron_parse(exprs[e], &c, err, sizeof(err)) == 0);
                for (size_t s = 0; c && s < sizeof(starts) / sizeof(starts[0]); s++) {
                        for (int off = 0; off < 3; off++) {
                                int64_t after = starts[s] + off * 1337;
                                int64_t got_next = 0, got_prev = 0, want_next = 0, want_prev = 0;
                                int rn = rf_cron_next(c, tz, after, &got_next);
                                int rp = rf_cron_prev(c, tz, after, &got_prev);

                                /* The reference runs with TZ set for the whole scan. */
                                snprintf(tzbuf, sizeof(tzbuf), ":%s", tz ? tz : "UTC");
                                setenv("TZ", tzbuf, 1);
                                tzset();
                                for (int64_t t = (after / 60 + 1) * 60; t < after + 40 * 86400; t += 60)
                                        if (ref_fires(&ref, t)) {
                                                want_next = t;
                                                break;
                                        }
                                for (int64_t t = after / 60 * 60; t > after - 40 * 86400; t -= 60)
                                        if (ref_fires(&ref, t)) {
                                                want_prev = t;
                                                break;
                                        }
                                unsetenv("TZ");
                                tzset();
                                compared += (want_next != 0) + (want_prev != 0);
                                if (want_next && (rn != 0 || got_next != want_next)) {
                                        if (mismatches++ < 10)
                                                fprintf(stderr, "next('%s', %s, %lld) = %d/%lld, reference %lld\n",
                                                        exprs[e], tz ? tz : "UTC", (long long)after, rn,
                                                        (long long)got_next, (long long)want_next);
                                }
                                if (want_prev && (rp != 0 || got_prev != want_prev)) {
                                        if (mismatches++ < 10)
                                                fprintf(stderr, "prev('%s', %s, %lld) = %d/%lld, reference %lld\n",
                                                        exprs[e], tz ? tz : "UTC", (long long)after, rp,
                                                        (long long)got_prev, (long long)want_prev);
                                }
                                rf_test_checks++;
                        }
                }
                rf_cron_destroy(c);
        }
        CHECK(mismatches == 0);
        CHECK(compared > 1200); /* the reference found something almost every time */
        if (old)
                setenv("TZ", old, 1);
        free(old);
}

/* Threads evaluating in different zones at once get their own zone's answer. */
typedef struct thread_arg {
        const char *tz;
        int64_t want;
        int wrong;
} thread_arg_t;

static void *zone_thread(void *p) {
        thread_arg_t *a = p;
        rf_cron_t *c = NULL;
        char err[128];

        if (rf_cron_parse("0 11 * * *", &c, err, sizeof(err)) < 0) {
                a->wrong = -1;
                return NULL;
        }
        for (int i = 0; i < 2000; i++) {
                int64_t t = 0;

                if (rf_cron_next(c, a->tz, utc(2026, 6, 15, 0, 0), &t) != 0 || t != a->want)
                        a->wrong++;
        }
        rf_cron_destroy(c);
        return NULL;
}

static void test_threads(void) {
        thread_arg_t args[] = {
                { NY, utc(2026, 6, 15, 15, 0), 0 },
                { "Europe/London", utc(2026, 6, 15, 10, 0), 0 },
                { "Asia/Kolkata", utc(2026, 6, 15, 5, 30), 0 },
                { NULL, utc(2026, 6, 15, 11, 0), 0 },
        };
        pthread_t th[4];

        for (int i = 0; i < 4; i++)
                CHECK(pthread_create(&th[i], NULL, zone_thread, &args[i]) == 0);
        for (int i = 0; i < 4; i++) {
                pthread_join(th[i], NULL);
                CHECK(args[i].wrong == 0);
        }
}

/* Generous bound only; the real figures belong to bench/. */
static void test_speed(void) {
        rf_cron_t *c = NULL;
        char err[128];
        struct timespec a, b;
        int64_t t = 0, now = utc(2026, 1, 1, 0, 0);
        int ok = 1;

        CHECK(rf_cron_parse("0 11 * * 1-5", &c, err, sizeof(err)) == 0);
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < 2000; i++) {
                ok &= rf_cron_next(c, NY, now + i * 3607, &t) == 0;
                ok &= rf_cron_prev(c, NY, now + i * 3607, &t) == 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        double us = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / 4000;
        CHECK(ok);
        CHECK(us < 1000);
        printf("America/New_York prev/next: %.1f us per call\n", us);
        rf_cron_destroy(c);
}

/* Times typed in a zone (rf_time_parse_in, over rf_tz_mktime): a date is
 * local midnight, an hour a fall-back repeats is its first occurrence, an
 * hour a spring-forward skips does not exist, an explicit offset wins. */
static void test_local_times(void) {
        int64_t ms = 0;

        CHECK(rf_time_parse_in("2026-12-04", NY, &ms) == 0 && ms == utc(2026, 12, 4, 5, 0) * 1000);
        CHECK(rf_time_parse_in("2026-07-01 09:30", NY, &ms) == 0 && ms == utc(2026, 7, 1, 13, 30) * 1000);
        CHECK(rf_time_parse_in("2026-07-01T09:30:15", NY, &ms) == 0 && ms == (utc(2026, 7, 1, 13, 30) + 15) * 1000);
        CHECK(rf_time_parse_in("2026-12-04 10:00:30.5", NY, &ms) == 0 &&
              ms == (utc(2026, 12, 4, 15, 0) + 30) * 1000 + 500);
        /* 2026-03-08 02:00-03:00 does not exist in New York */
        CHECK(rf_time_parse_in("2026-03-08 02:30", NY, &ms) == -ENOENT);
        CHECK(rf_time_parse_in("2026-03-08 03:00", NY, &ms) == 0 && ms == utc(2026, 3, 8, 7, 0) * 1000);
        /* 2026-11-01 01:00-02:00 happens twice: the first (EDT) is meant */
        CHECK(rf_time_parse_in("2026-11-01 01:30", NY, &ms) == 0 && ms == utc(2026, 11, 1, 5, 30) * 1000);
        CHECK(rf_time_parse_in("2026-11-01 01:30:00-05", NY, &ms) == 0 && ms == utc(2026, 11, 1, 6, 30) * 1000);
        CHECK(rf_time_parse_in("2026-12-04T10:00:00Z", NY, &ms) == 0 && ms == utc(2026, 12, 4, 10, 0) * 1000);
        CHECK(rf_time_parse_in("@1795000000", NY, &ms) == 0 && ms == 1795000000000LL);
        CHECK(rf_time_parse_in("2026-12-04", NULL, &ms) == 0 && ms == utc(2026, 12, 4, 0, 0) * 1000);
        CHECK(rf_time_parse_in("2026-12-04", "UTC", &ms) == 0 && ms == utc(2026, 12, 4, 0, 0) * 1000);
        CHECK(rf_time_parse_in("yesterday", NY, &ms) == -EINVAL);
        CHECK(rf_time_parse_in("2026-12-04 25:00", NY, &ms) == -EINVAL);
        CHECK(rf_time_parse_in("2026-12-04", "Mars/Olympus_Mons", &ms) == -EINVAL);
        /* rf_time_parse() is unchanged: no zone means UTC */
        CHECK(rf_time_parse("2026-12-04 10:00", &ms) == 0 && ms == utc(2026, 12, 4, 10, 0) * 1000);
}

int main(void) {
        test_parse_errors();
        test_parse_ok();
        test_utc();
        test_new_york();
        test_every();
        test_zones();
        test_local_times();
        cross_check(NULL);
        cross_check(NY);
        cross_check("Europe/London");
        test_threads();
        test_speed();
        return rf_test_finish();
}
