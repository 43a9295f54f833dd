/* SPDX-License-Identifier: Apache-2.0 */
/* span: the time range an operator asks about (`timeline`, `explain`) and
 * how its instants are written, both in local time. "Local" is the
 * process's zone, which main.c pins to producer.timezone (rf_tz_pin)
 * before any command runs, so mktime() and localtime_r() read and write
 * the wall clock the schedules are written in. No I/O. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* [from_ms, to_ms), epoch milliseconds. */
typedef struct span {
        int64_t from_ms, to_ms;
} span_t;

/* The local calendar day @p day ("2026-01-20"): from its midnight to the
 * next (23 or 25 hours on DST days). Returns 0, or -EINVAL when @p day is
 * not a real date in that form. */
int span_day(const char *day, span_t *ret_span);

/* The local day that contains @p now_ms. */
int span_today(int64_t now_ms, span_t *ret_span);

/* Parses one end of a range: "2026-01-20 13:05", "2026-01-20T13:05:30",
 * "2026-01-20" (midnight) or "13:05" (today, per @p now_ms) in local time;
 * with an explicit zone ("...Z", "...-05:00") or "@<unix seconds>" as
 * rf_time_parse() reads it. Returns 0, or -EINVAL (also for a local time a
 * DST jump skips). */
int span_time(const char *text, int64_t now_ms, int64_t *ret_ms);

/* "13:05:02" local, or "2026-01-19 13:05:02" when @p ms is not on the
 * local day that starts @p span (NULL: always the short form). */
void span_clock(const span_t *span, int64_t ms, char *buf, size_t size);

/* "13:05" local. */
void span_hhmm(int64_t ms, char *buf, size_t size);

/* "2026-01-20" local. */
void span_date(int64_t ms, char *buf, size_t size);

/* "2026-01-20T13:05:02.123-05:00": local time with its UTC offset (JSON). */
void span_iso(int64_t ms, char *buf, size_t size);

/* "850ms", "26.1s", "12m05s", "2h03m". */
void span_duration(int64_t ms, char *buf, size_t size);
