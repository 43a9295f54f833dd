/* runfleet-worker: the consume → execute → record → commit loop. One thread:
 * librdkafka, libcurl's multi handle and libpq are all driven from here, and
 * librdkafka wakes the loop through a pipe when messages arrive. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rf_kafka.h"
#include "rf_json_text.h"
#include "rf_log.h"
#include "rf_metrics.h"
#include "rf_program.h"
#include "rf_refusal.h"
#include "rf_util.h"
#include "metrics.h"
#include "worker.h"

#define POLL_BATCH 1000 /* messages taken from librdkafka per loop turn */
#define PAUSE_AFTER_MS 1000 /* full for this long: pause the partitions */

/* The execution's ids as JSON object members, for the lines logged per
 * execution (rf_log_members). */
static void ex_fields_text(const execution_t *ex, rf_json_text_t *t) {
        rf_json_text_key(t, "decision_id");
        rf_json_text_string(t, ex->d->decision_id);
        rf_json_text_key(t, "execution_id");
        rf_json_text_string(t, ex->execution_id);
        rf_json_text_key(t, "workflow");
        rf_json_text_string(t, ex->d->workflow);
        rf_json_text_key(t, "trace_id");
        rf_json_text_string(t, ex->d->trace_id ? ex->d->trace_id : "");
        rf_json_text_key(t, "attempt");
        rf_json_text_int(t, ex->d->attempt);
        rf_json_text_key(t, "partition");
        rf_json_text_int(t, ex->partition);
        rf_json_text_key(t, "offset");
        rf_json_text_int(t, ex->offset);
}

/* The same as a jansson object, for the rarer lines. */
static json_t *ex_fields(const execution_t *ex) {
        rf_json_text_t t = { 0 };
        char *text;
        json_t *fields;

        rf_json_text_open(&t, '{');
        ex_fields_text(ex, &t);
        rf_json_text_lit(&t, "}");
        text = rf_json_text_take(&t);
        fields = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        return fields;
}

offset_track_t *worker_track(worker_t *w, int32_t partition) {
        for (size_t i = 0; i < w->track_count; i++)
                if (offset_track_partition(w->tracks[i]) == partition)
                        return w->tracks[i];
        return NULL;
}

void worker_offset_done(worker_t *w, int32_t partition, int64_t offset) {
        offset_track_t *t = worker_track(w, partition);

        /* a revoked partition has no tracker: its new owner redelivers what we did not commit */
        if (t)
                offset_track_finish(t, offset);
}

static void execution_free(worker_t *w, execution_t *ex) {
        if (ex->prev)
                ex->prev->next = ex->next;
        else
                w->head = ex->next;
        if (ex->next)
                ex->next->prev = ex->prev;
        else
                w->tail = ex->prev;
        w->in_flight--;
        for (size_t i = 0; i < w->completed_count; i++)
                if (w->completed[i] == ex)
                        w->completed[i] = w->completed[--w->completed_count];
        if (ex->in_batch)
                db_forget(w, ex);
        if (ex->holds_slot) {
                w->active_runs[ex->workflow_index]--;
                w->slot_freed = true;
        }
        calls_abort(w, ex, "execution released");
        free(ex->calls);
        free(ex->records);
        rf_decision_destroy(ex->d);
        free(ex);
}

/* Releases @p ex and its offset once nothing more is owed for it. */
static void execution_release(worker_t *w, execution_t *ex) {
        worker_offset_done(w, ex->partition, ex->offset);
        execution_free(w, ex);
}

const char *worker_execution_status(const execution_t *ex, const char **ret_error) {
        const char *status = "SUCCEEDED";

        *ret_error = NULL;
        if (ex->call_count == 0) {
                *ret_error = "no scraper call could be started";
                return "FAILED";
        }
        for (size_t i = 0; i < ex->call_count; i++) {
                const call_t *c = &ex->calls[i];
                if (strcmp(c->outcome, "OK") == 0)
                        continue;
                if (!*ret_error)
                        *ret_error = c->error;
                if (strcmp(c->outcome, "TIMEOUT") == 0)
                        status = "TIMED_OUT";
                else if (strcmp(status, "SUCCEEDED") == 0)
                        status = "FAILED";
        }
        return status;
}

void worker_finished(worker_t *w, execution_t *ex, const char *status, const char *error, bool recorded) {
        int64_t took = rf_mono_ms() - ex->started_ms;

        if (recorded) {
                rf_log_level_t level = strcmp(status, "SUCCEEDED") == 0 ? RF_LOG_INFO : RF_LOG_WARN;

                if (rf_log_enabled(level)) {
                        rf_json_text_t f = { 0 };
                        char *members;

                        ex_fields_text(ex, &f);
                        rf_json_text_key(&f, "status");
                        rf_json_text_string(&f, status);
                        rf_json_text_key(&f, "duration_ms");
                        rf_json_text_int(&f, took);
                        if (error) {
                                rf_json_text_key(&f, "error");
                                rf_json_text_string(&f, error);
                        }
                        members = rf_json_text_take(&f);
                        rf_log_members(level, "execution.finished", members, "%s %s in %lld ms", ex->d->workflow,
                                       status, (long long)took);
                        free(members);
                }
        } else {
                /* fenced: the reaper took this execution over, or another attempt succeeded */
                rf_log_warn("execution.fenced", ex_fields(ex),
                            "%s finished as %s but no longer owns its execution; not recorded", ex->d->workflow,
                            status);
        }
        metrics_execution_ended(ex, recorded ? status : "FENCED", took);
        w->finished++;
        execution_release(w, ex);
}

void worker_execution_done(worker_t *w, execution_t *ex) {
        if (w->completed_count == w->completed_cap) {
                size_t cap = w->completed_cap ? w->completed_cap * 2 : 64;
                execution_t **c = realloc(w->completed, cap * sizeof(*c));
                if (!c) {
                        /* the lease runs out and the reaper re-runs it: slow, not lost */
                        rf_log_error("worker.oom", ex_fields(ex), "out of memory queueing a finished execution");
                        return;
                }
                w->completed = c;
                w->completed_cap = cap;
        }
        w->completed[w->completed_count++] = ex;
}

/* Sends a decision we cannot run to the DLQ, re-encoded (its message is gone). */
static void dead_letter_execution(worker_t *w, execution_t *ex, const char *reason) {
        char errstr[256];
        void *buf = NULL;
        size_t len = 0;

        if (rf_decision_encode(ex->d, &buf, &len, errstr, sizeof(errstr)) == 0 &&
            dlq_send_raw(w, ex->partition, ex->offset, 0, ex->d->workflow, strlen(ex->d->workflow), buf, len,
                         reason) == 0) {
                rf_metrics_inc(worker_metrics.dlq, 1, "unknown_decision");
                free(buf);
                execution_free(w, ex); /* the offset is finished by the DLQ's delivery report */
                return;
        }
        free(buf);
        ex->retry_at = rf_mono_ms() + DB_RETRY_MS;
}

void worker_apply_verdict(worker_t *w, execution_t *ex, const char *verdict) {
        char errstr[512];

        if (strcmp(verdict, "UNKNOWN") == 0) {
                dead_letter_execution(w, ex, "decision not recorded in the database");
                return;
        }
        if (strcmp(verdict, "STARTED") != 0) {
                rf_log_info("execution.skipped", ex_fields(ex), "%s: decision %s (%s)", ex->d->workflow,
                            strcmp(verdict, "DONE") == 0    ? "already finished"
                            : strcmp(verdict, "STALE") == 0 ? "superseded by a later attempt"
                                                            : "already being executed",
                            verdict);
                execution_release(w, ex);
                return;
        }
        ex->phase = PHASE_RUNNING;
        ex->started_ms = rf_mono_ms();
        ex->deadline_ms = ex->started_ms + ex->d->deadline_ms;
        /* debug: at thousands a second, a line per start doubles the log for
         * what executions.started_at and the metrics already say */
        if (rf_log_enabled(RF_LOG_DEBUG))
                rf_log_debug("execution.started", ex_fields(ex), "%s started (%zu scrapers)", ex->d->workflow,
                             ex->d->scraper_count);
        rf_metrics_inc(worker_metrics.started, 1, ex->d->workflow);
        if (calls_start(w, ex, errstr, sizeof(errstr)) < 0) {
                rf_log_error("execution.call_failed", ex_fields(ex), "%s", errstr);
                calls_abort(w, ex, errstr);
                worker_execution_done(w, ex);
        }
}

/* Marks @p ex to be claimed in the next batch. */
static void want_begin(worker_t *w, execution_t *ex) {
        ex->phase = PHASE_BEGIN;
        ex->retry_at = 0;
        w->begin_due = true;
}

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

static void start_queued(worker_t *w) {
        execution_t *next;

        if (!w->slot_freed)
                return;
        w->slot_freed = false;
        for (execution_t *ex = w->head; ex; ex = next) {
                next = ex->next;
                if (ex->phase == PHASE_QUEUED && take_slot(w, ex))
                        want_begin(w, ex);
        }
}

static void handle_message(worker_t *w, rd_kafka_message_t *m) {
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
        t = worker_track(w, m->partition);
        if (!t || offset_track_begin(t, m->offset) < 0)
                return; /* not ours any more; the new owner gets it */
        if (rf_decision_decode(m->payload, m->len, &d, errstr, sizeof(errstr)) < 0) {
                char reason[600];
                snprintf(reason, sizeof(reason), "undecodable: %s", errstr);
                if (dlq_send(w, m, reason) == 0)
                        rf_metrics_inc(worker_metrics.dlq, 1, "undecodable");
                return;
        }
        refused = rf_refusal_check(w->conf, d, why, sizeof(why));
        if (refused != RF_REFUSAL_NONE) {
                if (dlq_send(w, m, why) == 0)
                        rf_metrics_inc(worker_metrics.dlq, 1, rf_refusal_label(refused));
                rf_decision_destroy(d);
                return;
        }
        ex = calloc(1, sizeof(*ex));
        if (!ex) {
                rf_decision_destroy(d);
                return;
        }
        ex->d = d;
        ex->workflow_index = (size_t)(rf_conf_workflow(w->conf, d->workflow) - w->conf->workflows);
        ex->partition = m->partition;
        ex->offset = m->offset;
        rf_uuid_new(ex->execution_id);
        ex->prev = w->tail;
        if (w->tail)
                w->tail->next = ex;
        else
                w->head = ex;
        w->tail = ex;
        w->in_flight++;
        if (!take_slot(w, ex)) {
                ex->phase = PHASE_QUEUED;
                rf_log_info("execution.queued", ex_fields(ex), "%s: max_active_runs reached; waiting",
                            d->workflow);
                return;
        }
        want_begin(w, ex);
}

/* --- partitions, pausing and commits --------------------------------- */

static void commit(worker_t *w, rd_kafka_topic_partition_list_t *only, bool sync) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)w->track_count);
        rd_kafka_resp_err_t err;

        for (size_t i = 0; i < w->track_count; i++) {
                offset_track_t *t = w->tracks[i];
                int32_t p = offset_track_partition(t);
                if (!offset_track_dirty(t))
                        continue;
                if (only && !rd_kafka_topic_partition_list_find(only, w->conf->kafka.topic, p))
                        continue;
                rd_kafka_topic_partition_list_add(list, w->conf->kafka.topic, p)->offset =
                        offset_track_committable(t);
                offset_track_set_committed(t, offset_track_committable(t));
        }
        if (list->cnt > 0) {
                err = rd_kafka_commit(w->consumer, list, !sync);
                if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                        rf_log_warn("kafka.commit_failed", NULL, "%s", rd_kafka_err2str(err));
        }
        rd_kafka_topic_partition_list_destroy(list);
}

static void set_paused(worker_t *w, bool paused) {
        rd_kafka_topic_partition_list_t *parts = NULL;

        if (w->paused == paused || rd_kafka_assignment(w->consumer, &parts))
                return;
        if (paused)
                rd_kafka_pause_partitions(w->consumer, parts);
        else
                rd_kafka_resume_partitions(w->consumer, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        w->paused = paused;
        rf_log_info(paused ? "consumer.paused" : "consumer.resumed",
                    json_pack("{s:i}", "in_flight", (int)w->in_flight), "%s consumption at %zu in flight",
                    paused ? "paused" : "resumed", w->in_flight);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
        worker_t *w = opaque;

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                for (int i = 0; i < parts->cnt; i++) {
                        offset_track_t **tracks;
                        if (worker_track(w, parts->elems[i].partition))
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
                        commit(w, parts, true);
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

/* --- timers ---------------------------------------------------------- */

static void heartbeat(worker_t *w) {
        int64_t now = rf_mono_ms();
        execution_t *next;

        /* sent by db.c when the connection is free; a lease the database has
         * not renewed runs out here all the same */
        if (w->in_flight > 0)
                w->renew_due = true;
        for (execution_t *ex = w->head; ex; ex = next) {
                next = ex->next;
                if (ex->phase != PHASE_RUNNING || now < ex->lease_ok_until)
                        continue;
                /* Without a lease the record cannot be ours; the reaper re-runs it. */
                rf_log_warn("execution.lease_lost", ex_fields(ex), "%s: lease lost; stopping its calls",
                            ex->d->workflow);
                rf_metrics_inc(worker_metrics.finished, 1, ex->d->workflow, "LEASE_LOST");
                execution_release(w, ex);
        }
}

/* Claims and records that failed (database away) go into the next batch
 * once their retry time has come. */
static void retry_database_steps(worker_t *w) {
        int64_t now = rf_mono_ms();

        for (execution_t *ex = w->head; ex; ex = ex->next) {
                if (ex->retry_at == 0 || now < ex->retry_at)
                        continue;
                ex->retry_at = 0;
                if (ex->phase == PHASE_BEGIN)
                        w->begin_due = true;
                else if (ex->phase == PHASE_FINISHING)
                        worker_execution_done(w, ex);
        }
}

static void run_timers(worker_t *w) {
        int64_t now = rf_mono_ms();

        if (now >= w->next_heartbeat) {
                heartbeat(w);
                rf_kafka_producer_recover(&w->producer, w->conf, w->id, dlq_on_delivery);
                dlq_send_pending(w);
                w->next_heartbeat = now + w->conf->worker.heartbeat_ms;
        }
        if (now >= w->next_commit) {
                commit(w, NULL, false);
                w->next_commit = now + w->conf->worker.commit_interval_ms;
        }
        retry_database_steps(w);
}

/* --- the loop -------------------------------------------------------- */

/* A paused worker resumes below 90 % of its bound. */
static bool may_resume(const worker_t *w) {
        size_t max = (size_t)w->conf->worker.max_in_flight;

        return w->paused && !w->draining && w->in_flight < max - max / 10;
}

static void poll_messages(worker_t *w) {
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
                int64_t now = rf_mono_ms();
                if (!w->full_since)
                        w->full_since = now;
                if (now - w->full_since < PAUSE_AFTER_MS)
                        return;
                set_paused(w, true);
        }
        if (w->in_flight < max)
                w->full_since = 0;
        w->poll_again = false;
        for (int i = 0; i < POLL_BATCH; i++) {
                m = rd_kafka_consumer_poll(w->consumer, 0);
                if (!m)
                        break;
                w->poll_again = i == POLL_BATCH - 1;
                handle_message(w, m);
                rd_kafka_message_destroy(m);
                if (w->in_flight >= max) {
                        w->poll_again = true;
                        break;
                }
        }
        if (may_resume(w))
                set_paused(w, false);
}

static int wait_ms(const worker_t *w) {
        size_t max = (size_t)w->conf->worker.max_in_flight;
        int64_t now = rf_mono_ms(), next = w->next_commit, db = db_due_ms(w);
        /* librdkafka signals only a queue turning non-empty: what it still
         * holds, or a resume, is ours to come back for */
        bool more = (w->poll_again && !w->paused && w->in_flight < max) || may_resume(w);

        if (w->next_heartbeat < next)
                next = w->next_heartbeat;
        if (w->next_due_try && w->next_due_try < next)
                next = w->next_due_try;
        if (w->full_since && w->full_since + PAUSE_AFTER_MS < next)
                next = w->full_since + PAUSE_AFTER_MS;
        if (db && db < next)
                next = db;
        if (w->slot_freed || more)
                next = now;
        for (const execution_t *ex = w->head; ex; ex = ex->next)
                if (ex->retry_at && ex->retry_at < next)
                        next = ex->retry_at;
        next -= now;
        return next < 0 ? 0 : next > 500 ? 500 : (int)next;
}

static void loop(worker_t *w) {
        int64_t drain_until = 0;

        while (true) {
                if (rf_stop_requested && !w->draining) {
                        w->draining = true;
                        drain_until = rf_mono_ms() + w->conf->worker.drain_timeout_ms;
                        w->paused = false;
                        set_paused(w, true);
                        rf_log_info("worker.draining", json_pack("{s:i}", "in_flight", (int)w->in_flight),
                                    "stop requested: finishing %zu executions", w->in_flight);
                }
                if (w->draining && (w->in_flight == 0 || rf_mono_ms() >= drain_until))
                        break;
                sockets_wait(w, wait_ms(w));
                /* new work first: its claim is what produce→start waits on */
                poll_messages(w);
                calls_collect(w);
                calls_run_due(w);
                start_queued(w);
                db_step(w);
                rd_kafka_poll(w->producer, 0);
                run_timers(w);
                metrics_tick(w);
        }
}

static int setup(worker_t *w, const rf_program_t *prog, char *errstr, size_t errstr_size) {
        int r;

        rf_process_id(w->id, sizeof(w->id));
        if (pipe2(w->wake_fds, O_NONBLOCK | O_CLOEXEC) < 0) {
                snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
                return -errno;
        }
        {
                /* the first connection blocks: a bad URL or a database away at
                 * start fails the start, with libpq's reason */
                rf_pg_t *pg = NULL;
                r = rf_pg_connect(w->conf->database.url, prog->name, &pg, errstr, errstr_size);
                if (r < 0)
                        return r;
                r = rf_pg_async_new(pg, &w->db, errstr, errstr_size);
                if (r < 0) {
                        rf_pg_destroy(pg);
                        return r;
                }
                w->db_up = rf_pg_async_connected(w->db);
        }
        r = rf_kafka_producer_new(w->conf, w->id, dlq_on_delivery, w, &w->producer, errstr, errstr_size);
        if (r < 0)
                return r;
        r = rf_kafka_check_reachable(w->producer, 15000, errstr, errstr_size);
        if (r < 0)
                return r;
        r = rf_kafka_consumer_new(w->conf, w->id, on_rebalance, w, &w->consumer, errstr, errstr_size);
        if (r < 0)
                return r;
        {
                rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(w->consumer);
                rd_kafka_queue_io_event_enable(q, w->wake_fds[1], "w", 1);
                rd_kafka_queue_destroy(q);
        }
        {
                rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
                rd_kafka_resp_err_t err;
                rd_kafka_topic_partition_list_add(topics, w->conf->kafka.topic, RD_KAFKA_PARTITION_UA);
                err = rd_kafka_subscribe(w->consumer, topics);
                rd_kafka_topic_partition_list_destroy(topics);
                if (err) {
                        snprintf(errstr, errstr_size, "kafka: subscribing to %s: %s", w->conf->kafka.topic,
                                 rd_kafka_err2str(err));
                        return -EIO;
                }
        }
        for (int i = 0; i < CURL_SHARDS; i++) {
                w->shards[i] = (curl_shard_t){ .w = w, .multi = curl_multi_init(), .index = i };
                if (!w->shards[i].multi) {
                        snprintf(errstr, errstr_size, "out of memory setting up the HTTP client");
                        return -ENOMEM;
                }
        }
        if (calls_init(w) < 0) {
                snprintf(errstr, errstr_size, "out of memory setting up the HTTP client");
                return -ENOMEM;
        }
        return sockets_init(w, errstr, errstr_size);
}

static void teardown(worker_t *w) {
        while (w->head) {
                rf_log_warn("execution.abandoned", ex_fields(w->head),
                            "drain timeout: left unfinished for its lease to expire and the reaper to re-run");
                execution_free(w, w->head);
        }
        if (w->consumer) {
                commit(w, NULL, true);
                rd_kafka_consumer_close(w->consumer);
                rd_kafka_destroy(w->consumer);
        }
        if (w->producer) {
                rd_kafka_flush(w->producer, 10000);
                rd_kafka_destroy(w->producer);
        }
        dlq_cleanup(w);
        for (size_t i = 0; i < w->track_count; i++)
                offset_track_destroy(w->tracks[i]);
        free(w->tracks);
        for (int i = 0; i < CURL_SHARDS; i++)
                if (w->shards[i].multi) /* tells sockets.c to forget each socket: before its cleanup */
                        curl_multi_cleanup(w->shards[i].multi);
        sockets_cleanup(w);
        calls_cleanup(w);
        free(w->completed);
        rf_pg_async_destroy(w->db);
        if (w->wake_fds[0] > 0) {
                close(w->wake_fds[0]);
                close(w->wake_fds[1]);
        }
}

int main(int argc, char **argv) {
        rf_program_t prog = { .name = "runfleet-worker", .usage = "\n\nConsumes RUN decisions and executes them." };
        worker_t w = { .epoll_fd = -1 };
        rf_http_t *http = NULL;
        char errstr[1024];
        int first, code = RF_EXIT_OK;

        first = rf_program_options(&prog, &argc, argv);
        if (first < 0)
                return RF_EXIT_USAGE;
        if (first < argc)
                return rf_program_fail(&prog, RF_EXIT_USAGE, "unexpected argument '%s'", argv[first]);
        w.conf = rf_program_load(&prog);
        rf_program_signals();
        curl_global_init(CURL_GLOBAL_DEFAULT);
        metrics_init(w.conf);
        if (w.conf->http.port)
                rf_kafka_consumer_stats(metrics_on_stats, METRICS_STATS_INTERVAL_MS);
        if (setup(&w, &prog, errstr, sizeof(errstr)) < 0) {
                code = rf_program_fail(&prog, RF_EXIT_FAILURE, "%s", errstr);
                goto out;
        }
        metrics_kafka_up(); /* setup() had a broker answer */
        metrics_tick(&w);
        if (rf_program_http_start(&prog, w.conf, METRICS_LOOP_STALE_MS, metrics_ready, &w, &http) < 0) {
                code = RF_EXIT_FAILURE;
                goto out;
        }
        rf_log_info("worker.started",
                    json_pack("{s:s, s:s, s:s, s:i}", "worker_id", w.id, "group", w.conf->kafka.group, "topic",
                              w.conf->kafka.topic, "max_in_flight", w.conf->worker.max_in_flight),
                    "worker %s consuming %s", w.id, w.conf->kafka.topic);
        loop(&w);
        rf_log_info("worker.stopped", json_pack("{s:I, s:I}", "finished", (json_int_t)w.finished, "dead_lettered",
                                                (json_int_t)w.dead_lettered),
                    "stopped after %llu executions", (unsigned long long)w.finished);
out:
        teardown(&w);
        rf_http_stop(http);
        curl_global_cleanup();
        rf_conf_destroy((rf_conf_t *)w.conf);
        return code;
}
