/* SPDX-License-Identifier: Apache-2.0 */
/* The execution lifecycle: creation, phases, the claim's verdict, the
 * terminal status and the release. What an execution owes when it goes
 * (its offset, its workflow slot, its place in a batch or a queue, its
 * calls and timers) is settled in execution_free(), in one place. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rf_log.h"
#include "rf_util.h"
#include "calls.h"
#include "completion.h"
#include "consumer.h"
#include "dlq.h"
#include "execution.h"
#include "metrics.h"
#include "spans.h"

void execution_fields_text(const execution_t *ex, rf_json_text_t *t) {
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

json_t *execution_fields(const execution_t *ex) {
        rf_json_text_t t = { 0 };
        char *text;
        json_t *fields;

        rf_json_text_open(&t, '{');
        execution_fields_text(ex, &t);
        rf_json_text_lit(&t, "}");
        text = rf_json_text_take(&t);
        fields = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        return fields;
}

int execution_new(worker_t *w, rf_decision_t *d, int32_t partition, int64_t offset, execution_t **ret_ex) {
        execution_t *ex = calloc(1, sizeof(*ex));

        if (!ex)
                return -ENOMEM;
        ex->d = d;
        ex->workflow_index = (size_t)(rf_conf_workflow(w->conf, d->workflow) - w->conf->workflows);
        ex->partition = partition;
        ex->offset = offset;
        ex->phase = PHASE_QUEUED;
        rf_uuid_new(ex->execution_id);
        ex->prev = w->tail;
        if (w->tail)
                w->tail->next = ex;
        else
                w->head = ex;
        w->tail = ex;
        w->in_flight++;
        *ret_ex = ex;
        return 0;
}

const char *execution_phase_name(execution_phase_t phase) {
        static const char *const names[] = {
                [PHASE_QUEUED] = "QUEUED",
                [PHASE_BEGIN] = "BEGIN",
                [PHASE_RUNNING] = "RUNNING",
                [PHASE_FINISHING] = "FINISHING",
        };

        return (unsigned)phase < sizeof(names) / sizeof(names[0]) ? names[phase] : "?";
}

bool execution_phase_legal(execution_phase_t from, execution_phase_t to) {
        switch (to) {
        case PHASE_BEGIN:
                return from == PHASE_QUEUED;
        case PHASE_RUNNING:
                return from == PHASE_BEGIN;
        case PHASE_FINISHING:
                /* again when its record is retried after a database error */
                return from == PHASE_RUNNING || from == PHASE_FINISHING;
        case PHASE_QUEUED:
                break; /* only where it starts */
        }
        return false;
}

void execution_set_phase(execution_t *ex, execution_phase_t phase) {
        assert(execution_phase_legal(ex->phase, phase));
        ex->phase = phase;
}

void execution_want_begin(worker_t *w, execution_t *ex) {
        execution_set_phase(ex, PHASE_BEGIN);
        timers_stop(&w->timers, &ex->db_timer);
        w->begin_due = true;
}

void execution_db_retry(worker_t *w, execution_t *ex, int64_t at) {
        timers_start(&w->timers, &ex->db_timer, TIMER_DB_RETRY, at);
}

void execution_db_retry_due(worker_t *w, execution_t *ex) {
        if (ex->phase == PHASE_BEGIN)
                w->begin_due = true;
        else if (ex->phase == PHASE_FINISHING)
                completion_push(w, ex);
}

void execution_free(worker_t *w, execution_t *ex) {
        if (ex->prev)
                ex->prev->next = ex->next;
        else
                w->head = ex->next;
        if (ex->next)
                ex->next->prev = ex->prev;
        else
                w->tail = ex->prev;
        w->in_flight--;
        completion_forget(w, ex);
        if (ex->in_batch)
                for (int i = 0; i < DB_ROLES; i++)
                        db_batch_forget(&w->db[i].batch, ex);
        if (ex->holds_slot) {
                w->active_runs[ex->workflow_index]--;
                w->slot_freed = true;
        }
        timers_stop(&w->timers, &ex->db_timer);
        calls_abort(w, ex, "execution released");
        /* released while running (lease lost, drain bound, exit): its span ends unrecorded */
        spans_execution_end(ex, "ABANDONED", false, "execution released before its terminal record");
        free(ex->calls);
        free(ex->records);
        rf_decision_destroy(ex->d);
        free(ex);
}

void execution_release(worker_t *w, execution_t *ex) {
        consumer_offset_done(w, ex->partition, ex->offset);
        execution_free(w, ex);
}

rf_exec_status_t execution_status(const execution_t *ex, const char **ret_error) {
        rf_exec_status_t status = RF_EXEC_SUCCEEDED;

        *ret_error = NULL;
        if (ex->call_count == 0) {
                *ret_error = "no scraper call could be started";
                return RF_EXEC_FAILED;
        }
        for (size_t i = 0; i < ex->call_count; i++) {
                const call_t *c = &ex->calls[i];
                if (c->outcome == RF_CALL_OK)
                        continue;
                if (!*ret_error)
                        *ret_error = c->error;
                if (c->outcome == RF_CALL_TIMEOUT)
                        status = RF_EXEC_TIMED_OUT;
                else if (status == RF_EXEC_SUCCEEDED)
                        status = RF_EXEC_FAILED;
        }
        return status;
}

void execution_finished(worker_t *w, execution_t *ex, rf_exec_status_t status, const char *error, bool recorded) {
        int64_t took = rf_mono_ms() - ex->started_ms;

        if (recorded) {
                rf_log_level_t level = status == RF_EXEC_SUCCEEDED ? RF_LOG_INFO : RF_LOG_WARN;

                if (rf_log_enabled(level)) {
                        rf_json_text_t f = { 0 };
                        char *members;

                        execution_fields_text(ex, &f);
                        rf_json_text_key(&f, "status");
                        rf_json_text_string(&f, rf_exec_status_name(status));
                        rf_json_text_key(&f, "duration_ms");
                        rf_json_text_int(&f, took);
                        if (error) {
                                rf_json_text_key(&f, "error");
                                rf_json_text_string(&f, error);
                        }
                        members = rf_json_text_take(&f);
                        rf_log_members(level, "execution.finished", members, "%s %s in %lld ms", ex->d->workflow,
                                       rf_exec_status_name(status), (long long)took);
                        free(members);
                }
        } else {
                /* fenced: the reaper took this execution over, or another attempt succeeded */
                rf_log_warn("execution.fenced", execution_fields(ex),
                            "%s finished as %s but no longer owns its execution; not recorded", ex->d->workflow,
                            rf_exec_status_name(status));
        }
        metrics_execution_ended(ex, recorded ? rf_exec_status_name(status) : "FENCED", took);
        spans_execution_end(ex, recorded ? rf_exec_status_name(status) : "FENCED",
                            recorded && status == RF_EXEC_SUCCEEDED, error);
        w->finished++;
        execution_release(w, ex);
}

/* Sends a decision we cannot run to the DLQ, re-encoded (its message is gone). */
static void dead_letter_execution(worker_t *w, execution_t *ex, const char *reason) {
        char errstr[256];
        void *buf = NULL;
        size_t len = 0;

        if (rf_decision_encode(ex->d, &buf, &len, errstr, sizeof(errstr)) == 0 &&
            dlq_send_raw(w, ex->partition, ex->offset, 0, ex->d->workflow, strlen(ex->d->workflow), buf, len, reason) ==
                    0) {
                rf_metrics_inc(worker_metrics.dlq, 1, "unknown_decision");
                free(buf);
                execution_free(w, ex); /* the offset is finished by the DLQ's delivery report */
                return;
        }
        free(buf);
        execution_db_retry(w, ex, rf_mono_ms() + DB_RETRY_MS);
}

void execution_apply_verdict(worker_t *w, execution_t *ex, rf_claim_verdict_t verdict) {
        char errstr[512];

        if (verdict == RF_VERDICT_UNKNOWN) {
                dead_letter_execution(w, ex, "decision not recorded in the database");
                return;
        }
        if (verdict != RF_VERDICT_STARTED) {
                rf_log_info("execution.skipped", execution_fields(ex), "%s: decision %s (%s)", ex->d->workflow,
                            verdict == RF_VERDICT_DONE    ? "already finished"
                            : verdict == RF_VERDICT_STALE ? "superseded by a later attempt"
                                                          : "already being executed",
                            rf_claim_verdict_name(verdict));
                execution_release(w, ex);
                return;
        }
        execution_set_phase(ex, PHASE_RUNNING);
        spans_execution_begin(ex); /* before the first try: its traceparent needs the trace id */
        ex->started_ms = rf_mono_ms();
        ex->deadline_ms = ex->started_ms + ex->d->deadline_ms;
        /* debug: at thousands a second, a line per start doubles the log for
         * what executions.started_at and the metrics already say */
        if (rf_log_enabled(RF_LOG_DEBUG))
                rf_log_debug("execution.started", execution_fields(ex), "%s started (%zu scrapers)", ex->d->workflow,
                             ex->d->scraper_count);
        rf_metrics_inc(worker_metrics.started, 1, ex->d->workflow);
        if (calls_start(w, ex, errstr, sizeof(errstr)) < 0) {
                rf_log_error("execution.call_failed", execution_fields(ex), "%s", errstr);
                calls_abort(w, ex, errstr);
                completion_push(w, ex);
        }
}
