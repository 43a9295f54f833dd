/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's metrics and readiness; see metrics.h. */
#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"
#include "metrics.h"
#include "rf_sr.h"
#include "rf_http.h"
#include "rf_util.h"

worker_metrics_t worker_metrics;

/* The loop records what it learns; the readiness callback only reads. */
static rf_http_condition_t ready_db = RF_HTTP_CONDITION_INIT("database");
static rf_http_condition_t ready_db_claims = RF_HTTP_CONDITION_INIT("database claims connection");
static rf_http_condition_t ready_kafka = RF_HTTP_CONDITION_INIT("kafka");
static atomic_bool ready_draining;
static char ready_config[300]; /* why a scraper name does not resolve; written before the server starts */

void metrics_init(const rf_conf_t *conf) {
        static const rf_exec_status_t statuses[] = { RF_EXEC_SUCCEEDED, RF_EXEC_FAILED, RF_EXEC_TIMED_OUT };
        static const char *const dlq_reasons[] = { "undecodable", "unknown_workflow", "unknown_scraper",
                                                   "unknown_decision" };

        worker_metrics.consumed = rf_metrics_counter("runfleet_messages_consumed_total",
                                                     "Messages consumed from the decisions topic.", NULL);
        worker_metrics.started = rf_metrics_counter("runfleet_executions_started_total",
                                                    "Executions claimed in the database and started.", "workflow");
        worker_metrics.finished = rf_metrics_counter("runfleet_executions_finished_total",
                                                     "Executions ended by this worker, by terminal status (FENCED: not "
                                                     "recorded, another owner; LEASE_LOST: stopped without a lease).",
                                                     "workflow,status");
        worker_metrics.duration = rf_metrics_histogram("runfleet_execution_duration_seconds",
                                                       "Execution durations, claim to last call.", "workflow");
        worker_metrics.call_duration =
                rf_metrics_histogram("runfleet_scraper_call_duration_seconds",
                                     "Durations of scraper call tries, by outcome.", "scraper,outcome");
        worker_metrics.in_flight =
                rf_metrics_gauge("runfleet_executions_in_flight",
                                 "Executions held by this worker (queued, running or being recorded).", NULL);
        worker_metrics.dlq =
                rf_metrics_counter("runfleet_dlq_messages_total", "Messages sent to the dead-letter topic.", "reason");
        worker_metrics.lag = rf_metrics_gauge("runfleet_consumer_lag",
                                              "Messages between the committed offset and the end of each assigned "
                                              "partition (librdkafka statistics).",
                                              "topic,partition");
        worker_metrics.assigned =
                rf_metrics_gauge("runfleet_partitions_assigned", "Partitions assigned to this worker.", NULL);
        worker_metrics.paused = rf_metrics_gauge("runfleet_consumer_paused",
                                                 "1 while consumption is paused (in-flight limit or draining).", NULL);
        consumer_metrics_init();
        worker_metrics.registry_waits = rf_metrics_counter(
                "runfleet_registry_waits_total",
                "Messages held back (their partition paused, retried) because the schema registry could not "
                "resolve their schema id for a transient reason.",
                NULL);
        worker_metrics.retries =
                rf_metrics_counter("runfleet_scraper_retries_total", "Scraper call tries retried.", NULL);
        worker_metrics.rate_waits = rf_metrics_counter("runfleet_rate_limit_waits_total",
                                                       "Scraper calls that waited for a rate-limit token.", NULL);
        worker_metrics.breaker_rejections = rf_metrics_counter(
                "runfleet_circuit_breaker_rejections_total", "Scraper calls refused by an open circuit breaker.", NULL);
        worker_metrics.breaker_state =
                rf_metrics_gauge("runfleet_circuit_breaker_state",
                                 "1 for the state each scraper's circuit breaker is in.", "scraper,state");
        /* configured names show from the start, at 0: alerts and rate() need a beginning */
        for (size_t i = 0; i < conf->workflow_count; i++) {
                rf_metrics_inc(worker_metrics.started, 0, conf->workflows[i].name);
                for (size_t k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++)
                        rf_metrics_inc(worker_metrics.finished, 0, conf->workflows[i].name,
                                       rf_exec_status_name(statuses[k]));
        }
        for (size_t k = 0; k < sizeof(dlq_reasons) / sizeof(dlq_reasons[0]); k++)
                rf_metrics_inc(worker_metrics.dlq, 0, dlq_reasons[k]);
        /* readiness: every scraper name of every workflow resolves here */
        for (size_t i = 0; i < conf->workflow_count && !ready_config[0]; i++)
                for (size_t k = 0; k < conf->workflows[i].scraper_count; k++)
                        if (!rf_conf_scraper(conf, conf->workflows[i].scrapers[k])) {
                                snprintf(ready_config, sizeof(ready_config),
                                         "configuration: workflow '%.100s' names unknown scraper '%.100s'",
                                         conf->workflows[i].name, conf->workflows[i].scrapers[k]);
                                break;
                        }
}

void metrics_execution_ended(const execution_t *ex, const char *status, int64_t took_ms) {
        rf_metrics_inc(worker_metrics.finished, 1, ex->d->workflow, status);
        rf_metrics_observe(worker_metrics.duration, (double)took_ms / 1000.0, ex->d->workflow);
        for (size_t i = 0; i < ex->record_count; i++)
                rf_metrics_observe(worker_metrics.call_duration, ex->records[i].duration_ms / 1000.0,
                                   ex->records[i].scraper, rf_call_outcome_name(ex->records[i].outcome));
}

/* librdkafka statistics, on the loop's thread (served by the consumer's
 * poll): consumer lag of the partitions we own, and whether any broker
 * connection is up. */
int metrics_on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
        worker_t *w = opaque;
        json_t *root = json_loadb(json, len, 0, NULL), *v, *parts;
        const char *key;
        int up = 0;

        (void)rk;
        if (!root)
                return 0;
        json_object_foreach(json_object_get(root, "brokers"), key, v) {
                const char *state = json_string_value(json_object_get(v, "state"));
                if (state && strcmp(state, "UP") == 0)
                        up++;
        }
        rf_http_condition_set(&ready_kafka, up > 0, "kafka: no broker connection is up");
        /* partitions come and go with rebalances: only those we own now */
        rf_metrics_clear(worker_metrics.lag);
        parts = json_object_get(json_object_get(json_object_get(root, "topics"), w->conf->kafka.topic), "partitions");
        json_object_foreach(parts, key, v) {
                json_t *lag = json_object_get(v, "consumer_lag");
                if (strcmp(key, "-1") == 0 || !json_is_integer(lag) || json_integer_value(lag) < 0 ||
                    !consumer_track(w, (int32_t)atoi(key)))
                        continue;
                rf_metrics_set(worker_metrics.lag, (double)json_integer_value(lag), w->conf->kafka.topic, key);
        }
        json_decref(root);
        return 0;
}

void metrics_db_state(db_role_t role, bool ok, const char *why) {
        char named[300];

        if (role == DB_RECORDS) {
                rf_http_condition_set(&ready_db, ok, why);
                return;
        }
        /* a worker that cannot claim runs nothing: not ready either */
        snprintf(named, sizeof(named), "claims connection lost: %s", why ? why : "down");
        rf_http_condition_set(&ready_db_claims, ok, ok ? NULL : named);
}

/* Once per loop turn: liveness and gauges. Readiness's database part comes
 * from db.c (metrics_db_state), whose probe keeps it fresh. */
void metrics_tick(worker_t *w) {
        static int64_t next_slow;
        static uint64_t seen_retries, seen_waits, seen_rejections;
        int64_t now = rf_mono_ms();

        rf_http_heartbeat();
        atomic_store(&ready_draining, w->draining);
        rf_metrics_set(worker_metrics.in_flight, (double)w->in_flight);
        rf_metrics_set(worker_metrics.assigned, (double)w->track_count);
        rf_metrics_set(worker_metrics.paused, w->paused || w->draining ? 1 : 0);
        if (now >= next_slow) {
                rf_metrics_inc(worker_metrics.retries, (double)(w->retries - seen_retries));
                rf_metrics_inc(worker_metrics.rate_waits, (double)(w->rate_limit_waits - seen_waits));
                rf_metrics_inc(worker_metrics.breaker_rejections, (double)(w->breaker_rejections - seen_rejections));
                seen_retries = w->retries;
                seen_waits = w->rate_limit_waits;
                seen_rejections = w->breaker_rejections;
                for (size_t i = 0; w->breakers && i < w->conf->scraper_count; i++)
                        for (int st = BREAKER_CLOSED; st <= BREAKER_HALF_OPEN; st++)
                                rf_metrics_set(worker_metrics.breaker_state,
                                               w->breakers[i].state == (breaker_state_t)st, w->conf->scrapers[i].name,
                                               breaker_state_name((breaker_state_t)st));
                next_slow = now + 1000;
        }
}

/* /readyz: not draining, the configuration resolves, PostgreSQL answered
 * the loop's last probe, the claims connection is up and a broker
 * connection was up recently. */
int metrics_ready(void *opaque, char *reason, size_t size) {
        (void)opaque;
        if (atomic_load(&ready_draining)) {
                snprintf(reason, size, "draining: finishing in-flight executions before exit");
                return -ESHUTDOWN;
        }
        if (ready_config[0]) {
                snprintf(reason, size, "%s", ready_config);
                return -ENOENT;
        }
        if (!rf_http_condition_ok(&ready_db, 3 * METRICS_DB_PROBE_MS, reason, size) ||
            !rf_http_condition_ok(&ready_db_claims, 0, reason, size) ||
            !rf_http_condition_ok(&ready_kafka, 3 * METRICS_STATS_INTERVAL_MS, reason, size))
                return -ENOTCONN;
        /* framed messages whose ids are not cached wait for it */
        if (rf_sr_readiness(reason, size) < 0)
                return -ENOTCONN;
        return 0;
}

void metrics_kafka_up(void) {
        rf_http_condition_set(&ready_kafka, true, NULL);
}
