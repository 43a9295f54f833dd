/* Dead letters: a message that cannot be decoded or refers to what this
 * worker does not know goes to the DLQ topic with headers saying why and
 * where it came from. Its offset counts as finished only once the DLQ has
 * acknowledged it, so nothing is dropped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_kafka.h"
#include "rf_log.h"
#include "rf_util.h"
#include "worker.h"

typedef struct dlq_origin {
        int32_t partition;
        int64_t offset;
} dlq_origin_t;

/* Runs on the worker thread inside rd_kafka_poll(producer). */
void dlq_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
        worker_t *w = opaque;
        dlq_origin_t *origin = msg->_private;

        (void)rk;
        if (msg->err) {
                /* librdkafka has already retried for message.timeout.ms (the
                 * broker may be down): send it again rather than leave its
                 * source offset unfinished, which would hold back the commits
                 * of the whole partition */
                rd_kafka_headers_t *hdrs = NULL;
                const void *reason = NULL;
                size_t reason_len = 0;
                char text[600];

                rd_kafka_message_headers(msg, &hdrs);
                if (!hdrs || rd_kafka_header_get_last(hdrs, "runfleet.dlq.reason", &reason, &reason_len)) {
                        reason = "unknown";
                        reason_len = strlen("unknown");
                }
                snprintf(text, sizeof(text), "%.*s", (int)reason_len, (const char *)reason);
                rf_log_error("dlq.failed",
                             json_pack("{s:i, s:I}", "partition", (int)origin->partition, "offset",
                                       (json_int_t)origin->offset),
                             "could not write to the DLQ: %s; sending again", rd_kafka_err2str(msg->err));
                dlq_send_raw(w, origin->partition, origin->offset, 0, msg->key, msg->key_len, msg->payload,
                             msg->len, text);
        } else {
                w->dead_lettered++;
                worker_offset_done(w, origin->partition, origin->offset);
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
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(6);
        dlq_origin_t *origin = malloc(sizeof(*origin));
        char partition[16], offset[32], when[40];
        rd_kafka_resp_err_t err;

        if (!origin || !hdrs) {
                free(origin);
                if (hdrs)
                        rd_kafka_headers_destroy(hdrs);
                return -ENOMEM;
        }
        origin->partition = src_partition;
        origin->offset = src_offset;
        snprintf(partition, sizeof(partition), "%d", (int)src_partition);
        snprintf(offset, sizeof(offset), "%lld", (long long)src_offset);
        rf_time_format(src_ts > 0 ? src_ts : rf_now_ms(), when, sizeof(when));
        rd_kafka_header_add(hdrs, "runfleet.dlq.reason", -1, reason, -1);
        rd_kafka_header_add(hdrs, "runfleet.dlq.source.topic", -1, w->conf->kafka.topic, -1);
        rd_kafka_header_add(hdrs, "runfleet.dlq.source.partition", -1, partition, -1);
        rd_kafka_header_add(hdrs, "runfleet.dlq.source.offset", -1, offset, -1);
        rd_kafka_header_add(hdrs, "runfleet.dlq.source.timestamp", -1, when, -1);
        rd_kafka_header_add(hdrs, "runfleet.dlq.worker", -1, w->id, -1);
        /* RD_KAFKA_MSG_F_COPY: the caller's buffers are freed after this call */
        err = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(w->conf->kafka.dlq_topic),
                                RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
                                RD_KAFKA_V_OPAQUE(origin), RD_KAFKA_V_END);
        if (err) {
                rd_kafka_headers_destroy(hdrs);
                free(origin);
                rf_log_error("dlq.failed", json_pack("{s:i, s:I}", "partition", (int)src_partition, "offset",
                                                     (json_int_t)src_offset),
                             "could not queue for the DLQ: %s", rd_kafka_err2str(err));
                return -EIO;
        }
        rf_log_warn("dlq.sent",
                    json_pack("{s:i, s:I, s:s}", "partition", (int)src_partition, "offset",
                              (json_int_t)src_offset, "reason", reason),
                    "message sent to %s: %s", w->conf->kafka.dlq_topic, reason);
        return 0;
}
