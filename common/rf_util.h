/* SPDX-License-Identifier: Apache-2.0 */
/* rf_util: clocks, ids and durations shared by the programs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wall-clock time, unix epoch milliseconds. */
int64_t rf_now_ms(void);

/* Monotonic milliseconds, for timeouts and intervals. */
int64_t rf_mono_ms(void);

#include "rf_uuid.h"

/* Parses "250ms", "30s", "5m", "1h", "2d" (a bare number is seconds) into
 * milliseconds. Returns 0 or -EINVAL. */
int rf_duration_parse(const char *text, int64_t *ret_ms);

/* Parses an ISO-8601 time "2026-11-27T13:00:00Z", "2026-11-27 13:00:00+00",
 * "2026-11-27" (midnight UTC) or "@<unix seconds>" into epoch ms. Returns 0 or -EINVAL. */
int rf_time_parse(const char *text, int64_t *ret_ms);

/* rf_time_parse() for a person typing times in zone @p tz (NULL = UTC):
 * "2026-11-27 08:00", "2026-11-27T08:00:00" and "2026-11-27" (local
 * midnight) are wall-clock times in @p tz; a time with "Z" or an offset, and
 * "@<unix seconds>", are read as rf_time_parse() reads them. A wall-clock
 * time a fall-back repeats is its first occurrence. Returns 0, -EINVAL
 * (not a time, or @p tz unknown) or -ENOENT (a spring-forward jump skips
 * that wall-clock time in @p tz). */
int rf_time_parse_in(const char *text, const char *tz, int64_t *ret_ms);

/* Formats epoch ms as "2026-11-27T13:00:00.000Z" into @p buf. */
void rf_time_format(int64_t ms, char *buf, size_t size);

/* Bytes in the well-formed UTF-8 character starting at @p s (a lead byte
 * >= 0x80), reading at most @p avail bytes, or 0: overlong forms,
 * surrogates, code points past U+10FFFF and sequences cut short (by
 * @p avail or a NUL) are not characters. A NUL-terminated string may pass
 * SIZE_MAX. */
size_t rf_utf8_char_length(const char *s, size_t avail);

/* An id for this process: "<host>-<pid>-<4 hex>", into @p buf. */
void rf_process_id(char *buf, size_t size);

/* Formats into the caller's @p errstr (nothing when it is NULL or empty),
 * the errstr convention of every function that can fail. */
void rf_seterr(char *errstr, size_t errstr_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
