/* SPDX-License-Identifier: Apache-2.0 */
/* See scan.h. Kafka's offsets-for-times lookup gives, per partition, the
 * earliest offset whose timestamp is at or after a time; the same lookup for
 * the end of the range bounds the read, and the timestamps of the messages
 * in between are checked again because producer timestamps need not be
 * monotonic within a partition. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rf_util.h"
#include "scan.h"

#define TRANSIENT_TRIES 20
#define TRANSIENT_WAIT_US 250000

/* Errors that mean "not yet" on a topic or partition being set up. */
static bool transient(rd_kafka_resp_err_t err) {
        return err == RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION || err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE ||
               err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
}

#define META_TIMEOUT_MS 15000
/* a read that makes no progress for this long has lost the broker */
#define STALL_MS 30000

typedef struct part {
        int32_t id;
        int64_t end; /* read [start, end) */
        bool done;
} part_t;

/* The offsets of @p times (one per partition of @p parts) in *ret_offsets:
 * the earliest at or after it, or @p fallback[i] when there is none. */
static int offsets_at(rd_kafka_t *rk, const char *topic, const part_t *parts, int n, int64_t when,
                      const int64_t *fallback, int64_t *ret_offsets, char *errstr, size_t errstr_size) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
        rd_kafka_resp_err_t err;
        int r = 0;

        for (int i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(l, topic, parts[i].id)->offset = when;
        for (int tries = 0;; tries++) {
                err = rd_kafka_offsets_for_times(rk, l, META_TIMEOUT_MS);
                if (!transient(err) || tries == TRANSIENT_TRIES)
                        break;
                usleep(TRANSIENT_WAIT_US);
        }
        if (err) {
                snprintf(errstr, errstr_size, "kafka: offsets for times on %s: %s", topic, rd_kafka_err2str(err));
                r = -EIO;
                goto out;
        }
        for (int i = 0; i < n; i++) {
                const rd_kafka_topic_partition_t *p = &l->elems[i];

                if (p->err) {
                        snprintf(errstr, errstr_size, "kafka: offsets for times on %s [%d]: %s", topic,
                                 (int)p->partition, rd_kafka_err2str(p->err));
                        r = -EIO;
                        goto out;
                }
                /* -1 (RD_KAFKA_OFFSET_END): nothing at or after @p when */
                ret_offsets[i] = p->offset >= 0 ? p->offset : fallback[i];
        }
out:
        rd_kafka_topic_partition_list_destroy(l);
        return r;
}

static int partitions_of(rd_kafka_t *rk, const char *topic, part_t **ret_parts, int *ret_n, char *errstr,
                         size_t errstr_size) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;
        part_t *parts = NULL;
        int r = 0, n;

        if (!rkt)
                return -ENOMEM;
        err = rd_kafka_metadata(rk, 0, rkt, &md, META_TIMEOUT_MS);
        if (!err && md->topic_cnt == 1)
                err = md->topics[0].err;
        if (err) {
                snprintf(errstr, errstr_size, "kafka: topic %s: %s", topic, rd_kafka_err2str(err));
                r = -EIO;
                goto out;
        }
        n = md->topics[0].partition_cnt;
        parts = calloc((size_t)n + 1, sizeof(*parts));
        if (!parts) {
                r = -ENOMEM;
                goto out;
        }
        for (int i = 0; i < n; i++)
                parts[i].id = md->topics[0].partitions[i].id;
        *ret_parts = parts;
        *ret_n = n;
out:
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        return r;
}

int scan_topic(rd_kafka_t *rk, const char *topic, int64_t from_ms, int64_t to_ms, scan_cb_t *cb, void *opaque,
               char *errstr, size_t errstr_size) {
        rd_kafka_topic_partition_list_t *assign = NULL;
        int64_t *high = NULL, *start = NULL, last_progress;
        part_t *parts = NULL;
        int n = 0, left = 0, r;

        r = partitions_of(rk, topic, &parts, &n, errstr, errstr_size);
        if (r < 0)
                return r;
        high = calloc((size_t)n + 1, sizeof(*high));
        start = calloc((size_t)n + 1, sizeof(*start));
        if (!high || !start) {
                r = -ENOMEM;
                goto out;
        }
        for (int i = 0; i < n; i++) {
                int64_t lo;
                rd_kafka_resp_err_t err;
                /* a topic created a moment ago may not have a leader yet: that passes */
                for (int tries = 0;; tries++) {
                        err = rd_kafka_query_watermark_offsets(rk, topic, parts[i].id, &lo, &high[i], META_TIMEOUT_MS);
                        if (!transient(err) || tries == TRANSIENT_TRIES)
                                break;
                        usleep(TRANSIENT_WAIT_US);
                }
                if (err) {
                        snprintf(errstr, errstr_size, "kafka: end offsets of %s [%d]: %s", topic, (int)parts[i].id,
                                 rd_kafka_err2str(err));
                        r = -EIO;
                        goto out;
                }
        }
        r = offsets_at(rk, topic, parts, n, from_ms, high, start, errstr, errstr_size);
        if (r == 0 && to_ms >= 0) {
                int64_t *end = calloc((size_t)n + 1, sizeof(*end));

                if (!end)
                        r = -ENOMEM;
                else
                        r = offsets_at(rk, topic, parts, n, to_ms, high, end, errstr, errstr_size);
                for (int i = 0; r == 0 && i < n; i++)
                        parts[i].end = end[i] < high[i] ? end[i] : high[i];
                free(end);
        } else
                for (int i = 0; i < n; i++)
                        parts[i].end = high[i];
        if (r < 0)
                goto out;

        assign = rd_kafka_topic_partition_list_new(n);
        for (int i = 0; i < n; i++) {
                parts[i].done = start[i] >= parts[i].end;
                if (parts[i].done)
                        continue;
                rd_kafka_topic_partition_list_add(assign, topic, parts[i].id)->offset = start[i];
                left++;
        }
        if (left == 0)
                goto out;
        if (rd_kafka_assign(rk, assign)) {
                snprintf(errstr, errstr_size, "kafka: cannot assign the partitions of %s", topic);
                r = -EIO;
                goto out;
        }
        last_progress = rf_mono_ms();
        while (left > 0 && r == 0) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
                part_t *p = NULL;

                if (!m) {
                        if (rf_mono_ms() - last_progress > STALL_MS) {
                                snprintf(errstr, errstr_size, "kafka: reading %s made no progress for %d s", topic,
                                         STALL_MS / 1000);
                                r = -ETIMEDOUT;
                        }
                        continue;
                }
                last_progress = rf_mono_ms();
                for (int i = 0; i < n; i++)
                        if (parts[i].id == m->partition)
                                p = &parts[i];
                if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        snprintf(errstr, errstr_size, "kafka: reading %s: %s", topic, rd_kafka_message_errstr(m));
                        r = -EIO;
                } else if (p && !p->done) {
                        if (!m->err && m->offset < p->end) {
                                rd_kafka_timestamp_type_t tstype;
                                int64_t ts = rd_kafka_message_timestamp(m, &tstype);

                                if (ts >= from_ms && (to_ms < 0 || ts < to_ms))
                                        r = cb(m, ts, opaque);
                        }
                        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF || m->offset + 1 >= p->end) {
                                p->done = true;
                                left--;
                        }
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(rk, NULL);
out:
        if (assign)
                rd_kafka_topic_partition_list_destroy(assign);
        free(high);
        free(start);
        free(parts);
        return r;
}
