/* SPDX-License-Identifier: Apache-2.0 */
/* rf_metrics: counters, gauges and histograms with labels, rendered in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * A registry is guarded by one mutex: the program's loop updates metrics,
 * the HTTP server's thread renders them, and neither happens often enough
 * for a lock to matter next to a database round trip. Each process uses the
 * default registry (the functions without a registry argument); tests make
 * their own.
 *
 * Cardinality is bounded: a registry refuses new label combinations past
 * its series limit (RF_METRICS_MAX_SERIES by default) and label values
 * longer than RF_METRICS_MAX_LABEL_VALUE bytes, and counts each refused
 * sample in runfleet_metrics_samples_dropped_total. Label values should
 * come from the configuration (workflow and scraper names), never straight
 * from a message, but the bound keeps a mistake from costing memory. */
#pragma once

#include <stddef.h>
#include <stdio.h>

#define RF_METRICS_MAX_SERIES 10000
#define RF_METRICS_MAX_LABELS 8
#define RF_METRICS_MAX_LABEL_VALUE 256

/* The upper bounds (seconds) of every histogram's buckets, +Inf implied. */
#define RF_METRICS_BUCKETS                                                                                             \
        { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600 }
#define RF_METRICS_BUCKET_COUNT 16

typedef enum rf_metric_type {
        RF_METRIC_COUNTER,
        RF_METRIC_GAUGE,
        RF_METRIC_HISTOGRAM,
} rf_metric_type_t;

typedef struct rf_metrics rf_metrics_t;
typedef struct rf_metric rf_metric_t;

/* A registry holding at most @p max_series label combinations over all its
 * metrics (0: RF_METRICS_MAX_SERIES). Freed with rf_metrics_destroy(). */
rf_metrics_t *rf_metrics_new(size_t max_series);

/* Frees the registry and every metric in it; accepts NULL. */
void rf_metrics_destroy(rf_metrics_t *reg);

/* The process's registry, created on first use and never freed. */
rf_metrics_t *rf_metrics_default(void);

/* Registers a metric: @p name must be a valid Prometheus metric name,
 * @p labels a comma-separated list of label names ("workflow,status") or
 * NULL for none. Registering the same name again with the same type and
 * labels returns the metric already there. Returns NULL for an invalid or
 * conflicting definition (a programming error) or when out of memory; every
 * update function accepts NULL and does nothing, so a program never has to
 * check. The registry owns the metric. A metric without labels starts with
 * its one series at 0; a labelled one has no series until the first update. */
rf_metric_t *rf_metrics_register(rf_metrics_t *reg, rf_metric_type_t type, const char *name, const char *help,
                                 const char *labels);

/* rf_metrics_register() on the default registry. */
rf_metric_t *rf_metrics_counter(const char *name, const char *help, const char *labels);
rf_metric_t *rf_metrics_gauge(const char *name, const char *help, const char *labels);
rf_metric_t *rf_metrics_histogram(const char *name, const char *help, const char *labels);

/* Updates one series. After @p value come exactly as many label values
 * (const char *, NULL read as "") as the metric has label names, in their
 * order. rf_metrics_inc() adds to a counter or gauge (a counter ignores a
 * negative @p value), rf_metrics_set() sets a gauge, rf_metrics_observe()
 * adds an observation (seconds, for durations) to a histogram. A call on
 * the wrong type of metric does nothing. */
void rf_metrics_inc(rf_metric_t *m, double value, ...);
void rf_metrics_set(rf_metric_t *m, double value, ...);
void rf_metrics_observe(rf_metric_t *m, double value, ...);

/* The same with the label values in an array of the metric's label count;
 * @p op is RF_METRIC_COUNTER to add, RF_METRIC_GAUGE to set and
 * RF_METRIC_HISTOGRAM to observe. */
void rf_metrics_update(rf_metric_t *m, rf_metric_type_t op, double value, const char *const *values);

/* Drops every series of @p m (a gauge whose label sets come and go, such as
 * the lag of the partitions assigned now). An unlabelled metric goes back to 0. */
void rf_metrics_clear(rf_metric_t *m);

/* The current value of one series of a counter or gauge, or the count of a
 * histogram; 0 when the series does not exist. For tests. */
double rf_metrics_value(rf_metric_t *m, ...);

/* Renders @p reg (NULL: the default registry) into a new NUL-terminated
 * string the caller owns (free()). Returns 0 or -ENOMEM. */
int rf_metrics_render(rf_metrics_t *reg, char **ret_text, size_t *ret_len);

/* Renders @p reg (NULL: the default registry) to @p out. Returns 0, or
 * -ENOMEM / -EIO. */
int rf_metrics_write(rf_metrics_t *reg, FILE *out);
