/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rf_cron.h"
#include "rf_util.h"

int64_t rf_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rf_mono_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rf_duration_parse(const char *text, int64_t *ret_ms) {
        static const struct {
                const char *suffix;
                int64_t ms;
        } units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 }, { "", 1000 } };
        char *end;
        long long n;

        if (!text || !isdigit((unsigned char)*text))
                return -EINVAL;
        errno = 0;
        n = strtoll(text, &end, 10);
        if (errno || n < 0 || n > 1000LL * 24 * 3600)
                return -EINVAL;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (strcmp(end, units[i].suffix) == 0) {
                        *ret_ms = n * units[i].ms;
                        return 0;
                }
        return -EINVAL;
}

/* The fields of an ISO-8601 time: *ret_tm the wall clock as written,
 * *ret_frac_ms its milliseconds, *ret_offset_s the UTC offset written after
 * it and *ret_zoned whether one was ("Z", "+01", "-05:00"). */
static int parse_iso(const char *text, struct tm *ret_tm, int64_t *ret_frac_ms, int *ret_offset_s, int *ret_zoned) {
        struct tm tm = { 0 };
        const char *rest;
        int off_sign = 0, off_h = 0, off_m = 0, zoned = 0;
        int64_t ms = 0;

        rest = strptime(text, "%Y-%m-%d", &tm);
        if (!rest)
                return -EINVAL;
        if (*rest == 'T' || *rest == ' ') {
                rest = strptime(rest + 1, "%H:%M", &tm);
                if (!rest)
                        return -EINVAL;
                if (*rest == ':') {
                        char *end;
                        double sec = strtod(rest + 1, &end);
                        if (end == rest + 1 || sec < 0 || sec >= 61)
                                return -EINVAL;
                        tm.tm_sec = (int)sec;
                        ms = (int64_t)((sec - (int)sec) * 1000 + 0.5);
                        rest = end;
                }
        }
        if (*rest == 'Z' || *rest == 'z') {
                rest++;
                zoned = 1;
        } else if (*rest == '+' || *rest == '-') {
                off_sign = *rest == '-' ? -1 : 1;
                if (sscanf(rest + 1, "%2d", &off_h) != 1)
                        return -EINVAL;
                rest += 3;
                if (*rest == ':')
                        rest++;
                if (isdigit((unsigned char)*rest)) {
                        if (sscanf(rest, "%2d", &off_m) != 1)
                                return -EINVAL;
                        rest += 2;
                }
                zoned = 1;
        }
        if (*rest)
                return -EINVAL;
        *ret_tm = tm;
        *ret_frac_ms = ms;
        *ret_offset_s = off_sign * (off_h * 3600 + off_m * 60);
        *ret_zoned = zoned;
        return 0;
}

/* "@<unix seconds>" into epoch ms: 1 when @p text is one, 0 when not, -EINVAL when malformed. */
static int parse_epoch(const char *text, int64_t *ret_ms) {
        char *end;
        long long s;

        if (text[0] != '@')
                return 0;
        s = strtoll(text + 1, &end, 10);
        if (end == text + 1 || *end)
                return -EINVAL;
        *ret_ms = s * 1000;
        return 1;
}

int rf_time_parse_in(const char *text, const char *tz, int64_t *ret_ms) {
        struct tm tm;
        int64_t ms, local_s;
        int offset_s, zoned, r;

        if (!text)
                return -EINVAL;
        r = parse_epoch(text, ret_ms);
        if (r != 0)
                return r < 0 ? r : 0;
        r = parse_iso(text, &tm, &ms, &offset_s, &zoned);
        if (r < 0)
                return r;
        if (zoned || !tz) {
                *ret_ms = (int64_t)timegm(&tm) * 1000 + ms - offset_s * 1000LL;
                return 0;
        }
        r = rf_tz_mktime(tz, &tm, &local_s);
        if (r < 0)
                return r;
        *ret_ms = local_s * 1000 + ms;
        return 0;
}

int rf_time_parse(const char *text, int64_t *ret_ms) {
        return rf_time_parse_in(text, NULL, ret_ms);
}

void rf_time_format(int64_t ms, char *buf, size_t size) {
        time_t s = (time_t)(ms / 1000);
        struct tm tm;
        size_t n;

        gmtime_r(&s, &tm);
        n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000));
}

void rf_process_id(char *buf, size_t size) {
        char host[64] = "host";
        char uuid[37];

        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        rf_uuid_new(uuid);
        snprintf(buf, size, "%s-%d-%.4s", host, (int)getpid(), rf_uuid_short(uuid));
}

size_t rf_utf8_char_length(const char *s, size_t avail) {
        const unsigned char *p = (const unsigned char *)s;
        unsigned char b = p[0];
        size_t k;
        uint32_t cp;

        if (b >= 0xc2 && b <= 0xdf)
                k = 1, cp = b & 0x1f;
        else if (b >= 0xe0 && b <= 0xef)
                k = 2, cp = b & 0x0f;
        else if (b >= 0xf0 && b <= 0xf4)
                k = 3, cp = b & 0x07;
        else
                return 0;
        if (avail <= k)
                return 0;
        for (size_t j = 1; j <= k; j++) {
                if ((p[j] & 0xc0) != 0x80) /* also stops at a terminating NUL */
                        return 0;
                cp = cp << 6 | (p[j] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return k + 1;
}

void rf_seterr(char *errstr, size_t errstr_size, const char *fmt, ...) {
        va_list ap;

        if (!errstr || errstr_size == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
}
