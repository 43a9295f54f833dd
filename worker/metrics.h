/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's Prometheus metrics and its /readyz answer. The loop records
 * what it learns; rf_http serves /metrics and /readyz from its own thread,
 * so the readiness callback only reads what the loop wrote. */
#pragma once

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "rf_metrics.h"
#include "worker.h"

#define METRICS_STATS_INTERVAL_MS 5000 /* librdkafka statistics: consumer lag, broker state */
/* liveness: the loop never waits on PostgreSQL (db.c); its longest waits
 * are librdkafka's synchronous commits when partitions are revoked */
#define METRICS_LOOP_STALE_MS 60000
#define METRICS_DB_PROBE_MS 5000 /* readiness: an idle database connection is asked this often */

typedef struct worker_metrics {
        rf_metric_t *consumed, *started, *finished, *duration, *call_duration, *in_flight, *dlq, *lag, *assigned,
                *paused, *retries, *rate_waits, *breaker_rejections, *breaker_state, *registry_waits;
} worker_metrics_t;

extern worker_metrics_t worker_metrics;

/* Registers every series, configured names at 0, and checks that each
 * workflow's scrapers resolve (readiness says so when one does not). */
void metrics_init(const rf_conf_t *conf);

void metrics_execution_ended(const execution_t *ex, const char *status, int64_t took_ms);

/* librdkafka's statistics callback (consumer lag, broker connections). */
int metrics_on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque);

/* Setup reached a broker: Kafka counts as up until statistics say otherwise. */
void metrics_kafka_up(void);

/* What database connection @p role last showed (db.c): @p ok when it
 * answered, else @p why. /readyz fails while either connection is down, or
 * when the records connection heard nothing for three probe intervals (a
 * stalled server: only that connection probes). */
void metrics_db_state(db_role_t role, bool ok, const char *why);

/* Once per loop turn: liveness, gauges. */
void metrics_tick(worker_t *w);

/* rf_http's readiness callback (/readyz). */
int metrics_ready(void *opaque, char *reason, size_t size);
