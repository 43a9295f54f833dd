/* SPDX-License-Identifier: Apache-2.0 */
/* rf_otlp: spans, and their encoding as an OTLP/HTTP JSON export request
 * (ExportTraceServiceRequest in the protobuf JSON mapping, as the OTLP
 * specification's "JSON Protobuf Encoding" section amends it: trace and
 * span ids are hex strings, not base64; enums are integers; 64-bit integers
 * are decimal strings; keys are lowerCamelCase).
 *
 * Debian 12 packages no OpenTelemetry library for C, and the part of one
 * runfleet needs is small: this encoder and the batching exporter in
 * rf_tracer.c. The encoder takes any bytes in names and attribute values:
 * what is not UTF-8 becomes U+FFFD and long values are cut, so a scraper's
 * odd error text can never make an export request invalid JSON (fuzzed:
 * fuzz/fuzz_otlp.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rf_trace.h"

/* OTLP's SpanKind and Status.StatusCode values. */
typedef enum rf_span_kind {
        RF_SPAN_INTERNAL = 1,
        RF_SPAN_SERVER = 2,
        RF_SPAN_CLIENT = 3,
        RF_SPAN_PRODUCER = 4,
        RF_SPAN_CONSUMER = 5,
} rf_span_kind_t;

typedef enum rf_span_status {
        RF_SPAN_STATUS_UNSET = 0,
        RF_SPAN_STATUS_OK = 1,
        RF_SPAN_STATUS_ERROR = 2,
} rf_span_status_t;

#define RF_SPAN_MAX_ATTRS 16
#define RF_OTLP_MAX_VALUE 1024 /* bytes of a string kept, before UTF-8 repair */

typedef struct rf_span_attr {
        const char *key; /* not owned: a string literal (or, fuzzing, the input) */
        char *str;       /* owned; NULL: an integer attribute */
        int64_t num;
} rf_span_attr_t;

/* One finished span. Strings marked owned are freed by rf_span_clear(). */
typedef struct rf_span {
        char trace_id[RF_TRACE_ID_HEX];
        char span_id[RF_SPAN_ID_HEX];
        char parent_span_id[RF_SPAN_ID_HEX]; /* "": a root span */
        char *name;                          /* owned */
        rf_span_kind_t kind;
        uint64_t start_ns, end_ns; /* wall clock, ns since the epoch */
        rf_span_status_t status;
        char *status_message; /* owned, NULL: none (only sent with an ERROR status) */
        rf_span_attr_t attrs[RF_SPAN_MAX_ATTRS];
        size_t attr_count;
        char link_trace_id[RF_TRACE_ID_HEX]; /* one link (a replay's original), "": none */
        char link_span_id[RF_SPAN_ID_HEX];
} rf_span_t;

/* Starts @p span afresh (ids copied, @p parent NULL or "" for a root).
 * Returns 0, or -ENOMEM (then @p span holds nothing to free). */
int rf_span_init(rf_span_t *span, const char *trace_id, const char *span_id, const char *parent, const char *name,
                 rf_span_kind_t kind, uint64_t start_ns);

/* Adds an attribute; @p key must outlive the span (a literal). Beyond
 * RF_SPAN_MAX_ATTRS, or out of memory, the attribute is left out: a span
 * is diagnostics, never a reason to fail. */
void rf_span_attr_str(rf_span_t *span, const char *key, const char *value);
void rf_span_attr_int(rf_span_t *span, const char *key, int64_t value);

/* Sets the status (and, for an error, its message, copied). */
void rf_span_set_status(rf_span_t *span, rf_span_status_t status, const char *message);

/* Frees what @p span owns and empties it; accepts a cleared span. */
void rf_span_clear(rf_span_t *span);

/* Whether the span's ids are well formed (trace and span id valid hex,
 * the parent empty or valid): rf_otlp_encode() refuses one that is not. */
bool rf_span_valid(const rf_span_t *span);

/* Encodes @p n spans as one export request from service @p service_name
 * (resource attribute service.name; @p instance_id, when not NULL,
 * service.instance.id). The caller owns *ret_json (free()), NUL-terminated,
 * *ret_len bytes. Returns 0, -EINVAL for a span rf_span_valid() refuses
 * (its index in @p errstr), or -ENOMEM. */
int rf_otlp_encode(const char *service_name, const char *instance_id, const rf_span_t *spans, size_t n, char **ret_json,
                   size_t *ret_len, char *errstr, size_t errstr_size);
