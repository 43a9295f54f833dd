/* SPDX-License-Identifier: Apache-2.0 */
/* Local time ranges and their text; see span.h. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rf_util.h"
#include "span.h"

static void local_tm(int64_t ms, struct tm *tm) {
        time_t s = (time_t)(ms / 1000 - (ms % 1000 < 0));

        localtime_r(&s, tm);
}

/* mktime() of a local wall-clock time, refused when mktime had to move it:
 * "2026-02-30" becomes March 2, and 02:30 on a spring-forward night does
 * not exist; both are errors, not other instants. */
static int local_ms(const struct tm *want, int64_t *ret_ms) {
        struct tm tm = *want;
        time_t s;

        tm.tm_isdst = -1;
        s = mktime(&tm);
        if (s == (time_t)-1 || tm.tm_year != want->tm_year || tm.tm_mon != want->tm_mon ||
            tm.tm_mday != want->tm_mday || tm.tm_hour != want->tm_hour || tm.tm_min != want->tm_min)
                return -EINVAL;
        *ret_ms = (int64_t)s * 1000;
        return 0;
}

/* The midnight that starts the local day @p days after the one in @p tm.
 * A zone whose midnight a DST jump skips starts that day at the first
 * instant after it (mktime's normalisation), which is what "the day" means
 * there. */
static int64_t midnight(const struct tm *day, int days) {
        struct tm tm = {
                .tm_year = day->tm_year, .tm_mon = day->tm_mon, .tm_mday = day->tm_mday + days, .tm_isdst = -1
        };

        return (int64_t)mktime(&tm) * 1000;
}

int span_day(const char *day, span_t *ret_span) {
        struct tm tm = { 0 };
        const char *end = strlen(day) == 10 ? strptime(day, "%Y-%m-%d", &tm) : NULL;
        struct tm check;
        int64_t from;

        if (!end || *end || !isdigit((unsigned char)day[0]))
                return -EINVAL;
        from = midnight(&tm, 0);
        local_tm(from, &check);
        if (check.tm_mday != tm.tm_mday || check.tm_mon != tm.tm_mon)
                return -EINVAL; /* "2026-02-30" */
        ret_span->from_ms = from;
        ret_span->to_ms = midnight(&tm, 1);
        return 0;
}

int span_today(int64_t now_ms, span_t *ret_span) {
        struct tm tm;

        local_tm(now_ms, &tm);
        ret_span->from_ms = midnight(&tm, 0);
        ret_span->to_ms = midnight(&tm, 1);
        return 0;
}

/* "HH:MM" or "HH:MM:SS" at @p s into @p tm; the rest in *ret_rest. */
static int parse_clock(const char *s, struct tm *tm, const char **ret_rest) {
        int h, m, sec = 0, n = 0;

        if (sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5)
                return -EINVAL;
        s += n;
        if (*s == ':') {
                if (!isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[2]))
                        return -EINVAL;
                sec = (s[1] - '0') * 10 + (s[2] - '0');
                s += 3;
        }
        if (h > 23 || m > 59 || sec > 59)
                return -EINVAL;
        tm->tm_hour = h;
        tm->tm_min = m;
        tm->tm_sec = sec;
        *ret_rest = s;
        return 0;
}

int span_time(const char *text, int64_t now_ms, int64_t *ret_ms) {
        struct tm tm = { 0 };
        const char *rest;
        int64_t ms;

        if (!text || !*text)
                return -EINVAL;
        if (text[0] == '@')
                return rf_time_parse(text, ret_ms);
        if (strlen(text) <= 8 && strchr(text, ':') && !strchr(text, '-')) {
                /* a clock time alone: today */
                local_tm(now_ms, &tm);
                if (parse_clock(text, &tm, &rest) < 0 || *rest)
                        return -EINVAL;
        } else {
                rest = strptime(text, "%Y-%m-%d", &tm);
                if (!rest || !isdigit((unsigned char)text[0]))
                        return -EINVAL;
                if ((*rest == 'T' || *rest == ' ') && parse_clock(rest + 1, &tm, &rest) < 0)
                        return -EINVAL;
                /* an explicit zone or fraction: an instant, as replay reads it */
                if (*rest)
                        return rf_time_parse(text, ret_ms);
        }
        if (local_ms(&tm, &ms) < 0)
                return -EINVAL;
        *ret_ms = ms;
        return 0;
}

void span_clock(const span_t *span, int64_t ms, char *buf, size_t size) {
        struct tm tm, start;

        local_tm(ms, &tm);
        if (span)
                local_tm(span->from_ms, &start);
        if (!span || (tm.tm_year == start.tm_year && tm.tm_yday == start.tm_yday))
                strftime(buf, size, "%H:%M:%S", &tm);
        else
                strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

void span_hhmm(int64_t ms, char *buf, size_t size) {
        struct tm tm;

        local_tm(ms, &tm);
        strftime(buf, size, "%H:%M", &tm);
}

void span_date(int64_t ms, char *buf, size_t size) {
        struct tm tm;

        local_tm(ms, &tm);
        strftime(buf, size, "%Y-%m-%d", &tm);
}

void span_iso(int64_t ms, char *buf, size_t size) {
        struct tm tm;
        char date[32];
        long off;
        int frac = (int)(((ms % 1000) + 1000) % 1000);

        local_tm(ms, &tm);
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
        off = tm.tm_gmtoff / 60;
        snprintf(buf, size, "%s.%03d%c%02ld:%02ld", date, frac, off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

void span_duration(int64_t ms, char *buf, size_t size) {
        if (ms < 0)
                ms = 0;
        if (ms < 1000)
                snprintf(buf, size, "%lldms", (long long)ms);
        else if (ms < 60000)
                snprintf(buf, size, "%.1fs", (double)ms / 1000.0);
        else if (ms < 3600000)
                snprintf(buf, size, "%lldm%02llds", (long long)(ms / 60000), (long long)(ms % 60000 / 1000));
        else
                snprintf(buf, size, "%lldh%02lldm", (long long)(ms / 3600000), (long long)(ms % 3600000 / 60000));
}
