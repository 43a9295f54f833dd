/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <librdkafka/rdkafka.h>

#include "worker.h"

/* dlq: dead letters. The source offset is finished when the DLQ acknowledges.
 * A letter the producer does not take now is kept and sent again by
 * dlq_send_pending(); both return 0 then, a negative errno only when it
 * could not even be kept. */
int dlq_send(worker_t *w, const rd_kafka_message_t *m, const char *reason);
int dlq_send_raw(worker_t *w, int32_t src_partition, int64_t src_offset, int64_t src_ts, const void *key,
                 size_t key_len, const void *value, size_t len, const char *reason);
/* Sends the kept letters again, in order, as far as the producer takes them. */
void dlq_send_pending(worker_t *w);
/* Drops the kept letters (at exit: their messages were never committed). */
void dlq_cleanup(worker_t *w);
/* The delivery report callback the DLQ producer is created with (opaque: the worker). */
void dlq_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
