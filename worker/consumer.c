/* SPDX-License-Identifier: Apache-2.0 */
/* Partitions, commits and pausing. An offset is committed only up to the
 * lowest message not yet finished (offsets.c); a revoked partition's
 * tracker is dropped, so what finishes after the revoke is never committed
 * by us: its new owner redelivers it. */
#include <stdlib.h>

#include "rf_log.h"
#include "rf_metrics.h"
#include "consumer.h"

static rf_metric_t *commit_failures;

void consumer_metrics_init(void) {
        commit_failures = rf_metrics_counter(
                "runfleet_offset_commit_failures_total",
                "Partition offsets whose commit failed (sent again by the next commit pass while assigned).", NULL);
        rf_metrics_inc(commit_failures, 0); /* shown from the start: rate() needs a beginning */
}

offset_track_t *consumer_track(worker_t *w, int32_t partition) {
        for (size_t i = 0; i < w->track_count; i++)
                if (offset_track_partition(w->tracks[i]) == partition)
                        return w->tracks[i];
        return NULL;
}

void consumer_offset_done(worker_t *w, int32_t partition, int64_t offset) {
        offset_track_t *t = consumer_track(w, partition);

        /* a revoked partition has no tracker: its new owner redelivers what we did not commit */
        if (t)
                offset_track_finish(t, offset);
}

void consumer_commit(worker_t *w, rd_kafka_topic_partition_list_t *only, bool sync) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)w->track_count);
        rd_kafka_resp_err_t err;

        for (size_t i = 0; i < w->track_count; i++) {
                offset_track_t *t = w->tracks[i];
                int32_t p = offset_track_partition(t);
                if (!offset_track_dirty(t))
                        continue;
                if (only && !rd_kafka_topic_partition_list_find(only, w->conf->kafka.topic, p))
                        continue;
                rd_kafka_topic_partition_list_add(list, w->conf->kafka.topic, p)->offset = offset_track_committable(t);
                offset_track_set_committed(t, offset_track_committable(t));
        }
        /* the outcome, even of a synchronous commit, reaches consumer_on_commit();
         * an error here means the request never went out */
        if (list->cnt > 0) {
                err = rd_kafka_commit(w->consumer, list, !sync);
                if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                        consumer_on_commit(w->consumer, err, list, w);
        }
        rd_kafka_topic_partition_list_destroy(list);
}

void consumer_on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *offsets,
                        void *opaque) {
        worker_t *w = opaque;

        (void)rk;
        if (err == RD_KAFKA_RESP_ERR__NO_OFFSET || !offsets)
                return;
        for (int i = 0; i < offsets->cnt; i++) {
                rd_kafka_topic_partition_t *p = &offsets->elems[i];
                rd_kafka_resp_err_t e = p->err ? p->err : err;
                offset_track_t *t;
                if (!e)
                        continue;
                /* a revoked partition has no tracker: its new owner starts
                 * from the last commit that did succeed and redelivers */
                t = consumer_track(w, p->partition);
                if (t)
                        offset_track_commit_failed(t, p->offset);
                rf_metrics_inc(commit_failures, 1);
                rf_log_warn("kafka.commit_failed",
                            json_pack("{s:s, s:i, s:I, s:s, s:b}", "topic", p->topic, "partition", (int)p->partition,
                                      "offset", (json_int_t)p->offset, "error", rd_kafka_err2name(e), "retried",
                                      t != NULL),
                            "commit of %s [%d] at offset %lld failed: %s%s", p->topic, (int)p->partition,
                            (long long)p->offset, rd_kafka_err2str(e), t ? " (committed again next pass)" : "");
        }
}

void consumer_set_paused(worker_t *w, bool paused) {
        rd_kafka_topic_partition_list_t *parts = NULL;

        if (w->paused == paused || rd_kafka_assignment(w->consumer, &parts))
                return;
        if (paused)
                rd_kafka_pause_partitions(w->consumer, parts);
        else
                rd_kafka_resume_partitions(w->consumer, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        w->paused = paused;
        rf_log_info(paused ? "consumer.paused" : "consumer.resumed", json_pack("{s:i}", "in_flight", (int)w->in_flight),
                    "%s consumption at %zu in flight", paused ? "paused" : "resumed", w->in_flight);
}

void consumer_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                           void *opaque) {
        worker_t *w = opaque;

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                for (int i = 0; i < parts->cnt; i++) {
                        offset_track_t **tracks;
                        if (consumer_track(w, parts->elems[i].partition))
                                continue;
                        tracks = realloc(w->tracks, (w->track_count + 1) * sizeof(*tracks));
                        if (!tracks)
                                continue;
                        w->tracks = tracks;
                        w->tracks[w->track_count] = offset_track_new(parts->elems[i].partition);
                        if (w->tracks[w->track_count])
                                w->track_count++;
                }
                rd_kafka_incremental_assign(rk, parts);
                /* Say the pause state of every partition we get, either way.
                 * librdkafka keeps a partition's pause across revoke and
                 * re-assign (confluent-kafka-go issue 193): one revoked while
                 * paused, then given back after a resume with nothing
                 * assigned, stayed paused for good (seen in the rebalance
                 * test under ASan). */
                if (w->paused || w->draining)
                        rd_kafka_pause_partitions(rk, parts);
                else
                        rd_kafka_resume_partitions(rk, parts);
        } else {
                if (!rd_kafka_assignment_lost(rk))
                        consumer_commit(w, parts, true);
                /* a held position is ours only while the partition is: the
                 * next owner starts from the committed offset */
                for (int i = 0; w->registry_held && i < parts->cnt; i++)
                        rd_kafka_topic_partition_list_del(w->registry_held, parts->elems[i].topic,
                                                          parts->elems[i].partition);
                for (int i = 0; i < parts->cnt; i++)
                        for (size_t k = 0; k < w->track_count; k++)
                                if (offset_track_partition(w->tracks[k]) == parts->elems[i].partition) {
                                        offset_track_destroy(w->tracks[k]);
                                        w->tracks[k] = w->tracks[--w->track_count];
                                        break;
                                }
                rd_kafka_incremental_unassign(rk, parts);
        }
        rf_log_info("consumer.rebalance",
                    json_pack("{s:s, s:i, s:i}", "change",
                              err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "assigned" : "revoked", "partitions",
                              parts->cnt, "now_assigned", (int)w->track_count),
                    "%s %d partitions", err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? "assigned" : "revoked",
                    parts->cnt);
}

bool consumer_may_resume(const worker_t *w) {
        size_t max = (size_t)w->conf->worker.max_in_flight;

        return w->paused && !w->draining && w->in_flight < max - max / 10;
}
