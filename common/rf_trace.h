/* SPDX-License-Identifier: Apache-2.0 */
/* rf_trace: W3C trace context (https://www.w3.org/TR/trace-context/) for
 * runfleet's decisions: which trace id a decision's trace has, which span
 * id its "decision produced" span has, fresh span ids for executions and
 * scraper calls, and the traceparent header that carries them.
 *
 * A decision's trace_id is made once, when the decision is recorded
 * (rf_store.c): a time-ordered random (version 7) UUID (rf_uuid.h).
 * Its 32 hex digits without the dashes are the W3C trace id, so the id an
 * operator greps in the logs, the database and the Kafka headers is the one
 * a tracing backend shows. rf_trace_id_of() is the only place that mapping
 * is made. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define RF_TRACE_ID_HEX 33 /* 32 lowercase hex digits and a NUL */
#define RF_SPAN_ID_HEX 17  /* 16 lowercase hex digits and a NUL */
/* "00-" trace id "-" span id "-01" and a NUL */
#define RF_TRACEPARENT_SIZE 56

/* The W3C trace id of a decision whose trace_id is @p trace_id: a UUID's
 * 32 hex digits, dashes dropped, lowercased. A trace_id that is not a UUID
 * (none are made so, but the column is text) maps to a hash of its text
 * (two FNV-1a 64-bit hashes), so every decision still has one stable trace
 * id; the all-zero id, which W3C calls invalid, is never returned. */
void rf_trace_id_of(const char *trace_id, char ret_hex[RF_TRACE_ID_HEX]);

/* The span id of the "decision produced" span of @p decision_id's
 * attempt @p attempt: derived, not drawn, so the worker that executes the
 * message names it as its execution span's parent without the message
 * having to carry it (an FNV-1a 64-bit hash of "decision_id/attempt",
 * never zero). Attempt 1 is the decision's root span. */
void rf_trace_decision_span_id(const char *decision_id, int attempt, char ret_hex[RF_SPAN_ID_HEX]);

/* A fresh random span id (getrandom(), buffered per thread, never zero). */
void rf_trace_span_id_new(char ret_hex[RF_SPAN_ID_HEX]);

/* "00-<trace id>-<span id>-01" (version 00, flags 01: sampled). Returns 0,
 * or -EINVAL when either id is not lowercase hex of the right length or is
 * all zeros. */
int rf_traceparent_format(const char *trace_hex, const char *span_hex, char ret[RF_TRACEPARENT_SIZE]);

/* Parses a traceparent header value (version 00 only, as the W3C text
 * says a version-00 parser must). Returns 0 with the ids copied out, or
 * -EINVAL. For tests and the fake scraper's checks. */
int rf_traceparent_parse(const char *value, char ret_trace[RF_TRACE_ID_HEX], char ret_span[RF_SPAN_ID_HEX]);

/* True when @p s is exactly @p digits lowercase hex digits, not all zero. */
int rf_trace_hex_valid(const char *s, size_t digits);

/* Wall-clock time in nanoseconds since the epoch (CLOCK_REALTIME). */
uint64_t rf_trace_now_ns(void);

/* @p url for a span's url.full: scheme, host, port and path only. A
 * user:password@ part, the query and the fragment are left out, since
 * scrapers' URLs may carry credentials there. Truncated to @p size. */
void rf_trace_url_redact(const char *url, char *out, size_t size);
