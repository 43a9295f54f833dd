/* SPDX-License-Identifier: Apache-2.0 */
/* Message intake. A message is ours from offset_track_begin() on: from
 * there every path finishes its offset exactly once (a record, a dead
 * letter's delivery report, a skip) or leaves it for redelivery. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "rf_log.h"
#include "rf_metrics.h"
#include "rf_refusal.h"
#include "rf_sr.h"
#include "rf_util.h"
#include "consumer.h"
#include "dlq.h"
#include "execution.h"
#include "intake.h"
#include "metrics.h"

#define POLL_BATCH 1000        /* messages taken from librdkafka per loop turn */
#define REGISTRY_RETRY_MS 1000 /* a held partition is tried again after this (rf_sr backs off its requests too) */

/* max_active_runs: a decision waits in memory, unclaimed, until its
 * workflow has a free slot; other workflows' decisions pass it by. */
static bool take_slot(worker_t *w, execution_t *ex) {
        int limit = w->conf->workflows[ex->workflow_index].max_active_runs;

        if (limit > 0 && w->active_runs[ex->workflow_index] >= limit)
                return false;
        w->active_runs[ex->workflow_index]++;
        ex->holds_slot = true;
        return true;
}

void intake_start_queued(worker_t *w) {
        execution_t *next;

        if (!w->slot_freed)
                return;
        w->slot_freed = false;
        for (execution_t *ex = w->head; ex; ex = next) {
                next = ex->next;
                if (ex->phase == PHASE_QUEUED && take_slot(w, ex))
                        execution_want_begin(w, ex);
        }
}

/* The held position of @p partition, or NULL when it is not held. */
static rd_kafka_topic_partition_t *held(worker_t *w, int32_t partition) {
        if (!w->registry_held)
                return NULL;
        for (int i = 0; i < w->registry_held->cnt; i++)
                if (w->registry_held->elems[i].partition == partition)
                        return &w->registry_held->elems[i];
        return NULL;
}

/* Pauses @p m's partition and sets its position back to @p offset, so the
 * message comes again once resumed. Nothing was begun for it: its offset
 * is neither committed nor dead-lettered, whatever happens meanwhile. */
static void hold_partition(worker_t *w, const rd_kafka_message_t *m, int64_t offset) {
        rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_t *p =
                rd_kafka_topic_partition_list_add(one, rd_kafka_topic_name(m->rkt), m->partition);
        rd_kafka_error_t *err;

        p->offset = offset;
        rd_kafka_pause_partitions(w->consumer, one);
        /* timeout 0: asynchronous; messages of the old position already
         * fetched are dropped by librdkafka, and held() catches any left */
        err = rd_kafka_seek_partitions(w->consumer, one, 0);
        if (err)
                rd_kafka_error_destroy(err);
        rd_kafka_topic_partition_list_destroy(one);
}

/* The registry could not resolve @p m's schema id for a transient reason:
 * hold the partition, try again after REGISTRY_RETRY_MS. Other partitions
 * go on; so do messages whose ids are cached. */
static void registry_hold(worker_t *w, const rd_kafka_message_t *m, const char *why) {
        rd_kafka_topic_partition_t *p = held(w, m->partition);

        if (!p) {
                if (!w->registry_held)
                        w->registry_held = rd_kafka_topic_partition_list_new(4);
                p = rd_kafka_topic_partition_list_add(w->registry_held, rd_kafka_topic_name(m->rkt), m->partition);
                rf_log_warn("registry.unavailable",
                            json_pack("{s:i, s:I}", "partition", (int)m->partition, "offset", (json_int_t)m->offset),
                            "partition %d held at offset %lld, retried every %d ms: %s", (int)m->partition,
                            (long long)m->offset, REGISTRY_RETRY_MS, why);
        }
        p->offset = m->offset;
        rf_metrics_inc(worker_metrics.registry_waits, 1);
        w->registry_retry_at = w->now + REGISTRY_RETRY_MS;
        hold_partition(w, m, m->offset);
}

/* Resumes the held partitions once their retry is due (unless the whole
 * consumer is paused: its resume covers them). */
static void registry_resume_due(worker_t *w) {
        if (!w->registry_held || w->registry_held->cnt == 0 || w->now < w->registry_retry_at || w->paused)
                return;
        rd_kafka_resume_partitions(w->consumer, w->registry_held);
        rd_kafka_topic_partition_list_destroy(w->registry_held);
        w->registry_held = NULL;
}

void intake_message(worker_t *w, rd_kafka_message_t *m) {
        offset_track_t *t;
        rf_decision_t *d = NULL;
        execution_t *ex;
        char errstr[512], why[256];
        rf_refusal_t refused;
        int r;

        if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        rf_log_warn("kafka.consume_error", NULL, "%s", rd_kafka_message_errstr(m));
                return;
        }
        rf_metrics_inc(worker_metrics.consumed, 1);
        t = consumer_track(w, m->partition);
        if (!t)
                return; /* not ours any more; the new owner gets it */
        if (held(w, m->partition)) {
                /* fetched before the hold took effect: back to the held position */
                hold_partition(w, m, held(w, m->partition)->offset);
                return;
        }
        r = rf_sr_decode_value(m->payload, m->len, &d, errstr, sizeof(errstr));
        if (r == -EAGAIN) {
                registry_hold(w, m, errstr);
                return;
        }
        if (offset_track_begin(t, m->offset) < 0) {
                rf_decision_destroy(d);
                return;
        }
        if (r < 0) {
                char reason[600];
                snprintf(reason, sizeof(reason), "undecodable: %s", errstr);
                if (dlq_send(w, m, reason) == 0)
                        rf_metrics_inc(worker_metrics.dlq, 1, "undecodable");
                return;
        }
        /* the rule producer/dlq.c applies too (common/rf_refusal.h) */
        refused = rf_refusal_check(w->conf, d, why, sizeof(why));
        if (refused != RF_REFUSAL_NONE) {
                if (dlq_send(w, m, why) == 0)
                        rf_metrics_inc(worker_metrics.dlq, 1, rf_refusal_label(refused));
                rf_decision_destroy(d);
                return;
        }
        if (execution_new(w, d, m->partition, m->offset, &ex) < 0) {
                rf_decision_destroy(d);
                return;
        }
        if (!take_slot(w, ex)) {
                /* it stays in PHASE_QUEUED */
                rf_log_info("execution.queued", execution_fields(ex), "%s: max_active_runs reached; waiting",
                            d->workflow);
                return;
        }
        execution_want_begin(w, ex);
}

void intake_poll(worker_t *w) {
        size_t max = (size_t)w->conf->worker.max_in_flight;
        rd_kafka_message_t *m;
        char drain[64];

        while (read(w->wake_fds[0], drain, sizeof(drain)) > 0)
                ;
        /* Full: leave what librdkafka has fetched where it is. Pausing would
         * drop it and fetch it again on resume, a broker round trip per
         * cycle when executions are short. Only a worker full for longer
         * pauses, and polls again: polling serves the group's rebalances. */
        if (w->in_flight >= max && !w->paused && !w->draining) {
                int64_t now = w->now;
                if (!w->full_since)
                        w->full_since = now;
                if (now - w->full_since < CONSUMER_PAUSE_AFTER_MS)
                        return;
                consumer_set_paused(w, true);
                /* the pause is taken (or, failed, is tried again a full
                 * second later): loop_wait_ms() must not keep waking for it */
                w->full_since = 0;
        }
        if (w->in_flight < max)
                w->full_since = 0;
        registry_resume_due(w);
        w->poll_again = false;
        for (int i = 0; i < POLL_BATCH; i++) {
                m = rd_kafka_consumer_poll(w->consumer, 0);
                if (!m)
                        break;
                w->poll_again = i == POLL_BATCH - 1;
                intake_message(w, m);
                rd_kafka_message_destroy(m);
                if (w->in_flight >= max) {
                        w->poll_again = true;
                        break;
                }
        }
        if (consumer_may_resume(w))
                consumer_set_paused(w, false);
}
