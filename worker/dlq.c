/* SPDX-License-Identifier: Apache-2.0 */
/* Dead letters: a message that cannot be decoded or refers to what this
 * worker does not know goes to the DLQ topic with headers saying why and
 * where it came from. Its offset counts as finished only once the DLQ has
 * acknowledged it, so nothing is dropped. A letter the producer will not
 * take (its queue is full, or it had a fatal error and waits to be
 * replaced) is kept, in order, and sent again from the worker's timers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_dlq.h"
#include "rf_kafka.h"
#include "rf_log.h"
#include "rf_util.h"
#include "consumer.h"
#include "dlq.h"

typedef struct dlq_origin {
        int32_t partition;
        int64_t offset;
} dlq_origin_t;

/* What dlq_send_raw() was given, copied, for another try. */
struct dlq_pending {
        struct dlq_pending *next;
        int32_t partition;
        int64_t offset, ts;
        size_t key_len, len;
        char *reason;
        unsigned char data[]; /* the key, then the value */
};

static json_t *origin_fields(int32_t partition, int64_t offset) {
        return json_pack("{s:i, s:I}", "partition", (int)partition, "offset", (json_int_t)offset);
}

/* Queues one letter on the DLQ producer, or says why it could not. */
static rd_kafka_resp_err_t produce_letter(worker_t *w, int32_t src_partition, int64_t src_offset, int64_t src_ts,
                                          const void *key, size_t key_len, const void *value, size_t len,
                                          const char *reason) {
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(6);
        dlq_origin_t *origin = malloc(sizeof(*origin));
        char partition[16], offset[32], when[40];
        rd_kafka_resp_err_t err;

        if (!origin || !hdrs) {
                free(origin);
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                return RD_KAFKA_RESP_ERR__FAIL; /* out of memory */
        }
        origin->partition = src_partition;
        origin->offset = src_offset;
        snprintf(partition, sizeof(partition), "%d", (int)src_partition);
        snprintf(offset, sizeof(offset), "%lld", (long long)src_offset);
        rf_time_format(src_ts > 0 ? src_ts : rf_now_ms(), when, sizeof(when));
        rd_kafka_header_add(hdrs, RF_DLQ_REASON, -1, reason, -1);
        rd_kafka_header_add(hdrs, RF_DLQ_SOURCE_TOPIC, -1, w->conf->kafka.topic, -1);
        rd_kafka_header_add(hdrs, RF_DLQ_SOURCE_PARTITION, -1, partition, -1);
        rd_kafka_header_add(hdrs, RF_DLQ_SOURCE_OFFSET, -1, offset, -1);
        rd_kafka_header_add(hdrs, RF_DLQ_SOURCE_TIMESTAMP, -1, when, -1);
        rd_kafka_header_add(hdrs, RF_DLQ_WORKER, -1, w->id, -1);
        /* RD_KAFKA_MSG_F_COPY: the caller's buffers are freed after this call */
        err = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(w->conf->kafka.dlq_topic), RD_KAFKA_V_KEY(key, key_len),
                                RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(origin), RD_KAFKA_V_END);
        if (err) {
                rd_kafka_headers_destroy(hdrs);
                free(origin);
                return err;
        }
        rf_kafka_fault_point(w->producer);
        rf_log_warn("dlq.sent",
                    json_pack("{s:i, s:I, s:s}", "partition", (int)src_partition, "offset", (json_int_t)src_offset,
                              "reason", reason),
                    "message sent to %s: %s", w->conf->kafka.dlq_topic, reason);
        return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Appends a copy of a letter to the pending list. */
static int keep_letter(worker_t *w, int32_t src_partition, int64_t src_offset, int64_t src_ts, const void *key,
                       size_t key_len, const void *value, size_t len, const char *reason) {
        struct dlq_pending *p = malloc(sizeof(*p) + key_len + len), **tail = &w->dlq_pending;

        if (!p)
                return -ENOMEM;
        p->reason = strdup(reason);
        if (!p->reason) {
                free(p);
                return -ENOMEM;
        }
        p->next = NULL;
        p->partition = src_partition;
        p->offset = src_offset;
        p->ts = src_ts;
        p->key_len = key_len;
        p->len = len;
        if (key_len)
                memcpy(p->data, key, key_len);
        if (len)
                memcpy(p->data + key_len, value, len);
        while (*tail)
                tail = &(*tail)->next;
        *tail = p;
        return 0;
}

static void free_letter(struct dlq_pending *p) {
        free(p->reason);
        free(p);
}

/* Runs on the worker thread inside rd_kafka_poll(producer). */
void dlq_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
        worker_t *w = opaque;
        dlq_origin_t *origin = msg->_private;

        (void)rk;
        if (msg->err) {
                /* librdkafka has already retried for message.timeout.ms (the
                 * broker may be down), or the producer had a fatal error:
                 * send it again rather than leave its source offset
                 * unfinished, which would hold back the commits of the whole
                 * partition */
                rd_kafka_headers_t *hdrs = NULL;
                const void *reason = NULL;
                size_t reason_len = 0;
                char text[600];

                rd_kafka_message_headers(msg, &hdrs);
                if (!hdrs || rd_kafka_header_get_last(hdrs, RF_DLQ_REASON, &reason, &reason_len)) {
                        reason = "unknown";
                        reason_len = strlen("unknown");
                }
                snprintf(text, sizeof(text), "%.*s", (int)reason_len, (const char *)reason);
                rf_log_error("dlq.failed", origin_fields(origin->partition, origin->offset),
                             "could not write to the DLQ: %s; sending again", rd_kafka_err2str(msg->err));
                dlq_send_raw(w, origin->partition, origin->offset, 0, msg->key, msg->key_len, msg->payload, msg->len,
                             text);
        } else {
                w->dead_lettered++;
                consumer_offset_done(w, origin->partition, origin->offset);
        }
        free(origin);
}

int dlq_send(worker_t *w, const rd_kafka_message_t *m, const char *reason) {
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);

        return dlq_send_raw(w, m->partition, m->offset, ts, m->key, m->key_len, m->payload, m->len, reason);
}

int dlq_send_raw(worker_t *w, int32_t src_partition, int64_t src_offset, int64_t src_ts, const void *key,
                 size_t key_len, const void *value, size_t len, const char *reason) {
        const char *why = "letters kept before it still wait";

        /* those go first: the DLQ keeps the order letters came in */
        dlq_send_pending(w);
        if (!w->dlq_pending) {
                rd_kafka_resp_err_t err =
                        produce_letter(w, src_partition, src_offset, src_ts, key, key_len, value, len, reason);
                if (!err)
                        return 0;
                why = rd_kafka_err2str(err);
        }
        if (keep_letter(w, src_partition, src_offset, src_ts, key, key_len, value, len, reason) < 0) {
                rf_log_error("dlq.failed", origin_fields(src_partition, src_offset),
                             "could not queue for the DLQ (%s) nor keep it to send again: out of memory", why);
                return -ENOMEM;
        }
        rf_log_warn("dlq.deferred", origin_fields(src_partition, src_offset),
                    "could not queue for the DLQ now (%s); kept to send again", why);
        return 0;
}

void dlq_send_pending(worker_t *w) {
        struct dlq_pending *p;

        while ((p = w->dlq_pending)) {
                if (produce_letter(w, p->partition, p->offset, p->ts, p->data, p->key_len, p->data + p->key_len, p->len,
                                   p->reason))
                        return; /* the producer still refuses: the rest would be refused too */
                w->dlq_pending = p->next;
                free_letter(p);
        }
}

void dlq_cleanup(worker_t *w) {
        struct dlq_pending *p;

        /* never acknowledged, so never committed: the partition's next owner
         * reads these messages again */
        while ((p = w->dlq_pending)) {
                w->dlq_pending = p->next;
                free_letter(p);
        }
}
