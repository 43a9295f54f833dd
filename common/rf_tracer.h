/* SPDX-License-Identifier: Apache-2.0 */
/* rf_tracer: a batching OTLP/HTTP span exporter that never blocks its
 * caller.
 *
 * rf_tracer_submit() moves a finished span into a bounded queue under a
 * mutex held for a copy, and returns; one background thread takes batches
 * (tracing.batch_size spans, or what is there every
 * tracing.export_interval_ms), encodes them (rf_otlp.c) and POSTs them with
 * libcurl to tracing.otlp_endpoint. Spans are diagnostics, so when the
 * collector is down, slow or refusing, spans are dropped rather than
 * queued without bound or retried: a full queue drops the new span, a
 * failed export drops its batch, and each dropped span is counted in
 * runfleet_spans_dropped_total{reason} (queue_full, export_failed,
 * shutdown, invalid). rf_tracer_destroy() exports what is queued within
 * tracing.shutdown_timeout_ms and drops the rest.
 *
 * The background thread logs a warning when exports start failing and a
 * line when they work again (once each, not per batch): no caller is there
 * to hand the error to. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "rf_otlp.h"

typedef struct rf_tracer rf_tracer_t;

typedef struct rf_tracer_conf {
        const char *endpoint;     /* http(s)://host:port/v1/traces */
        const char *service_name; /* resource service.name */
        const char *instance_id;  /* resource service.instance.id, NULL: none */
        int batch_size;           /* spans per export request */
        int export_interval_ms;   /* a partial batch waits at most this */
        int queue_size;           /* spans queued at most; more are dropped */
        int export_timeout_ms;    /* one POST, connect included */
        int shutdown_timeout_ms;  /* rf_tracer_destroy()'s bound */
} rf_tracer_conf_t;

/* Starts an exporter (its thread included); the strings in @p conf are
 * copied. The caller owns *ret_tracer (rf_tracer_destroy()). Returns 0, or
 * a negative errno with the reason in @p errstr. */
int rf_tracer_new(const rf_tracer_conf_t *conf, rf_tracer_t **ret_tracer, char *errstr, size_t errstr_size);

/* Queues @p span (finished) for export, taking over what it owns: @p span
 * is cleared either way. Never waits for the network; drops and counts the
 * span when the queue is full or the span is malformed. @p tracer NULL:
 * the span is only cleared. */
void rf_tracer_submit(rf_tracer_t *tracer, rf_span_t *span);

/* Exports what is queued within the shutdown bound, drops the rest, stops
 * the thread and frees everything; accepts NULL. */
void rf_tracer_destroy(rf_tracer_t *tracer);

/* Spans exported (acknowledged with a 2xx) and dropped so far. */
void rf_tracer_counts(rf_tracer_t *tracer, uint64_t *ret_exported, uint64_t *ret_dropped);

/* rf_tracer_destroy(), telling the final counts (after the flush). */
void rf_tracer_destroy_counts(rf_tracer_t *tracer, uint64_t *ret_exported, uint64_t *ret_dropped);

/* The process's tracer (NULL: tracing off), set by the program at start-up
 * (rf_program_tracing_start()); the code that makes spans asks it. */
rf_tracer_t *rf_tracer_default(void);
void rf_tracer_set_default(rf_tracer_t *tracer);
