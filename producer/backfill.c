/* SPDX-License-Identifier: Apache-2.0 */
/* `backfill WORKFLOW... --from T1 --to T2 [--mode missing|failed|all]
 * [--dry-run] [--max-active N] [--yes] [--by NAME]`: new RUN decisions for
 * the schedule ticks of a range, where `replay` re-produces decisions that
 * already existed.
 *
 *   missing  ticks with no decision at all (the new one is the tick's
 *            decision, backfill_of NULL), and ticks recorded as MISSED
 *            (nobody was there to decide; backfill_of names the MISSED row)
 *   failed   ticks whose latest decision is a RUN that ended FAILED or DEAD
 *   all      every tick again (backfill_of: its latest decision, if any)
 *
 * A request is a row of runfleet.backfills; its decisions name it
 * (backfill_id). Ticks are streamed from rf_cron_next() in batches, each
 * batch planned, inserted and counted in one transaction and then produced,
 * so a crash leaves recorded decisions the reaper produces, never a message
 * without a row, and memory stays one batch whatever the range.
 *
 * Idempotence: a tick's own decision is unique per (workflow, tick), so
 * `missing` never decides a tick twice, even against the evaluator. A re-run
 * (backfill_of set) is a deliberate second row the index lets through, so
 * batches of one workflow take a transaction-level advisory lock: two
 * backfills never both see the same FAILED decision as a tick's latest.
 * After the first re-run, the latest decision of the tick is the re-run, and
 * `failed` leaves it alone unless it fails too.
 *
 * Stopping: SIGINT/SIGTERM end the command between batches. The request
 * stays unfinished (finished_at NULL); running the same command again (same
 * workflows, range and mode) continues it under the same backfill_id,
 * skipping the ticks it already created a decision for, which is what lets
 * `all` resume too. A request still being created holds a session advisory
 * lock, so a second copy of it refuses to start instead of racing it. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backfill.h"
#include "producer.h"
#include "rf_kafka.h"
#include "rf_log.h"
#include "rf_pg.h"
#include "rf_store.h"
#include "rf_util.h"
#include "workflow_decision.h"

#define USAGE                                                                                                          \
        "usage: backfill WORKFLOW... --from T1 --to T2 [--mode missing|failed|all] [--dry-run] [--max-active N]"       \
        " [--yes] [--by NAME]"

/* Ticks planned per query and decisions inserted per transaction. */
#define BATCH_TICKS 2000
/* Ticks a dry run lists, over all workflows; the counts cover the rest. */
#define DRY_RUN_LIST_MAX 1000
/* --max-active: how often the command asks PostgreSQL again while full. */
#define POLL_MS 500
/* ... and how often it says it is still waiting when nothing changed. */
#define PROGRESS_MS 10000

typedef enum { MODE_MISSING, MODE_FAILED, MODE_ALL, MODE_COUNT } backfill_mode_t;

static const char *const mode_names[MODE_COUNT] = { "missing", "failed", "all" };

typedef struct request {
        const rf_conf_t *conf;
        const char *tz;
        const rf_workflow_conf_t **workflows; /* sorted by name, no repeats */
        size_t workflow_count;
        char *workflows_literal; /* the same as a text[] literal */
        int64_t from_ms, to_ms;  /* both ends included */
        backfill_mode_t mode;
        int max_active; /* 0: no limit */
        bool dry_run, yes;
        char by[128];
        char id[37];              /* "" until recorded or resumed */
        long long created_before; /* resumed: what earlier runs created */
} request_t;

/* One schedule tick of a batch, and what the backfill makes of it. */
typedef struct tick {
        int64_t ms;
        bool create;
        bool mine;       /* this backfill already created its decision */
        char latest[37]; /* the tick's latest decision, "" when it has none */
        char action[8];
        char state[12];
} tick_t;

typedef struct counts {
        long long ticks, create, keep;
        long long created, decided_meanwhile, delivered;
} counts_t;

/* "2026-12-04 10:00:00", the wall clock of @p ms in the request's zone. */
static void local_time(const request_t *rq, int64_t ms, char *buf, size_t size) {
        struct tm tm;

        if (rf_tz_localtime(rq->tz, ms / 1000, &tm) < 0 || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, size, "@%lld", (long long)(ms / 1000));
}

/* The first tick of @p w after @p after_s within the range: 1 with
 * *ret_s set, 0 when the range has no more, or a negative errno. */
static int next_tick(const request_t *rq, const rf_workflow_conf_t *w, int64_t after_s, int64_t *ret_s) {
        int64_t t;
        int r = rf_cron_next(w->cron, rq->tz, after_s, &t);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (t * 1000 > rq->to_ms)
                return 0;
        *ret_s = t;
        return 1;
}

/* The second before the range, where tick enumeration starts. */
static int64_t range_start_s(const request_t *rq) {
        return (rq->from_ms + 999) / 1000 - 1;
}

/* Up to @p max ticks of @p w after @p after_s into @p ticks; *ret_n gets how many. */
static int collect_ticks(const request_t *rq, const rf_workflow_conf_t *w, int64_t after_s, tick_t *ticks, size_t max,
                         size_t *ret_n) {
        size_t n = 0;
        int64_t t = after_s;
        int r;

        while (n < max) {
                r = next_tick(rq, w, t, &t);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                ticks[n++] = (tick_t){ .ms = t * 1000 };
        }
        *ret_n = n;
        return 0;
}

/* Per tick: its latest decision (decided_at, the latest first), whether
 * this backfill made one already, and whether the mode wants a new one.
 * The modes' rules live here, once, in SQL next to the states they read.
 *
 * The decisions of the batch's ticks are read in one range of the
 * (workflow, tick) index per day partition ($5 to $6: the batch's first and
 * last tick), not looked up tick by tick: a lookup per tick probes every
 * day's partition, since a tick's decisions may have been made on any day
 * after it (a re-run has an id of its own day), which for 2,000 ticks and
 * ten partitions was 40,000 probes a batch. */
static const char *const sql_plan =
        "WITH h AS (SELECT d.tick, d.decision_id, d.action, d.state, d.decided_at, d.backfill_id"
        "             FROM runfleet.decisions d"
        "            WHERE d.workflow = $1 AND d.tick IS NOT NULL"
        "              AND d.tick BETWEEN to_timestamp($5::bigint / 1000.0) AND to_timestamp($6::bigint / 1000.0)),"
        " l AS (SELECT DISTINCT ON (h.tick) h.tick, h.decision_id, h.action, h.state FROM h"
        "        ORDER BY h.tick, h.decided_at DESC, h.decision_id DESC),"
        " m AS (SELECT DISTINCT h.tick FROM h WHERE h.backfill_id = $3::uuid)"
        "SELECT l.decision_id::text, l.action, l.state, m.tick IS NOT NULL,"
        "       m.tick IS NULL AND CASE $4"
        "         WHEN 'missing' THEN l.decision_id IS NULL OR l.action = 'MISSED'"
        "         WHEN 'failed' THEN l.action = 'RUN' AND l.state IN ('FAILED', 'DEAD')"
        "         ELSE true END"
        "  FROM unnest($2::bigint[]) WITH ORDINALITY AS t(ms, i)"
        "  LEFT JOIN l ON l.tick = to_timestamp(t.ms / 1000.0)"
        "  LEFT JOIN m ON m.tick = to_timestamp(t.ms / 1000.0)"
        " ORDER BY t.i";

/* Plans @p n (> 0) ticks of @p w: fills latest, action, state, mine and create. */
static int plan_ticks(rf_pg_t *pg, const request_t *rq, const rf_workflow_conf_t *w, tick_t *ticks, size_t n,
                      char *errstr, size_t errstr_size) {
        char *list = malloc(n * 22 + 3), *p, first[24], last[24];
        int64_t lo = ticks[0].ms, hi = ticks[0].ms;
        PGresult *res = NULL;
        int r;

        if (!list)
                return -ENOMEM;
        p = list;
        *p++ = '{';
        for (size_t i = 0; i < n; i++) {
                p += sprintf(p, "%s%lld", i ? "," : "", (long long)ticks[i].ms);
                lo = ticks[i].ms < lo ? ticks[i].ms : lo;
                hi = ticks[i].ms > hi ? ticks[i].ms : hi;
        }
        *p++ = '}';
        *p = '\0';
        snprintf(first, sizeof(first), "%lld", (long long)lo);
        snprintf(last, sizeof(last), "%lld", (long long)hi);
        {
                const char *params[] = { w->name, list, *rq->id ? rq->id : NULL, mode_names[rq->mode], first, last };
                r = rf_pg_exec(pg, sql_plan, 6, params, &res, errstr, errstr_size);
        }
        free(list);
        if (r < 0)
                return r;
        if ((size_t)PQntuples(res) != n) {
                snprintf(errstr, errstr_size, "planning %s: %d rows for %zu ticks", w->name, PQntuples(res), n);
                PQclear(res);
                return -EIO;
        }
        for (size_t i = 0; i < n; i++) {
                int row = (int)i;

                snprintf(ticks[i].latest, sizeof(ticks[i].latest), "%s", PQgetvalue(res, row, 0));
                snprintf(ticks[i].action, sizeof(ticks[i].action), "%s", PQgetvalue(res, row, 1));
                snprintf(ticks[i].state, sizeof(ticks[i].state), "%s", PQgetvalue(res, row, 2));
                ticks[i].mine = strcmp(PQgetvalue(res, row, 3), "t") == 0;
                ticks[i].create = strcmp(PQgetvalue(res, row, 4), "t") == 0;
        }
        PQclear(res);
        return 0;
}

/* One dry-run line: the tick and what would become of it. */
static void print_tick(const request_t *rq, const tick_t *t) {
        char when[40];

        local_time(rq, t->ms, when, sizeof(when));
        if (t->create && !*t->latest)
                printf("    %s  create  (no decision yet)\n", when);
        else if (t->create)
                printf("    %s  create  (again after %s %s %s)\n", when, rf_uuid_short(t->latest), t->action, t->state);
        else if (t->mine)
                printf("    %s  keep    (created by this backfill already)\n", when);
        else
                printf("    %s  keep    (%s %s %s)\n", when, rf_uuid_short(t->latest), t->action, t->state);
}

/* The first pass: what each workflow's ticks would become, nothing written.
 * A dry run also lists the ticks (*listed counts lines over all workflows).
 * -E2BIG as soon as *planned, the decisions to create over all workflows,
 * passes @p limit (< 0: none): a request refused for its size is refused
 * without planning a million ticks first. */
static int plan_workflow(rf_pg_t *pg, const request_t *rq, const rf_workflow_conf_t *w, tick_t *ticks, counts_t *c,
                         size_t *listed, long long *planned, long long limit, char *errstr, size_t errstr_size) {
        int64_t after_s = range_start_s(rq);
        size_t n;
        int r;

        for (;;) {
                r = collect_ticks(rq, w, after_s, ticks, BATCH_TICKS, &n);
                if (r == 0 && n > 0)
                        r = plan_ticks(pg, rq, w, ticks, n, errstr, errstr_size);
                if (r < 0)
                        return r;
                if (n == 0)
                        return 0;
                for (size_t i = 0; i < n; i++) {
                        c->ticks++;
                        if (ticks[i].create) {
                                c->create++;
                                if (++*planned > limit && limit >= 0)
                                        return -E2BIG;
                        } else
                                c->keep++;
                        if (rq->dry_run && (*listed)++ < DRY_RUN_LIST_MAX)
                                print_tick(rq, &ticks[i]);
                }
                after_s = ticks[n - 1].ms / 1000;
        }
}

/* The new decision for tick @p t of @p w; the caller owns it. */
static rf_decision_t *backfill_decision(const request_t *rq, const rf_workflow_conf_t *w, const tick_t *t) {
        char reason[256], when[40];

        local_time(rq, t->ms, when, sizeof(when));
        if (!*t->latest)
                snprintf(reason, sizeof(reason), "backfill %s (%s): tick %s had no decision", rf_uuid_short(rq->id),
                         mode_names[rq->mode], when);
        else
                snprintf(reason, sizeof(reason), "backfill %s (%s): tick %s again after decision %s (%s %s)",
                         rf_uuid_short(rq->id), mode_names[rq->mode], when, rf_uuid_short(t->latest), t->action,
                         t->state);
        return workflow_decision_new(w, reason);
}

/* Waits until fewer than --max-active of this backfill's decisions are
 * PENDING, RUNNING or FAILED (a FAILED one is retried by the reaper, so it
 * still takes a worker's time), printing a progress line while it waits.
 * *ret_room gets how many may be created now. -EINTR on a stop request. */
static int wait_for_room(rf_pg_t *pg, const request_t *rq, long long planned, long long created, long long *ret_room,
                         char *errstr, size_t errstr_size) {
        const char *params[] = { rq->id };
        long long last_active = -1;
        int64_t last_print = 0;

        for (;;) {
                PGresult *res;
                long long active;
                int r;

                r = rf_pg_exec(pg,
                               "SELECT count(*) FROM runfleet.decisions WHERE backfill_id = $1"
                               " AND state IN ('PENDING', 'RUNNING', 'FAILED')",
                               1, params, &res, errstr, errstr_size);
                if (r < 0)
                        return r;
                active = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
                PQclear(res);
                if (active < rq->max_active) {
                        *ret_room = rq->max_active - active;
                        return 0;
                }
                if (active != last_active || rf_mono_ms() - last_print >= PROGRESS_MS) {
                        printf("backfill %s: %lld of %lld created, %lld active (--max-active %d); waiting\n",
                               rf_uuid_short(rq->id), created, planned, active, rq->max_active);
                        fflush(stdout);
                        last_active = active;
                        last_print = rf_mono_ms();
                }
                for (int64_t until = rf_mono_ms() + POLL_MS; rf_mono_ms() < until;) {
                        struct timespec ts = { .tv_sec = 0, .tv_nsec = 50 * 1000000L };

                        if (rf_stop_requested)
                                return -EINTR;
                        nanosleep(&ts, NULL);
                }
        }
}

static void rollback(rf_pg_t *pg) {
        char ignored[256];

        rf_pg_exec(pg, "ROLLBACK", 0, NULL, NULL, ignored, sizeof(ignored));
}

/* Opens a transaction that plans up to @p n ticks (already collected),
 * inserts at most @p room decisions and counts them on the request, and
 * leaves it for the caller to commit (on failure it is rolled back).
 * ret_ds gets the new decisions to produce (the caller owns them),
 * *ret_meanwhile how many ticks the evaluator decided after the plan,
 * *ret_handled how many of the ticks were dealt with (the rest wait for
 * room). */
static int create_batch(rf_pg_t *pg, const request_t *rq, const rf_workflow_conf_t *w, tick_t *ticks, size_t n,
                        long long room, rf_decision_t **ret_ds, size_t *ret_nds, size_t *ret_handled,
                        long long *ret_meanwhile, char *errstr, size_t errstr_size) {
        size_t nds = 0, handled = 0, nrows = 0;
        rf_store_new_t *rows = NULL;
        long long meanwhile = 0;
        char made[24];
        int r;

        r = rf_pg_exec(pg, "BEGIN", 0, NULL, NULL, errstr, errstr_size);
        if (r < 0)
                return r;
        {
                const char *params[] = { w->name };
                r = rf_pg_exec(pg, "SELECT pg_advisory_xact_lock(" BACKFILL_WORKFLOW_LOCK_CLASS ", hashtext($1))", 1,
                               params, NULL, errstr, errstr_size);
        }
        if (r == 0)
                r = plan_ticks(pg, rq, w, ticks, n, errstr, errstr_size);
        if (r < 0)
                goto fail;
        rows = calloc(n + 1, sizeof(*rows));
        if (!rows) {
                r = -ENOMEM;
                snprintf(errstr, errstr_size, "out of memory");
                goto fail;
        }
        for (; handled < n && (long long)nrows < room; handled++) {
                tick_t *t = &ticks[handled];
                rf_decision_t *d;

                if (!t->create)
                        continue;
                d = backfill_decision(rq, w, t);
                if (!d) {
                        r = -ENOMEM;
                        snprintf(errstr, errstr_size, "out of memory");
                        goto fail;
                }
                rows[nrows++] = (rf_store_new_t){ .d = d,
                                                  .action = "RUN",
                                                  .tick_ms = t->ms,
                                                  .backfill_of = *t->latest ? t->latest : NULL,
                                                  .backfill_id = rq->id };
        }
        /* one statement for the batch's decisions */
        r = rf_store_insert_decisions(pg, rows, nrows, errstr, errstr_size);
        if (r < 0)
                goto fail;
        for (size_t i = 0; i < nrows; i++) {
                if (rows[i].inserted)
                        ret_ds[nds++] = rows[i].d;
                else {
                        /* the evaluator decided this tick after the plan: it has its decision */
                        rf_decision_destroy(rows[i].d);
                        meanwhile++;
                }
                rows[i].d = NULL;
        }
        snprintf(made, sizeof(made), "%zu", nds);
        {
                const char *params[] = { rq->id, made };
                r = rf_pg_exec(pg,
                               "UPDATE runfleet.backfills SET created = created + $2::integer WHERE backfill_id = $1",
                               2, params, NULL, errstr, errstr_size);
        }
        if (r < 0)
                goto fail;
        *ret_meanwhile = meanwhile;
        *ret_nds = nds;
        *ret_handled = handled;
        free(rows);
        return 0;
fail:
        rollback(pg);
        for (size_t i = 0; rows && i < nrows; i++)
                rf_decision_destroy(rows[i].d);
        free(rows);
        for (size_t i = 0; i < nds; i++) {
                rf_decision_destroy(ret_ds[i]);
                ret_ds[i] = NULL;
        }
        return r;
}

/* A batch handed to Kafka and not yet acknowledged. */
typedef struct inflight {
        rf_store_publish_t *pub; /* NULL: none */
        rf_decision_t **ds;      /* its decisions (owned) */
        size_t n;
} inflight_t;

/* Hands the @p n recorded decisions of @p f to Kafka without waiting. */
static int produce_start(rd_kafka_t **rk, const rf_program_t *prog, const request_t *rq, inflight_t *f, size_t n,
                         char *errstr, size_t errstr_size) {
        int r;

        f->n = n;
        if (n == 0)
                return 0;
        rf_kafka_producer_recover(rk, rq->conf, prog->name, rf_store_dr_cb);
        r = rf_store_publish_start(*rk, rq->conf->kafka.topic, f->ds, n, rq->conf->kafka.delivery_timeout_ms + 5000,
                                   &f->pub);
        if (r < 0)
                snprintf(errstr, errstr_size, "out of memory");
        return r;
}

/* Waits for Kafka's answer on the batch of @p f and records it; those Kafka
 * does not acknowledge stay PENDING for the reaper, and the backfill stops
 * (-EIO). Frees the batch's decisions. */
static int produce_finish(rf_pg_t *pg, const request_t *rq, const rf_workflow_conf_t *w, inflight_t *f, counts_t *c,
                          char *errstr, size_t errstr_size) {
        size_t delivered = 0, n = f->n;
        int r = 0;

        if (f->pub)
                r = rf_store_publish_finish(f->pub, pg, NULL, &delivered, errstr, errstr_size);
        for (size_t i = 0; i < n; i++) {
                rf_decision_destroy(f->ds[i]);
                f->ds[i] = NULL;
        }
        f->n = 0;
        if (!f->pub) /* nothing was handed over (or it could not be) */
                return 0;
        f->pub = NULL;
        c->delivered += (long long)delivered;
        if (r < 0) {
                rf_log_error("backfill.produce_failed",
                             json_pack("{s:s, s:s, s:i, s:i}", "backfill_id", rq->id, "workflow", w->name, "delivered",
                                       (int)delivered, "total", (int)n),
                             "%s; the %zu undelivered decisions stay recorded for the reaper", errstr, n - delivered);
                return r;
        }
        rf_log_info("backfill.produced",
                    json_pack("{s:s, s:s, s:i}", "backfill_id", rq->id, "workflow", w->name, "decisions", (int)n),
                    "backfill %s: %zu decisions of %s recorded and delivered", rf_uuid_short(rq->id), n, w->name);
        return 0;
}

/* Drops the batch @p f inserted but not committed: rolls its transaction
 * back and frees its decisions, which were never handed to Kafka. */
static void drop_batch(rf_pg_t *pg, inflight_t *f) {
        rollback(pg);
        for (size_t i = 0; i < f->n; i++) {
                rf_decision_destroy(f->ds[i]);
                f->ds[i] = NULL;
        }
        f->n = 0;
}

/* The second pass over @p w: creates and produces its decisions batch by
 * batch, within --max-active. -EINTR when a stop was requested.
 *
 * Kafka acknowledges batch k while batch k+1 is planned and inserted, and
 * k+1 commits only once k is acknowledged: a batch Kafka refuses stops the
 * backfill with nothing after it recorded, as if the two took turns, and a
 * decision is still committed before it is produced. @p ds holds two
 * batches, BATCH_TICKS each. */
static int create_workflow(rf_pg_t *pg, rd_kafka_t **rk, const rf_program_t *prog, const request_t *rq,
                           const rf_workflow_conf_t *w, tick_t *ticks, rf_decision_t **ds, long long planned,
                           long long *created_total, counts_t *c, char *errstr, size_t errstr_size) {
        inflight_t f[2] = { { .ds = ds }, { .ds = ds + BATCH_TICKS } };
        int64_t after_s = range_start_s(rq);
        int cur = 0, r = 0;

        for (;;) {
                inflight_t *prev = &f[!cur], *next = &f[cur];
                long long room = BATCH_TICKS, meanwhile = 0;
                size_t n, nds = 0, handled = 0;

                if (rf_stop_requested) {
                        r = -EINTR;
                        break;
                }
                r = collect_ticks(rq, w, after_s, ticks, BATCH_TICKS, &n);
                if (r < 0 || n == 0)
                        break;
                if (rq->max_active > 0) {
                        r = wait_for_room(pg, rq, planned, *created_total, &room, errstr, errstr_size);
                        if (r < 0)
                                break;
                }
                r = create_batch(pg, rq, w, ticks, n, room, next->ds, &nds, &handled, &meanwhile, errstr, errstr_size);
                if (r < 0)
                        break;
                next->n = nds;
                if (prev->pub && rf_store_publish_wait(prev->pub) < 0) {
                        /* the batch before was not all delivered: this one is not recorded */
                        drop_batch(pg, next);
                        break;
                }
                r = rf_pg_exec(pg, "COMMIT", 0, NULL, NULL, errstr, errstr_size);
                if (r < 0) {
                        drop_batch(pg, next);
                        break;
                }
                c->created += (long long)nds;
                c->decided_meanwhile += meanwhile;
                *created_total += (long long)nds;
                rf_fault_point("after-insert");
                /* queued first, so Kafka works on it while the batch before is recorded as delivered */
                r = produce_start(rk, prog, rq, next, nds, errstr, errstr_size);
                if (r == 0)
                        r = produce_finish(pg, rq, w, prev, c, errstr, errstr_size);
                if (r < 0)
                        break;
                if (handled > 0)
                        after_s = ticks[handled - 1].ms / 1000;
                cur = !cur;
        }
        /* what is still with Kafka: its outcome, or the first error's */
        for (int i = 0; i < 2; i++) {
                char why[1024];
                int pr;

                if (!f[i].pub && f[i].n == 0)
                        continue;
                pr = produce_finish(pg, rq, w, &f[i], c, why, sizeof(why));
                if (pr < 0 && (r == 0 || r == -EINTR)) {
                        snprintf(errstr, errstr_size, "%s", why);
                        r = pr;
                }
        }
        return r;
}

/* An unfinished request with the same workflows, range and mode: its id
 * and what it created into rq (id stays "" when there is none). */
static int find_unfinished(rf_pg_t *pg, request_t *rq, char *errstr, size_t errstr_size) {
        char from[32], to[32];
        const char *params[] = { rq->workflows_literal, from, to, mode_names[rq->mode] };
        PGresult *res;
        int r;

        snprintf(from, sizeof(from), "%lld", (long long)rq->from_ms);
        snprintf(to, sizeof(to), "%lld", (long long)rq->to_ms);
        r = rf_pg_exec(pg,
                       "SELECT backfill_id::text, created FROM runfleet.backfills"
                       " WHERE workflows = $1::text[] AND from_ts = to_timestamp($2::bigint / 1000.0)"
                       "   AND to_ts = to_timestamp($3::bigint / 1000.0) AND mode = $4 AND finished_at IS NULL"
                       " ORDER BY requested_at DESC LIMIT 1",
                       4, params, &res, errstr, errstr_size);
        if (r < 0)
                return r;
        if (PQntuples(res) == 1) {
                snprintf(rq->id, sizeof(rq->id), "%s", PQgetvalue(res, 0, 0));
                rq->created_before = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        }
        PQclear(res);
        return 0;
}

/* Takes the request's "being created" lock: 1 taken, 0 held by another session. */
static int lock_request(rf_pg_t *pg, const request_t *rq, char *errstr, size_t errstr_size) {
        const char *params[] = { rq->id };
        PGresult *res;
        int r;

        r = rf_pg_exec(pg, "SELECT pg_try_advisory_lock(" BACKFILL_LOCK_CLASS ", hashtext($1))", 1, params, &res,
                       errstr, errstr_size);
        if (r < 0)
                return r;
        r = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        return r;
}

/* Records a new request with @p planned decisions to create. */
static int record_request(rf_pg_t *pg, request_t *rq, long long planned, char *errstr, size_t errstr_size) {
        char from[32], to[32], max_active[16], count[24];
        const char *params[] = { rq->id,
                                 rq->workflows_literal,
                                 from,
                                 to,
                                 mode_names[rq->mode],
                                 rq->max_active > 0 ? max_active : NULL,
                                 rq->by,
                                 count };

        rf_uuid_new(rq->id);
        snprintf(from, sizeof(from), "%lld", (long long)rq->from_ms);
        snprintf(to, sizeof(to), "%lld", (long long)rq->to_ms);
        snprintf(max_active, sizeof(max_active), "%d", rq->max_active);
        snprintf(count, sizeof(count), "%lld", planned);
        return rf_pg_exec(pg,
                          "INSERT INTO runfleet.backfills (backfill_id, workflows, from_ts, to_ts, mode, max_active,"
                          " requested_by, planned) VALUES ($1, $2::text[], to_timestamp($3::bigint / 1000.0),"
                          " to_timestamp($4::bigint / 1000.0), $5, $6::integer, $7, $8::integer)",
                          8, params, NULL, errstr, errstr_size);
}

/* Runs @p sql with $1 the request's id, $2 @p value and $3 its --max-active (0: none). */
static int update_request(rf_pg_t *pg, const request_t *rq, const char *sql, long long value, char *errstr,
                          size_t errstr_size) {
        char v[24], max_active[16];
        const char *params[] = { rq->id, v, max_active };

        snprintf(v, sizeof(v), "%lld", value);
        snprintf(max_active, sizeof(max_active), "%d", rq->max_active);
        return rf_pg_exec(pg, sql, 3, params, NULL, errstr, errstr_size);
}

static int finish_request(rf_pg_t *pg, const request_t *rq, char *errstr, size_t errstr_size) {
        const char *params[] = { rq->id };

        return rf_pg_exec(pg, "UPDATE runfleet.backfills SET finished_at = now() WHERE backfill_id = $1", 1, params,
                          NULL, errstr, errstr_size);
}

/* The OS user running the command, for requested_by. */
static void os_user(char *buf, size_t size) {
        struct passwd *pw = getpwuid(geteuid());
        const char *env = getenv("USER");

        if (pw && pw->pw_name && *pw->pw_name)
                snprintf(buf, size, "%s", pw->pw_name);
        else if (env && *env)
                snprintf(buf, size, "%s", env);
        else
                snprintf(buf, size, "uid %d", (int)geteuid());
}

static int by_name(const void *a, const void *b) {
        const rf_workflow_conf_t *x = *(const rf_workflow_conf_t *const *)a, *y = *(const rf_workflow_conf_t *const *)b;

        return strcmp(x->name, y->name);
}

/* Reads one time option in the producer's zone, or fails the command. */
static int parse_time_option(const rf_program_t *prog, const request_t *rq, const char *opt, const char *text,
                             int64_t *ret_ms) {
        int r = rf_time_parse_in(text, rq->tz, ret_ms);

        if (r == -ENOENT)
                return rf_program_fail(prog, RF_EXIT_USAGE,
                                       "backfill: %s '%s' does not exist in %s (a daylight-saving jump skips it)", opt,
                                       text, rq->tz);
        if (r < 0)
                return rf_program_fail(prog, RF_EXIT_USAGE,
                                       "backfill: %s '%s' is not a time (e.g. 2026-12-04, \"2026-12-04 09:00\" in %s, "
                                       "2026-12-04T14:00:00Z)",
                                       opt, text, rq->tz);
        return 0;
}

/* Options and operands into @p rq. Returns 0, or the exit code after a one-line error. */
static int parse_request(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv, request_t *rq) {
        static const struct option options[] = {
                { "from", required_argument, NULL, 'f' },       { "to", required_argument, NULL, 't' },
                { "mode", required_argument, NULL, 'm' },       { "dry-run", no_argument, NULL, 'n' },
                { "max-active", required_argument, NULL, 'a' }, { "yes", no_argument, NULL, 'y' },
                { "by", required_argument, NULL, 'b' },         { NULL, 0, NULL, 0 }
        };
        const char *from_text = NULL, *to_text = NULL, *mode_text = "missing";
        size_t k = 0;
        int c;

        rq->conf = conf;
        rq->tz = conf->producer.timezone;
        os_user(rq->by, sizeof(rq->by));
        rf_program_subcommand_options();
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                switch (c) {
                case 'f':
                        from_text = optarg;
                        break;
                case 't':
                        to_text = optarg;
                        break;
                case 'm':
                        mode_text = optarg;
                        break;
                case 'n':
                        rq->dry_run = true;
                        break;
                case 'y':
                        rq->yes = true;
                        break;
                case 'b':
                        if (!*optarg || strlen(optarg) >= sizeof(rq->by))
                                return rf_program_fail(prog, RF_EXIT_USAGE,
                                                       "backfill: --by takes a name of 1 to %zu characters",
                                                       sizeof(rq->by) - 1);
                        snprintf(rq->by, sizeof(rq->by), "%s", optarg);
                        break;
                case 'a': {
                        char *end;
                        long v;

                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (errno || end == optarg || *end || v < 1 || v > 1000000)
                                return rf_program_fail(prog, RF_EXIT_USAGE,
                                                       "backfill: --max-active '%s' is not a number from 1 to 1000000",
                                                       optarg);
                        rq->max_active = (int)v;
                        break;
                }
                default:
                        return rf_program_fail(prog, RF_EXIT_USAGE, USAGE);
                }
        }
        if (optind >= argc)
                return rf_program_fail(prog, RF_EXIT_USAGE, "backfill: name at least one workflow (%s)", USAGE);
        if (!from_text || !to_text)
                return rf_program_fail(prog, RF_EXIT_USAGE, "backfill: --from and --to are required (%s)", USAGE);
        rq->mode = MODE_COUNT;
        for (int m = 0; m < MODE_COUNT; m++)
                if (strcmp(mode_text, mode_names[m]) == 0)
                        rq->mode = (backfill_mode_t)m;
        if (rq->mode == MODE_COUNT)
                return rf_program_fail(prog, RF_EXIT_USAGE, "backfill: --mode '%s' is not missing, failed or all",
                                       mode_text);

        rq->workflows = calloc((size_t)(argc - optind), sizeof(*rq->workflows));
        if (!rq->workflows)
                return rf_program_fail(prog, RF_EXIT_FAILURE, "backfill: out of memory");
        for (int i = optind; i < argc; i++) {
                const rf_workflow_conf_t *w = rf_conf_workflow(conf, argv[i]);

                if (!w)
                        return rf_program_fail(prog, RF_EXIT_USAGE, "backfill: unknown workflow '%s' in %s", argv[i],
                                               conf->path);
                if (!w->enabled)
                        return rf_program_fail(prog, RF_EXIT_USAGE, "backfill: workflow '%s' is disabled in %s",
                                               w->name, conf->path);
                rq->workflows[rq->workflow_count++] = w;
        }
        /* sorted and without repeats, so the same request compares equal when resumed */
        qsort(rq->workflows, rq->workflow_count, sizeof(*rq->workflows), by_name);
        for (size_t i = 0; i < rq->workflow_count; i++)
                if (k == 0 || rq->workflows[k - 1] != rq->workflows[i])
                        rq->workflows[k++] = rq->workflows[i];
        rq->workflow_count = k;
        {
                char **names = calloc(k + 1, sizeof(*names));

                for (size_t i = 0; names && i < k; i++)
                        names[i] = rq->workflows[i]->name;
                rq->workflows_literal = names ? rf_pg_array_literal(names, k) : NULL;
                free(names);
                if (!rq->workflows_literal)
                        return rf_program_fail(prog, RF_EXIT_FAILURE, "backfill: out of memory");
        }

        if (parse_time_option(prog, rq, "--from", from_text, &rq->from_ms) != 0 ||
            parse_time_option(prog, rq, "--to", to_text, &rq->to_ms) != 0)
                return RF_EXIT_USAGE;
        if (rq->from_ms > rq->to_ms)
                return rf_program_fail(prog, RF_EXIT_USAGE, "backfill: --from (%s) is after --to (%s)", from_text,
                                       to_text);
        if (rq->to_ms > rf_now_ms())
                return rf_program_fail(prog, RF_EXIT_USAGE,
                                       "backfill: --to (%s) is in the future; ticks still to come are the evaluator's",
                                       to_text);
        return 0;
}

int producer_backfill(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        request_t rq = { 0 };
        counts_t *counts = NULL, total = { 0 };
        tick_t *ticks = NULL;
        rf_decision_t **ds = NULL;
        rf_pg_t *pg = NULL;
        rd_kafka_t *rk = NULL;
        char errstr[1024], from[40], to[40];
        size_t listed = 0;
        long long planned = 0, created = 0;
        int r, code;

        code = parse_request(prog, conf, argc, argv, &rq);
        if (code != 0)
                goto out;
        code = RF_EXIT_FAILURE;
        counts = calloc(rq.workflow_count, sizeof(*counts));
        ticks = calloc(BATCH_TICKS, sizeof(*ticks));
        ds = calloc(2 * BATCH_TICKS, sizeof(*ds)); /* two batches: one recorded while Kafka has the other */
        if (!counts || !ticks || !ds) {
                rf_program_fail(prog, code, "backfill: out of memory");
                goto out;
        }
        if (rf_pg_connect(conf->database.url, prog->name, &pg, errstr, sizeof(errstr)) < 0 ||
            find_unfinished(pg, &rq, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "backfill: %s", errstr);
                goto out;
        }
        if (*rq.id && !rq.dry_run) {
                r = lock_request(pg, &rq, errstr, sizeof(errstr));
                if (r < 0) {
                        rf_program_fail(prog, code, "backfill: %s", errstr);
                        goto out;
                }
                if (r == 0) {
                        rf_program_fail(prog, code,
                                        "backfill: the same request (backfill %s) is being created by another "
                                        "process; wait for it, or stop it and run this again to continue",
                                        rq.id);
                        goto out;
                }
        }

        local_time(&rq, rq.from_ms, from, sizeof(from));
        local_time(&rq, rq.to_ms, to, sizeof(to));
        if (rq.dry_run)
                printf("backfill (dry run, nothing is recorded): mode %s, %s to %s %s\n", mode_names[rq.mode], from, to,
                       rq.tz);
        for (size_t i = 0; i < rq.workflow_count; i++) {
                if (rq.dry_run)
                        printf("  %s:\n", rq.workflows[i]->name);
                r = plan_workflow(pg, &rq, rq.workflows[i], ticks, &counts[i], &listed, &planned,
                                  rq.dry_run || rq.yes ? -1 : conf->producer.backfill_max_decisions, errstr,
                                  sizeof(errstr));
                if (r == -E2BIG) {
                        code = rf_program_fail(prog, RF_EXIT_USAGE,
                                               "backfill: would create more than %d decisions "
                                               "(producer.backfill_max_decisions); narrow the range or pass --yes",
                                               conf->producer.backfill_max_decisions);
                        goto out;
                }
                if (r < 0) {
                        rf_program_fail(prog, code, "backfill: %s", r == -ENOMEM ? "out of memory" : errstr);
                        goto out;
                }
                total.ticks += counts[i].ticks;
                total.create += counts[i].create;
                total.keep += counts[i].keep;
        }
        if (rq.dry_run) {
                if (listed > DRY_RUN_LIST_MAX)
                        printf("  ... %zu more ticks not listed\n", listed - DRY_RUN_LIST_MAX);
                for (size_t i = 0; i < rq.workflow_count; i++)
                        printf("%-24s %8lld tick%s, %8lld would be created, %8lld left as they are\n",
                               rq.workflows[i]->name, counts[i].ticks, counts[i].ticks == 1 ? "" : "s",
                               counts[i].create, counts[i].keep);
                printf("would create %lld decision%s\n", planned, planned == 1 ? "" : "s");
                if (*rq.id)
                        printf("note: continues unfinished backfill %s (%lld decisions created so far)\n", rq.id,
                               rq.created_before);
                if (planned > conf->producer.backfill_max_decisions && !rq.yes)
                        printf("note: more than producer.backfill_max_decisions (%d); a real run needs --yes\n",
                               conf->producer.backfill_max_decisions);
                code = RF_EXIT_OK;
                goto out;
        }

        /* recorded from here on */
        if (*rq.id) {
                /* what is left, and this run's --max-active (not part of what makes a request the same) */
                r = update_request(pg, &rq,
                                   "UPDATE runfleet.backfills SET planned = created + $2::integer,"
                                   " max_active = nullif($3::integer, 0) WHERE backfill_id = $1",
                                   planned, errstr, sizeof(errstr));
                created = rq.created_before;
                planned += rq.created_before;
                if (r == 0)
                        printf("backfill %s: continuing (%lld decisions created before)\n", rq.id, rq.created_before);
        } else {
                r = record_request(pg, &rq, planned, errstr, sizeof(errstr));
                if (r == 0)
                        r = lock_request(pg, &rq, errstr, sizeof(errstr)) < 0 ? -EIO : 0;
        }
        if (r < 0) {
                rf_program_fail(prog, code, "backfill: %s", errstr);
                goto out;
        }
        rf_log_info("backfill.recorded",
                    json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "backfill_id", rq.id, "mode", mode_names[rq.mode],
                              "from", from, "to", to, "planned", (json_int_t)planned, "requested_by", rq.by),
                    "backfill %s: %lld decisions to create", rq.id, planned);
        printf("backfill %s: mode %s, %s to %s %s, requested by %s\n", rq.id, mode_names[rq.mode], from, to, rq.tz,
               rq.by);
        for (size_t i = 0; i < rq.workflow_count; i++)
                printf("%-24s %8lld tick%s, %8lld to create, %8lld left as they are\n", rq.workflows[i]->name,
                       counts[i].ticks, counts[i].ticks == 1 ? "" : "s", counts[i].create, counts[i].keep);
        fflush(stdout);

        if (total.create > 0 &&
            rf_kafka_producer_new(conf, prog->name, rf_store_dr_cb, NULL, &rk, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "backfill: %s", errstr);
                goto out;
        }
        for (size_t i = 0; i < rq.workflow_count; i++) {
                counts_t done = { 0 };

                if (counts[i].create == 0)
                        continue;

                r = create_workflow(pg, &rk, prog, &rq, rq.workflows[i], ticks, ds, planned, &created, &done, errstr,
                                    sizeof(errstr));
                total.created += done.created;
                total.delivered += done.delivered;
                total.decided_meanwhile += done.decided_meanwhile;
                if (r == -EINTR) {
                        printf("backfill %s: stopped, %lld of %lld decisions created; run the same command again to "
                               "continue\n",
                               rq.id, created, planned);
                        rf_log_warn("backfill.stopped",
                                    json_pack("{s:s, s:I}", "backfill_id", rq.id, "created", (json_int_t)created),
                                    "backfill %s stopped on request; resumable", rq.id);
                        goto out;
                }
                if (r < 0) {
                        rf_program_fail(prog, code,
                                        "backfill %s: %s (%lld of %lld decisions created; run the same command "
                                        "again to continue)",
                                        rq.id, r == -ENOMEM ? "out of memory" : errstr, created, planned);
                        goto out;
                }
        }
        if (finish_request(pg, &rq, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, code, "backfill %s: %s", rq.id, errstr);
                goto out;
        }
        printf("backfill %s: finished, %lld decision%s created, %lld delivered to Kafka", rq.id, total.created,
               total.created == 1 ? "" : "s", total.delivered);
        if (total.decided_meanwhile > 0)
                printf(", %lld ticks decided by the evaluator meanwhile", total.decided_meanwhile);
        printf("\n");
        rf_log_info("backfill.finished",
                    json_pack("{s:s, s:I, s:I}", "backfill_id", rq.id, "created", (json_int_t)total.created,
                              "decided_meanwhile", (json_int_t)total.decided_meanwhile),
                    "backfill %s finished", rq.id);
        code = RF_EXIT_OK;
out:
        if (rk) {
                rd_kafka_flush(rk, 5000);
                rd_kafka_destroy(rk);
        }
        rf_pg_destroy(pg);
        free(ds);
        free(ticks);
        free(counts);
        free(rq.workflows);
        free(rq.workflows_literal);
        return code;
}
