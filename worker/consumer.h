/* SPDX-License-Identifier: Apache-2.0 */
/* consumer: the worker's side of the Kafka consumer group: which
 * partitions it owns, the offsets it may commit, pausing when full and
 * the rebalance callback. Knows nothing of executions. */
#pragma once

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "worker.h"

#define CONSUMER_PAUSE_AFTER_MS 1000 /* full for this long: pause the partitions */

/* The tracker of an assigned partition, or NULL when it is not ours. */
offset_track_t *consumer_track(worker_t *w, int32_t partition);

/* Marks a message finished in its partition's tracker, if still assigned. */
void consumer_offset_done(worker_t *w, int32_t partition, int64_t offset);

/* Commits every partition whose committable offset moved (of @p only, when
 * not NULL); @p sync waits for the broker. */
void consumer_commit(worker_t *w, rd_kafka_topic_partition_list_t *only, bool sync);

/* Pauses or resumes every assigned partition (nothing when already so). */
void consumer_set_paused(worker_t *w, bool paused);

/* A paused worker resumes below 90 % of its bound. */
bool consumer_may_resume(const worker_t *w);

/* Registers the consumer's own series (called by metrics_init). */
void consumer_metrics_init(void);

/* librdkafka's offset commit callback (opaque: the worker): a partition
 * whose commit failed is committed again by the next pass. */
void consumer_on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets,
                        void *opaque);

/* librdkafka's rebalance callback (opaque: the worker). */
void consumer_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                           void *opaque);
