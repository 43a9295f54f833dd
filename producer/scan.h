/* SPDX-License-Identifier: Apache-2.0 */
/* scan: reading a time range of a topic, every partition, by explicit
 * assignment (no consumer group, no commits), for replay and the DLQ tools. */
#pragma once

#include <librdkafka/rdkafka.h>
#include <stdint.h>

/* Called for each message in the range; the message is valid only during
 * the call. A negative return stops the scan and is returned by it. */
typedef int scan_cb_t(const rd_kafka_message_t *m, int64_t timestamp_ms, void *opaque);

/* Reads @p topic with reader @p rk (rf_kafka_reader_new()) from the first
 * offset at or after @p from_ms in each partition (offsets-for-times) up to
 * the first offset at or after @p to_ms, or to the partition's end as it
 * was when the scan began when @p to_ms < 0, and calls @p cb for every
 * message whose timestamp is in [from_ms, to_ms). Returns 0, the callback's
 * negative value, or a negative errno with the reason in @p errstr. */
int scan_topic(rd_kafka_t *rk, const char *topic, int64_t from_ms, int64_t to_ms, scan_cb_t *cb, void *opaque,
               char *errstr, size_t errstr_size);
