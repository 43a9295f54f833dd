/* SPDX-License-Identifier: Apache-2.0 */
/* Message intake. A message is ours from offset_track_begin() on: from
 * there every path finishes its offset exactly once (a record, a dead
 * letter's delivery report, a skip) or leaves it for redelivery. */
#include <stdio.h>
#include <unistd.h>

#include "rf_log.h"
#include "rf_metrics.h"
#include "rf_refusal.h"
#include "rf_util.h"
#include "consumer.h"
#include "dlq.h"
#include "execution.h"
#include "intake.h"
#include "metrics.h"

#define POLL_BATCH 1000 /* messages taken from librdkafka per loop turn */

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

void intake_message(worker_t *w, rd_kafka_message_t *m) {
        offset_track_t *t;
        rf_decision_t *d = NULL;
        execution_t *ex;
        char errstr[512], why[256];
        rf_refusal_t refused;

        if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        rf_log_warn("kafka.consume_error", NULL, "%s", rd_kafka_message_errstr(m));
                return;
        }
        rf_metrics_inc(worker_metrics.consumed, 1);
        t = consumer_track(w, m->partition);
        if (!t || offset_track_begin(t, m->offset) < 0)
                return; /* not ours any more; the new owner gets it */
        if (rf_decision_decode(m->payload, m->len, &d, errstr, sizeof(errstr)) < 0) {
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
        }
        if (w->in_flight < max)
                w->full_since = 0;
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
