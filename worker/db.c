/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's database traffic, on one asynchronous connection
 * (rf_pg_async): the loop never waits on PostgreSQL, so scraper calls keep
 * running and finishing on time while the database is slow, stalled,
 * unreachable or failing over.
 *
 * One statement is in flight at a time; what waits meanwhile stays with
 * the executions themselves (PHASE_BEGIN: a claim to make; the completed
 * queue: a record to write), so the queue is bounded by max_in_flight and
 * nothing is lost while the connection is down: it all goes in the next
 * batches once a primary answers. An execution's offset is finished only
 * once its record is written (execution_finished), never on a send. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rf_log.h"
#include "rf_util.h"
#include "completion.h"
#include "db.h"
#include "execution.h"
#include "metrics.h"
#include "record.h"

static void on_done(void *arg, int err, const PGresult *res, const char *errstr);

/* A claim batch's answer; on an error its executions wait for the next one. */
static void begin_done(worker_t *w, db_batch_t *b, int err, const PGresult *res, const char *errstr) {
        rf_claim_verdict_t verdicts[WORKER_BATCH_MAX];
        int64_t now = rf_mono_ms();

        if (err) {
                rf_log_warn("execution.begin_retry", json_pack("{s:i}", "executions", (int)b->n),
                            "claiming %zu executions: %s; will retry", b->n, errstr);
                for (size_t i = 0; i < b->n; i++)
                        if (b->exs[i]) {
                                b->exs[i]->in_batch = false;
                                /* lost connection: the next batch on the new one; SQL error: wait */
                                if (err == -EIO)
                                        execution_db_retry(w, b->exs[i], now + DB_RETRY_MS);
                                else
                                        timers_stop(&w->timers, &b->exs[i]->db_timer);
                        }
                w->begin_due = true;
                return;
        }
        record_begin_read(w, b, res, verdicts);
        for (size_t i = 0; i < b->n; i++)
                if (b->exs[i])
                        b->exs[i]->in_batch = false;
        /* each may be released here; none is looked at again */
        for (size_t i = 0; i < b->n; i++)
                if (b->exs[i])
                        execution_apply_verdict(w, b->exs[i], verdicts[i]);
        if (b->n == WORKER_BATCH_MAX)
                w->begin_due = true; /* more may wait */
}

/* A record batch's answer; on an error its executions go back to the completed queue. */
static void finish_done(worker_t *w, db_batch_t *b, int err, const PGresult *res, const char *errstr) {
        bool recorded[WORKER_BATCH_MAX];
        int64_t now = rf_mono_ms();

        if (err) {
                rf_log_warn("execution.record_retry", json_pack("{s:i}", "executions", (int)b->n),
                            "recording %zu finished executions: %s; will retry", b->n, errstr);
                for (size_t i = 0; i < b->n; i++) {
                        execution_t *ex = b->exs[i];
                        if (!ex)
                                continue;
                        ex->in_batch = false;
                        /* a batch lost with its connection may have committed: sending it
                         * again is safe, finish_executions records an execution once */
                        if (err == -EIO)
                                execution_db_retry(w, ex, now + DB_RETRY_MS);
                        else
                                completion_push(w, ex);
                }
                return;
        }
        record_finish_read(b, res, recorded);
        for (size_t i = 0; i < b->n; i++)
                if (b->exs[i])
                        b->exs[i]->in_batch = false;
        for (size_t i = 0; i < b->n; i++)
                if (b->exs[i])
                        execution_finished(w, b->exs[i], b->statuses[i], b->errors[i], recorded[i]);
}

static void on_done(void *arg, int err, const PGresult *res, const char *errstr) {
        worker_t *w = arg;
        db_batch_t *b = &w->batch;
        db_kind_t kind = b->kind;

        b->kind = DB_NONE;
        if (err != -ENOTCONN) {
                w->db_last_answer = rf_mono_ms();
                metrics_db_state(true, NULL);
        } else {
                metrics_db_state(false, errstr);
        }
        switch (kind) {
        case DB_BEGIN:
                begin_done(w, b, err, res, errstr);
                break;
        case DB_FINISH:
                finish_done(w, b, err, res, errstr);
                break;
        case DB_RENEW:
                if (err)
                        rf_log_warn("execution.renew_failed", NULL, "%s", errstr);
                else
                        record_renew_read(w, b, res);
                break;
        case DB_PROBE:
        case DB_NONE:
                break;
        }
        b->n = 0;
}

/* Fills the batch with executions waiting for their claim; 0 when none. */
static size_t take_begins(worker_t *w, db_batch_t *b) {
        b->n = 0;
        for (execution_t *ex = w->head; ex && b->n < WORKER_BATCH_MAX; ex = ex->next)
                if (ex->phase == PHASE_BEGIN && !timers_active(&ex->db_timer) && !ex->in_batch)
                        b->exs[b->n++] = ex;
        if (b->n == 0)
                w->begin_due = false;
        return b->n;
}

/* Fills the batch with completed executions (newest first, as before). */
static size_t take_finishes(worker_t *w, db_batch_t *b) {
        b->n = 0;
        while (b->n < WORKER_BATCH_MAX) {
                execution_t *ex = completion_take(w);
                if (!ex)
                        break;
                execution_set_phase(ex, PHASE_FINISHING);
                b->statuses[b->n] = execution_status(ex, &b->errors[b->n]);
                b->exs[b->n++] = ex;
        }
        return b->n;
}

/* Puts a batch that could not be sent back where it came from. */
static void untake(worker_t *w, db_batch_t *b) {
        for (size_t i = 0; i < b->n; i++) {
                if (b->kind == DB_FINISH)
                        completion_push(w, b->exs[i]);
                else if (b->kind == DB_BEGIN)
                        w->begin_due = true;
        }
        b->kind = DB_NONE;
        b->n = 0;
}

static void mark(db_batch_t *b) {
        for (size_t i = 0; i < b->n; i++)
                b->exs[i]->in_batch = true;
}

/* The next statement for an idle connection: a due renewal first (leases
 * run out), then claims and records in turn (neither starves the other:
 * claims start work, records free offsets), then a readiness probe. */
static void send_next(worker_t *w) {
        db_batch_t *b = &w->batch;
        int64_t now = rf_mono_ms();
        bool want_begin = w->begin_due, want_finish = w->completed_count > 0;
        int r = -ENODATA;

        b->sent_ms = now;
        if (w->renew_due) {
                w->renew_due = false;
                b->kind = DB_RENEW;
                r = record_renew_send(w, b, on_done);
                if (r == 0)
                        return;
                b->kind = DB_NONE;
        }
        if (want_finish && (!want_begin || !w->begin_next)) {
                w->begin_next = true;
                b->kind = DB_FINISH;
                if (take_finishes(w, b)) {
                        r = record_finish_send(w, b, on_done);
                        if (r == 0) {
                                mark(b);
                                return;
                        }
                        untake(w, b);
                }
        } else if (want_begin) {
                w->begin_next = false;
                b->kind = DB_BEGIN;
                if (take_begins(w, b)) {
                        r = record_begin_send(w, b, on_done);
                        if (r == 0) {
                                mark(b);
                                return;
                        }
                        untake(w, b);
                }
        }
        if (r == -ENOMEM)
                rf_log_error("worker.oom", NULL, "out of memory encoding a database batch; will retry");
        if (r == -ENODATA && now - w->db_last_answer >= METRICS_DB_PROBE_MS) {
                b->kind = DB_PROBE;
                if (rf_pg_async_send(w->db, "SELECT 1", 0, NULL, on_done, w) < 0)
                        b->kind = DB_NONE;
        }
}

/* Logs the connection's comings and goings, once each. */
static void note_connection(worker_t *w) {
        bool up = rf_pg_async_connected(w->db);
        char server[300];

        if (up == w->db_up)
                return;
        w->db_up = up;
        if (!up) {
                metrics_db_state(false, rf_pg_async_error(w->db));
                rf_log_warn("database.lost", NULL, "%s; reconnecting", rf_pg_async_error(w->db));
                return;
        }
        rf_pg_async_server(w->db, server, sizeof(server));
        rf_log_info("database.connected", json_pack("{s:s}", "server", server), "connected to PostgreSQL at %s",
                    server);
}

void db_step(worker_t *w) {
        int64_t due = rf_pg_async_due_ms(w->db);

        if (w->db_event || (due && rf_mono_ms() >= due)) {
                w->db_event = false;
                rf_pg_async_process(w->db);
        }
        /* after a callback more may be ready: send while the connection takes it */
        if (rf_pg_async_idle(w->db))
                send_next(w);
        note_connection(w);
}

int64_t db_due_ms(const worker_t *w) {
        if (rf_pg_async_idle(w->db) && (w->begin_due || w->completed_count > 0 || w->renew_due))
                return w->now;
        return rf_pg_async_due_ms(w->db);
}
