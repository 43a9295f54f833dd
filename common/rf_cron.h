/* SPDX-License-Identifier: Apache-2.0 */
/* rf_cron: schedules. A 5-field cron expression (minute hour day-of-month
 * month day-of-week; lists, ranges, steps, names) or "@every <duration>"
 * ("@every 30s", "@every 5m"), evaluated in an IANA time zone. */
#pragma once

#include <stdint.h>
#include <stddef.h>

typedef struct rf_cron rf_cron_t;

/* Parses @p expr. The caller owns *ret_cron. Returns 0, or -EINVAL with the
 * reason (naming the field at fault) in @p errstr. */
int rf_cron_parse(const char *expr, rf_cron_t **ret_cron, char *errstr, size_t errstr_size);

void rf_cron_destroy(rf_cron_t *cron);

/* The latest fire time <= @p now_s (unix seconds) in zone @p tz (NULL = UTC),
 * into *ret_fire_s. Returns 0, or -ENOENT when there is none within the last
 * 366 days, or -EINVAL when @p tz is not a known zone (rf_tz_valid()).
 * DST: a local time skipped by a spring-forward jump does not fire that day;
 * a local time repeated by a fall-back fires once, at its first occurrence.
 * "@every" fires at unix-epoch multiples of its period, whatever the zone. */
int rf_cron_prev(const rf_cron_t *cron, const char *tz, int64_t now_s, int64_t *ret_fire_s);

/* The earliest fire time > @p after_s in zone @p tz (NULL = UTC). Returns 0,
 * -ENOENT when there is none within the next 8 years, or -EINVAL for an
 * unknown zone. */
int rf_cron_next(const rf_cron_t *cron, const char *tz, int64_t after_s, int64_t *ret_fire_s);

struct tm;

/* The local wall-clock time of instant @p t_s (unix seconds) in zone @p tz
 * (NULL = UTC) into *ret_tm, tm_gmtoff included, under the same zone switch
 * as rf_cron_prev(). Returns 0, or -EINVAL for an unknown zone. */
int rf_tz_localtime(const char *tz, int64_t t_s, struct tm *ret_tm);

/* The instant (unix seconds) of local wall-clock time @p local (tm_year,
 * tm_mon, tm_mday, tm_hour, tm_min, tm_sec; the rest ignored) in zone @p tz
 * (NULL = UTC), as rf_cron reads schedules: a time a fall-back repeats is
 * its first occurrence. Returns 0, -ENOENT when a spring-forward jump skips
 * that time, or -EINVAL for an unknown zone. */
int rf_tz_mktime(const char *tz, const struct tm *local, int64_t *ret_s);

/* 1 when @p tz names a compiled zone file under /usr/share/zoneinfo (or
 * $TZDIR), e.g. "America/New_York"; "UTC" is always valid. Names with ".."
 * or a leading '/' are refused. */
int rf_tz_valid(const char *tz);

/* Makes @p tz the process's local zone (TZ). Call once at start-up, before
 * any thread starts: rf_cron calls in that zone then never touch the
 * environment, and setenv() is not safe while other threads call getenv().
 * Returns 0 or -EINVAL for an unknown zone. */
int rf_tz_pin(const char *tz);
