/* SPDX-License-Identifier: Apache-2.0 */
/* The worker's database traffic, on two asynchronous connections
 * (rf_pg_async): the loop never waits on PostgreSQL, so scraper calls keep
 * running and finishing on time while the database is slow, stalled,
 * unreachable or failing over.
 *
 * Claims have a connection of their own (DB_CLAIMS); records, lease
 * renewals and the readiness probe share the other (DB_RECORDS). On one
 * connection a claim waited behind whatever was in flight, most often a
 * record batch and its commit, and the claim's own turn alternated with
 * records': at 1,000 decisions/s that wait was about as long as the claim
 * itself (docs/benchmarks.md, "Latency (c) and slow scrapers (b)"). The
 * two never name the same execution at once (a claim precedes its calls,
 * the record follows them), so their transactions touch different
 * decisions rows; what they may still meet on (another attempt of the same
 * decision, the reaper) two workers already meet on today, and a deadlock
 * PostgreSQL breaks is an SQL error: the batch is sent again.
 *
 * One statement is in flight per connection; what waits meanwhile stays
 * with the executions themselves (PHASE_BEGIN: a claim to make; the
 * completed queue: a record to write), so the queue is bounded by
 * max_in_flight and nothing is lost while a connection is down: it all
 * goes in the next batches once a primary answers. An execution's offset
 * is finished only once its record is written (execution_finished), never
 * on a send; its calls start only once its claim has committed. */
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
        db_conn_t *c = arg;
        worker_t *w = c->w;
        db_batch_t *b = &c->batch;
        db_kind_t kind = b->kind;

        b->kind = DB_NONE;
        /* readiness wants both connections; the records one's probe keeps
         * its answer fresh (send_records) */
        if (err != -ENOTCONN) {
                if (c->role == DB_RECORDS)
                        w->db_last_answer = rf_mono_ms();
                metrics_db_state(c->role, true, NULL);
        } else {
                metrics_db_state(c->role, false, errstr);
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

static void log_oom(void) {
        rf_log_error("worker.oom", NULL, "out of memory encoding a database batch; will retry");
}

/* Sends the batch just taken into c->batch with @p send; a batch that
 * could not be sent goes back where it came from. */
static int send_or_untake(db_conn_t *c, int (*send)(db_conn_t *, rf_pg_async_done_fn *)) {
        db_batch_t *b = &c->batch;
        int r = send(c, on_done);

        if (r == 0) {
                for (size_t i = 0; i < b->n; i++)
                        b->exs[i]->in_batch = true;
                return 0;
        }
        if (r == -ENOMEM)
                log_oom();
        untake(c->w, b);
        return r;
}

/* The next statement for the idle claims connection: a batch of the
 * executions waiting for their claim. */
static void send_claims(db_conn_t *c) {
        worker_t *w = c->w;
        db_batch_t *b = &c->batch;

        if (!w->begin_due)
                return;
        b->sent_ms = rf_mono_ms();
        b->kind = DB_BEGIN;
        if (!take_begins(w, b)) {
                b->kind = DB_NONE;
                return;
        }
        send_or_untake(c, record_begin_send);
}

/* The next statement for the idle records connection: a due renewal first
 * (leases run out), then records, then a readiness probe. */
static void send_records(db_conn_t *c) {
        worker_t *w = c->w;
        db_batch_t *b = &c->batch;
        int64_t now = rf_mono_ms();
        int r = -ENODATA;

        b->sent_ms = now;
        if (w->renew_due) {
                w->renew_due = false;
                b->kind = DB_RENEW;
                r = record_renew_send(c, on_done);
                if (r == 0)
                        return;
                b->kind = DB_NONE;
                if (r == -ENOMEM)
                        log_oom();
        }
        if (w->completed_count > 0) {
                b->kind = DB_FINISH;
                if (take_finishes(w, b) && (r = send_or_untake(c, record_finish_send)) == 0)
                        return;
                b->kind = DB_NONE;
        }
        if (r == -ENODATA && now - w->db_last_answer >= METRICS_DB_PROBE_MS) {
                b->kind = DB_PROBE;
                if (rf_pg_async_send(c->pg, "SELECT 1", 0, NULL, on_done, c) < 0)
                        b->kind = DB_NONE;
        }
}

/* Logs a connection's comings and goings, once each. */
static void note_connection(db_conn_t *c) {
        static const char *const names[] = { [DB_RECORDS] = "records", [DB_CLAIMS] = "claims" };
        bool up = rf_pg_async_connected(c->pg);
        char server[300];

        if (up == c->up)
                return;
        c->up = up;
        metrics_db_state(c->role, up, up ? NULL : rf_pg_async_error(c->pg));
        if (!up) {
                rf_log_warn("database.lost", json_pack("{s:s}", "connection", names[c->role]),
                            "%s connection: %s; reconnecting", names[c->role], rf_pg_async_error(c->pg));
                return;
        }
        rf_pg_async_server(c->pg, server, sizeof(server));
        rf_log_info("database.connected", json_pack("{s:s, s:s}", "server", server, "connection", names[c->role]),
                    "%s connection to PostgreSQL at %s", names[c->role], server);
}

void db_step(worker_t *w) {
        for (int i = 0; i < DB_ROLES; i++) {
                db_conn_t *c = &w->db[i];
                int64_t due = rf_pg_async_due_ms(c->pg);

                if (c->event || (due && rf_mono_ms() >= due)) {
                        c->event = false;
                        rf_pg_async_process(c->pg);
                }
        }
        /* after a callback more may be ready: send while a connection takes it */
        if (rf_pg_async_idle(w->db[DB_CLAIMS].pg))
                send_claims(&w->db[DB_CLAIMS]);
        if (rf_pg_async_idle(w->db[DB_RECORDS].pg))
                send_records(&w->db[DB_RECORDS]);
        for (int i = 0; i < DB_ROLES; i++)
                note_connection(&w->db[i]);
}

int64_t db_due_ms(const worker_t *w) {
        int64_t claims = rf_pg_async_due_ms(w->db[DB_CLAIMS].pg), records = rf_pg_async_due_ms(w->db[DB_RECORDS].pg);

        if (rf_pg_async_idle(w->db[DB_CLAIMS].pg) && w->begin_due)
                return w->now;
        if (rf_pg_async_idle(w->db[DB_RECORDS].pg) && (w->completed_count > 0 || w->renew_due))
                return w->now;
        if (!claims || (records && records < claims))
                return records;
        return claims;
}
