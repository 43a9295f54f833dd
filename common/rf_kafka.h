/* SPDX-License-Identifier: Apache-2.0 */
/* rf_kafka: librdkafka handles configured from rf_conf_t the same way in
 * every program (brokers, pass-through properties, logging), the topic
 * set-up that `migrate` performs, and producing a decision. */
#pragma once

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "rf_conf.h"
#include "rf_decision.h"

typedef void(rf_kafka_dr_cb_t)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);

/* An idempotent producer (acks=all) with @p dr_cb as its delivery report
 * callback (may be NULL) and @p opaque as the handle's opaque. The caller
 * owns *ret_rk (rd_kafka_destroy()). */
int rf_kafka_producer_new(const rf_conf_t *conf, const char *client_id, rf_kafka_dr_cb_t *dr_cb, void *opaque,
                          rd_kafka_t **ret_rk, char *errstr, size_t errstr_size);

/* A producer that had a fatal error fails every message from then on: an
 * idempotent producer's sequence numbers out of step with the broker's
 * (seen when a broker was killed with a request in flight: "out of order
 * sequence number"), which librdkafka does not repair. The way out is a new
 * handle. When *@p rk has had one, replaces it with a new producer made as
 * rf_kafka_producer_new() makes it (same @p dr_cb, same opaque), fails what
 * the old one still held through its delivery reports (served after the
 * swap, so a report that queues its message again queues it on the new
 * handle), and destroys the old one; logs either way. Returns 1 when it
 * replaced the producer, 0 when there was no fatal error, a negative errno
 * when the new one could not be made (*@p rk unchanged: the next call tries
 * again). Messages a fatal error interrupted may have reached the broker:
 * they can arrive twice. */
int rf_kafka_producer_recover(rd_kafka_t **rk, const rf_conf_t *conf, const char *client_id, rf_kafka_dr_cb_t *dr_cb);

/* Test-only fault injection: with RUNFLEET_FAULT=kafka-fatal in the
 * environment, the first call in the process raises a fatal error on @p rk
 * (librdkafka's rd_kafka_test_fatal_error), as a broker losing the
 * producer's sequence would. Called after each message is queued. */
void rf_kafka_fault_point(rd_kafka_t *rk);

/* librdkafka's rebalance and offset commit callbacks share this shape. */
typedef void rf_kafka_partitions_cb_t(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                                      void *opaque);

/* A consumer in conf->kafka.group with auto-commit and auto offset store off,
 * cooperative-sticky assignment, @p rebalance_cb and @p commit_cb (the
 * outcome of every commit; either may be NULL). The caller owns *ret_rk
 * (rd_kafka_consumer_close() then rd_kafka_destroy()). */
int rf_kafka_consumer_new(const rf_conf_t *conf, const char *client_id, rf_kafka_partitions_cb_t *rebalance_cb,
                          rf_kafka_partitions_cb_t *commit_cb, void *opaque, rd_kafka_t **ret_rk, char *errstr,
                          size_t errstr_size);

/* A consumer for reading a topic by explicit partition assignment (tools
 * such as replay and the DLQ commands): no group membership, no commits,
 * partition EOF reported. The caller owns *ret_rk (rd_kafka_destroy()). */
int rf_kafka_reader_new(const rf_conf_t *conf, const char *client_id, rd_kafka_t **ret_rk, char *errstr,
                        size_t errstr_size);

/* librdkafka's statistics callback: @p json (a JSON document, see
 * librdkafka's STATISTICS.md) is valid during the call; return 0. */
typedef int(rf_kafka_stats_cb_t)(rd_kafka_t *rk, char *json, size_t json_len, void *opaque);

/* Makes consumers created after this call emit statistics every
 * @p interval_ms to @p cb (NULL: none, the default). The callback runs from
 * rd_kafka_consumer_poll() on the polling thread, with the consumer's opaque. */
void rf_kafka_consumer_stats(rf_kafka_stats_cb_t *cb, int interval_ms);

/* Fails with a clear message when no broker answers a metadata request
 * within @p timeout_ms. */
int rf_kafka_check_reachable(rd_kafka_t *rk, int timeout_ms, char *errstr, size_t errstr_size);

/* The replication of the topics runfleet creates (rf_kafka_topics.c). */
typedef struct rf_kafka_replication {
        int brokers;             /* in the cluster's metadata */
        int replication_factor;  /* kafka.replication_factor, or min(3, brokers) for 0 */
        int min_insync_replicas; /* kafka.min_insync_replicas, or replication_factor - 1 (at least 1) for 0 */
} rf_kafka_replication_t;

/* Resolves kafka.replication_factor and kafka.min_insync_replicas against
 * the cluster @p rk reaches. Fails with a one-line error naming the setting
 * when the replication factor exceeds the brokers (Kafka would refuse the
 * topic) or the minimum in-sync replicas exceed the replication factor
 * (every acks=all write would be refused). */
int rf_kafka_replication(rd_kafka_t *rk, const rf_conf_t *conf, int timeout_ms, rf_kafka_replication_t *ret,
                         char *errstr, size_t errstr_size);

/* Creates the decisions and DLQ topics when missing, with kafka.partitions
 * partitions and the replication of @p repl (min.insync.replicas set on
 * each topic). Existing topics are left as they are. *ret_created gets how
 * many were created now. */
int rf_kafka_ensure_topics(rd_kafka_t *rk, const rf_conf_t *conf, const rf_kafka_replication_t *repl, int timeout_ms,
                           int *ret_created, char *errstr, size_t errstr_size);

/* The headers every decision message carries, decision_id, attempt and
 * trace_id (an operator's kcat sees them without decoding), with room for
 * @p extra more. The caller owns the result until rd_kafka_producev()
 * takes it over. */
rd_kafka_headers_t *rf_kafka_decision_headers(const rf_decision_t *d, size_t extra);

/* Encodes @p d and queues it on @p topic, keyed by workflow, with
 * rf_kafka_decision_headers(); @p msg_opaque reaches the delivery report.
 * Returns 0 or a negative errno: -ENOBUFS when librdkafka's queue is full
 * (serve delivery reports with rd_kafka_poll() and try again). */
int rf_kafka_produce_decision(rd_kafka_t *rk, const char *topic, const rf_decision_t *d, void *msg_opaque, char *errstr,
                              size_t errstr_size);
