/* SPDX-License-Identifier: Apache-2.0 */
/* The consume → execute → record → commit loop. One thread: librdkafka,
 * libcurl's multi handles and libpq are all driven from here, and
 * librdkafka wakes the loop through a pipe when messages arrive.
 *
 * A turn, as in libuv's uv_run: wait for I/O or the next timer, read the
 * clock once (w->now), then take new messages, finished transfers, due
 * timers, queued executions, the database, the DLQ producer and the
 * periodic work. Timers sit in a min-heap (timers.c), so a turn pays for
 * what is due, not for everything in flight.
 *
 * The loop's own decisions (what is due, how long to wait, when to pause,
 * heartbeat and commit) use w->now. The timeout is computed from it too,
 * as libuv does: late by at most the turn's own work, and I/O wakes the
 * wait anyway. Durations that are recorded (a try's, an execution's) still
 * read the clock where they start and end: a busy turn takes milliseconds,
 * and scraper_calls.duration_ms must not include them. */
#include <stdlib.h>

#include "rf_kafka.h"
#include "rf_log.h"
#include "rf_program.h"
#include "rf_util.h"
#include "calls.h"
#include "consumer.h"
#include "db.h"
#include "dlq.h"
#include "execution.h"
#include "intake.h"
#include "loop.h"
#include "metrics.h"
#include "sockets.h"

/* Every heartbeat: leases are renewed, and an execution whose lease ran
 * out stops (without a lease its record cannot be ours; the reaper re-runs
 * it). A periodic walk, not a per-turn one. */
static void heartbeat(worker_t *w, int64_t now) {
        execution_t *next;

        /* sent by db.c when the connection is free; a lease the database has
         * not renewed runs out here all the same */
        if (w->in_flight > 0)
                w->renew_due = true;
        for (execution_t *ex = w->head; ex; ex = next) {
                next = ex->next;
                if (ex->phase != PHASE_RUNNING || now < ex->lease_ok_until)
                        continue;
                rf_log_warn("execution.lease_lost", execution_fields(ex), "%s: lease lost; stopping its calls",
                            ex->d->workflow);
                rf_metrics_inc(worker_metrics.finished, 1, ex->d->workflow, "LEASE_LOST");
                execution_release(w, ex);
        }
}

void loop_run_timers(worker_t *w, int64_t now) {
        /* timers a callback arms for now wait for the next turn */
        uint64_t limit = timers_seq(&w->timers);
        wtimer_t *t;

        while ((t = timers_take_due(&w->timers, now, limit))) {
                switch (t->kind) {
                case TIMER_CALL_TRY:
                        calls_try_due(w, TIMER_OWNER(t, call_t, try_timer));
                        break;
                case TIMER_DB_RETRY:
                        execution_db_retry_due(w, TIMER_OWNER(t, execution_t, db_timer));
                        break;
                }
        }
}

static void periodic(worker_t *w, int64_t now) {
        if (now >= w->next_heartbeat) {
                heartbeat(w, now);
                rf_kafka_producer_recover(&w->producer, w->conf, w->id, dlq_on_delivery);
                dlq_send_pending(w);
                w->next_heartbeat = now + w->conf->worker.heartbeat_ms;
        }
        if (now >= w->next_commit) {
                consumer_commit(w, NULL, false);
                w->next_commit = now + w->conf->worker.commit_interval_ms;
        }
}

int loop_wait_ms(const worker_t *w) {
        size_t max = (size_t)w->conf->worker.max_in_flight;
        int64_t now = w->now, next = w->next_commit, db = db_due_ms(w), timer = timers_next_at(&w->timers);
        /* librdkafka signals only a queue turning non-empty: what it still
         * holds, or a resume, is ours to come back for */
        bool more = (w->poll_again && !w->paused && w->in_flight < max) || consumer_may_resume(w);

        if (w->next_heartbeat < next)
                next = w->next_heartbeat;
        if (timer && timer < next)
                next = timer;
        if (w->full_since && w->full_since + CONSUMER_PAUSE_AFTER_MS < next)
                next = w->full_since + CONSUMER_PAUSE_AFTER_MS;
        if (db && db < next)
                next = db;
        if (w->slot_freed || more)
                next = now;
        next -= now;
        return next < 0 ? 0 : next > 500 ? 500 : (int)next;
}

void loop_run(worker_t *w) {
        int64_t drain_until = 0;

        w->now = rf_mono_ms();
        while (true) {
                if (rf_stop_requested && !w->draining) {
                        w->draining = true;
                        drain_until = w->now + w->conf->worker.drain_timeout_ms;
                        w->paused = false;
                        consumer_set_paused(w, true);
                        rf_log_info("worker.draining", json_pack("{s:i}", "in_flight", (int)w->in_flight),
                                    "stop requested: finishing %zu executions", w->in_flight);
                }
                if (w->draining && (w->in_flight == 0 || w->now >= drain_until))
                        break;
                sockets_wait(w, loop_wait_ms(w));
                w->now = rf_mono_ms();
                /* new work first: its claim is what produce→start waits on */
                intake_poll(w);
                calls_collect(w);
                loop_run_timers(w, w->now);
                intake_start_queued(w);
                db_step(w);
                rd_kafka_poll(w->producer, 0);
                periodic(w, w->now);
                metrics_tick(w);
        }
}
