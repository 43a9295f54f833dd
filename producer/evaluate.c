/* SPDX-License-Identifier: Apache-2.0 */
/* `evaluate` and `trigger`: turn schedules (or an operator) into decisions. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catchup.h"
#include "catchup_record.h"
#include "decide.h"
#include "overlap.h"
#include "policy.h"
#include "workflow_decision.h"
#include "producer.h"
#include "rf_kafka.h"
#include "rf_sr.h"
#include "rf_log.h"
#include "rf_metrics.h"
#include "rf_store.h"
#include "rf_util.h"

/* The connections one evaluation needs; made once, reused by --every. */
typedef struct session {
        const rf_conf_t *conf;
        const char *client_id;
        rf_pg_t *pg;
        rd_kafka_t *rk;
} session_t;

static int session_open(session_t *s, const rf_program_t *prog, const rf_conf_t *conf) {
        char errstr[1024];

        s->conf = conf;
        s->client_id = prog->name;
        if (rf_pg_connect(conf->database.url, prog->name, &s->pg, errstr, sizeof(errstr)) < 0 ||
            rf_kafka_producer_new(conf, prog->name, rf_store_dr_cb, NULL, &s->rk, errstr, sizeof(errstr)) < 0)
                return rf_program_fail(prog, RF_EXIT_FAILURE, "%s", errstr);
        return 0;
}

static void session_close(session_t *s) {
        if (s->rk) {
                rd_kafka_flush(s->rk, 5000);
                rd_kafka_destroy(s->rk);
        }
        rf_pg_destroy(s->pg);
}

static json_t *decision_fields(const rf_decision_t *d) {
        return json_pack("{s:s, s:s, s:s, s:i}", "decision_id", d->decision_id, "workflow", d->workflow, "trace_id",
                         d->trace_id, "attempt", (int)d->attempt);
}

/* --- metrics and readiness of `evaluate --every` (rf_http's thread reads) */

static struct {
        rf_metric_t *evaluated, *produced, *produce_failed, *missed_ticks;
} metrics; /* NULL (no-ops) in one-shot commands */

static rf_http_condition_t ready_eval = RF_HTTP_CONDITION_INIT("evaluation");
static rf_http_condition_t ready_kafka = RF_HTTP_CONDITION_INIT("kafka");
static rf_http_condition_t ready_registry = RF_HTTP_CONDITION_INIT("schema registry");
static int64_t ready_max_age_ms;

static void metrics_init(const rf_conf_t *conf) {
        metrics.evaluated =
                rf_metrics_counter("runfleet_decisions_evaluated_total",
                                   "Decisions recorded by the evaluator, by workflow and action.", "workflow,action");
        metrics.produced =
                rf_metrics_counter("runfleet_decisions_produced_total", "RUN decisions Kafka acknowledged.", NULL);
        metrics.produce_failed =
                rf_metrics_counter("runfleet_decision_produce_failures_total",
                                   "RUN decisions Kafka did not acknowledge (left to the reaper).", NULL);
        metrics.missed_ticks = rf_metrics_counter("runfleet_ticks_missed_total",
                                                  "Schedule ticks that passed while no evaluator ran (each then "
                                                  "decided, SKIPped or recorded MISSED by the catch-up policy).",
                                                  "workflow");
        for (size_t i = 0; i < conf->workflow_count; i++) {
                rf_metrics_inc(metrics.evaluated, 0, conf->workflows[i].name, "RUN");
                rf_metrics_inc(metrics.evaluated, 0, conf->workflows[i].name, "SKIP");
                rf_metrics_inc(metrics.evaluated, 0, conf->workflows[i].name, "MISSED");
                rf_metrics_inc(metrics.missed_ticks, 0, conf->workflows[i].name);
        }
}

/* /readyz: the last evaluation (or standby lock check) worked and a broker
 * answered a metadata request after it, both within two periods. */
static int evaluator_ready(void *opaque, char *reason, size_t size) {
        (void)opaque;
        if (!rf_http_condition_ok(&ready_eval, ready_max_age_ms, reason, size) ||
            !rf_http_condition_ok(&ready_kafka, ready_max_age_ms, reason, size) ||
            !rf_http_condition_ok(&ready_registry, ready_max_age_ms, reason, size))
                return -ENOTCONN;
        return 0;
}

static void readiness_update(session_t *s, int evaluate_result) {
        char errstr[512];

        /* kafka.value_format = "schema-registry": producing needs the id */
        rf_http_condition_set(&ready_registry, rf_sr_producer_check(errstr, sizeof(errstr)) == 0, errstr);

        rf_http_condition_set(&ready_eval, evaluate_result == 0,
                              "evaluation: the last one failed (database or broker; see the log)");
        rf_http_condition_set(&ready_kafka, rf_kafka_check_reachable(s->rk, 2000, errstr, sizeof(errstr)) == 0, errstr);
}

/* Publishes the inserted RUN decisions and logs what became of each: Kafka
 * acknowledged it, or it stays recorded for the reaper. */
static int publish(session_t *s, rf_decision_t **ds, size_t n) {
        char errstr[1024];
        size_t delivered = 0;
        bool *acked;
        int r;

        if (n == 0)
                return 0;
        acked = calloc(n, sizeof(*acked));
        if (!acked)
                return -ENOMEM;
        rf_kafka_producer_recover(&s->rk, s->conf, s->client_id, rf_store_dr_cb);
        r = rf_store_publish_acked(s->rk, s->pg, s->conf->kafka.topic, ds, n, s->conf->kafka.delivery_timeout_ms + 5000,
                                   acked, &delivered, errstr, sizeof(errstr));
        rf_metrics_inc(metrics.produced, (double)delivered);
        rf_metrics_inc(metrics.produce_failed, (double)(n - delivered));
        for (size_t i = 0; i < n; i++) {
                if (acked[i])
                        rf_log_info("decision.produced", decision_fields(ds[i]), "RUN decision for %s: %s",
                                    ds[i]->workflow, ds[i]->reason);
                else
                        rf_log_warn("decision.not_produced", decision_fields(ds[i]),
                                    "RUN decision for %s recorded, not produced (Kafka did not acknowledge it, or "
                                    "the schema registry did not answer); the reaper will produce it",
                                    ds[i]->workflow);
        }
        if (r < 0)
                rf_log_error("decision.produce_failed",
                             json_pack("{s:i, s:i}", "delivered", (int)delivered, "total", (int)n),
                             "%s; undelivered decisions stay recorded for the reaper", errstr);
        free(acked);
        return r;
}

/* Takes RF_LOCK_EVALUATOR for this session, or confirms it still holds it.
 * The lock is kept, not released after each evaluation: the replica that
 * has it stays the one evaluator until its connection ends, and standbys
 * never race it for a tick. Asking pg_locks first keeps the session-level
 * lock from stacking, and notices a lock lost with a reset connection.
 * Returns 1 when held, 0 when another session has it, or a negative errno. */
static int hold_evaluator_lock(session_t *s, char *errstr, size_t errstr_size) {
        char key[32];
        const char *params[] = { key };
        PGresult *res;
        int r;

        snprintf(key, sizeof(key), "%lld", RF_LOCK_EVALUATOR);
        r = rf_pg_exec(s->pg,
                       "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
                       "   AND pid = pg_backend_pid() AND granted AND objsubid = 1"
                       "   AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid)"
                       " THEN true ELSE pg_try_advisory_lock($1::bigint) END",
                       1, params, &res, errstr, errstr_size);
        if (r < 0)
                return r;
        r = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        return r;
}

/* Each workflow's last decided schedule tick (epoch ms), -1 for one never
 * decided, into @p ret_last (one per configured workflow). A backfill's
 * re-run of an old tick does not count: it is not where evaluation stopped.
 * One index probe per workflow, whatever the history's size. */
static int load_last_ticks(session_t *s, int64_t *ret_last, char *errstr, size_t errstr_size) {
        const rf_conf_t *conf = s->conf;
        char **names = calloc(conf->workflow_count + 1, sizeof(*names)), *list = NULL;
        PGresult *res = NULL;
        int r = -ENOMEM;

        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < conf->workflow_count; i++)
                names[i] = conf->workflows[i].name;
        list = rf_pg_array_literal(names, conf->workflow_count);
        if (!list)
                goto out;
        {
                const char *params[] = { list };

                r = rf_pg_exec(s->pg,
                               "SELECT (SELECT (extract(epoch FROM max(d.tick)) * 1000)::bigint"
                               "          FROM runfleet.decisions d WHERE d.workflow = w.name"
                               "           AND d.tick IS NOT NULL AND d.backfill_of IS NULL)"
                               "  FROM unnest($1::text[]) WITH ORDINALITY AS w(name, i) ORDER BY w.i",
                               1, params, &res, errstr, errstr_size);
        }
        if (r < 0)
                goto out;
        for (size_t i = 0; i < conf->workflow_count && i < (size_t)PQntuples(res); i++)
                ret_last[i] = PQgetisnull(res, (int)i, 0) ? -1 : strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
out:
        if (r == -ENOMEM)
                snprintf(errstr, errstr_size, "out of memory");
        PQclear(res);
        free(list);
        free(names);
        return r;
}

/* A growing list of RUN decisions to publish after the evaluation. */
typedef struct run_list {
        rf_decision_t **items;
        size_t count, cap;
} run_list_t;

static int run_list_add(run_list_t *l, rf_decision_t *d) {
        if (l->count == l->cap) {
                size_t ncap = l->cap ? l->cap * 2 : 16;
                rf_decision_t **n = realloc(l->items, ncap * sizeof(*n));

                if (!n)
                        return -ENOMEM;
                l->items = n;
                l->cap = ncap;
        }
        l->items[l->count++] = d;
        return 0;
}

/* Records the ticks of @p plan the evaluator will not decide (SKIP,
 * MISSED) and says so once per gap. */
static int record_catchup(session_t *s, const rf_workflow_conf_t *w, const catchup_plan_t *plan) {
        char errstr[1024];
        size_t skipped, missed;
        int r;

        rf_metrics_inc(metrics.missed_ticks, (double)plan->missed, w->name);
        r = catchup_record(s->pg, w, plan, &skipped, &missed, errstr, sizeof(errstr));
        if (r < 0) {
                rf_log_error("decision.insert_failed", json_pack("{s:s}", "workflow", w->name), "%s: %s", w->name,
                             errstr);
                return r;
        }
        rf_metrics_inc(metrics.evaluated, (double)skipped, w->name, "SKIP");
        rf_metrics_inc(metrics.evaluated, (double)missed, w->name, "MISSED");
        rf_log_warn("evaluate.catchup",
                    json_pack("{s:s, s:s, s:i, s:i, s:i}", "workflow", w->name, "policy",
                              catchup_policy_name(w->catchup_policy), "missed_ticks", (int)plan->missed,
                              "recorded_skip", (int)skipped, "recorded_missed", (int)missed),
                    "%s: %zu tick(s) missed while no evaluator ran, %s; catch-up policy %s: %zu recorded SKIP, "
                    "%zu MISSED (older than the window or beyond the bound), the others decided",
                    w->name, plan->missed, plan->range, catchup_policy_name(w->catchup_policy), skipped, missed);
        return 0;
}

/* Counts and logs what one round recorded, and moves its RUN decisions
 * to produce into @p run. */
static int round_done(decide_job_t *jobs, size_t count, run_list_t *run) {
        int r = 0;

        for (size_t i = 0; i < count; i++) {
                decide_job_t *j = &jobs[i];

                if (!j->d)
                        continue; /* decided already, or not recorded */
                rf_metrics_inc(metrics.evaluated, 1, j->w->name, j->run ? "RUN" : "SKIP");
                if (!j->run || j->waiting) {
                        rf_log_info(j->run ? "decision.waiting" : "decision.skipped", decision_fields(j->d),
                                    "%s %s: %s", j->run ? "RUN (waiting)" : "SKIP", j->w->name, j->reason);
                        rf_decision_destroy(j->d);
                } else if (run_list_add(run, j->d) < 0) {
                        rf_decision_destroy(j->d); /* recorded: the reaper produces it */
                        r = -ENOMEM;
                }
                j->d = NULL;
        }
        return r;
}

/* The next tick of @p plan to decide from *@p next on, or NULL. */
static const catchup_tick_t *next_decide(const catchup_plan_t *plan, size_t *next) {
        while (*next < plan->count && plan->ticks[*next].action != CATCHUP_DECIDE)
                (*next)++;
        return *next < plan->count ? &plan->ticks[(*next)++] : NULL;
}

/* Decides the ticks @p plans leave to the policy, in rounds: a round takes
 * each workflow's next such tick (decide.h), so a workflow's later tick
 * sees its earlier one in the history. Almost always there is one round. */
static int decide_rounds(session_t *s, const catchup_plan_t *plans, int64_t now_ms, int64_t lookback_ms,
                         run_list_t *run) {
        const rf_conf_t *conf = s->conf;
        decide_job_t *jobs = calloc(conf->workflow_count + 1, sizeof(*jobs));
        size_t *next = calloc(conf->workflow_count + 1, sizeof(*next));
        char errstr[1024];
        int r = 0;

        if (!jobs || !next) {
                r = -ENOMEM;
                goto out;
        }
        while (r == 0) {
                size_t n = 0;
                int dr;

                for (size_t i = 0; i < conf->workflow_count; i++) {
                        const catchup_tick_t *t = next_decide(&plans[i], &next[i]);

                        if (t)
                                /* a missed tick decided late says so, like the ones SKIPped */
                                jobs[n++] =
                                        (decide_job_t){ .w = &conf->workflows[i],
                                                        .tick_ms = t->tick_ms,
                                                        .note = t->tick_ms < now_ms - lookback_ms ? plans[i].late_note
                                                                                                  : NULL };
                }
                if (n == 0)
                        break;
                dr = decide_round(s->pg, conf->producer.timezone, jobs, n, errstr, sizeof(errstr));
                if (dr < 0)
                        rf_log_error("decision.insert_failed", json_pack("{s:i}", "workflows", (int)n),
                                     "deciding %zu workflow(s): %s", n, errstr);
                rf_fault_point("after-insert");
                r = round_done(jobs, n, run);
                if (dr < 0)
                        r = dr; /* the next evaluation decides what this one could not */
        }
out:
        free(jobs);
        free(next);
        return r;
}

/* One evaluation at @p now_ms: every schedule tick of each workflow since
 * its last decided one is accounted for. A tick within @p lookback_ms is on
 * time and decided by the policy; older ones were missed and are decided,
 * SKIPped or recorded MISSED by the workflow's catch-up policy (catchup.h).
 * Only the evaluator holding RF_LOCK_EVALUATOR evaluates; the unique
 * (workflow, tick) index backs that up should two ever overlap (a lock lost
 * with its connection). *ret_evaluated says whether this one did. */
static int evaluate_once(session_t *s, int64_t now_ms, int64_t lookback_ms, bool *ret_evaluated) {
        const rf_conf_t *conf = s->conf;
        run_list_t run = { 0 };
        catchup_plan_t *plans = NULL;
        int64_t *last = NULL;
        char errstr[1024];
        int r = 0, locked;

        *ret_evaluated = false;
        locked = hold_evaluator_lock(s, errstr, sizeof(errstr));
        if (locked < 0) {
                rf_log_error("evaluate.lock_failed", NULL, "%s", errstr);
                return locked;
        }
        if (locked == 0) {
                rf_log_debug("evaluate.standby", NULL, "another evaluator holds the lock; not evaluating");
                return 0;
        }
        *ret_evaluated = true;
        last = calloc(conf->workflow_count + 1, sizeof(*last));
        plans = calloc(conf->workflow_count + 1, sizeof(*plans));
        if (!last || !plans) {
                r = -ENOMEM;
                goto out;
        }
        r = load_last_ticks(s, last, errstr, sizeof(errstr));
        if (r < 0) {
                rf_log_error("evaluate.history_failed", NULL, "reading the last decided ticks: %s", errstr);
                goto out;
        }
        for (size_t i = 0; i < conf->workflow_count; i++) {
                const rf_workflow_conf_t *w = &conf->workflows[i];
                int pr;

                pr = catchup_plan(w, conf->producer.timezone, last[i], now_ms, lookback_ms,
                                  conf->producer.catchup_max_ticks, &plans[i]);
                if (pr == 0 && plans[i].missed > 0)
                        pr = record_catchup(s, w, &plans[i]);
                if (pr < 0) {
                        /* its gap is not recorded: decide none of its ticks now */
                        plans[i].count = 0;
                        if (r == 0)
                                r = pr;
                }
        }
        {
                int dr = decide_rounds(s, plans, now_ms, lookback_ms, &run);
                if (dr < 0 && r == 0)
                        r = dr;
        }
        if (publish(s, run.items, run.count) < 0 && r == 0)
                r = -EIO;
out:
        for (size_t i = 0; plans && i < conf->workflow_count; i++)
                free(plans[i].ticks);
        for (size_t i = 0; i < run.count; i++)
                rf_decision_destroy(run.items[i]);
        free(run.items);
        free(plans);
        free(last);
        return r;
}

/* Sleeps until the next multiple of @p every_ms on the wall clock, so
 * replicas and restarts agree on tick times. Returns early on a stop request. */
static void sleep_until_boundary(int64_t every_ms) {
        int64_t now = rf_now_ms(), next = (now / every_ms + 1) * every_ms;

        while (!rf_stop_requested && now < next) {
                int64_t left = next - now;
                struct timespec ts = { .tv_sec = 0, .tv_nsec = (left > 200 ? 200 : left) * 1000000L };
                nanosleep(&ts, NULL);
                now = rf_now_ms();
                rf_http_heartbeat();
        }
}

int producer_evaluate(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = { { "every", required_argument, NULL, 'e' }, { NULL, 0, NULL, 0 } };
        session_t s = { 0 };
        int64_t every_ms = 0;
        int c, r, code;

        rf_program_subcommand_options();
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (c != 'e' || rf_duration_parse(optarg, &every_ms) < 0 || every_ms < 1000)
                        return rf_program_fail(prog, RF_EXIT_USAGE,
                                               "evaluate: --every takes a duration of at least 1s, e.g. 60s or 5m");
        }
        if (optind < argc)
                return rf_program_fail(prog, RF_EXIT_USAGE, "evaluate: unexpected argument '%s'", argv[optind]);
        if (session_open(&s, prog, conf) != 0) {
                session_close(&s);
                return RF_EXIT_FAILURE;
        }
        if (every_ms == 0) {
                bool evaluated;

                /* a one-shot run (a CronJob) looks back over one default period */
                r = evaluate_once(&s, rf_now_ms(), conf->producer.every_ms, &evaluated);
                if (r == 0 && !evaluated)
                        rf_log_info("evaluate.standby", NULL, "another evaluator is evaluating now; nothing to do");
                code = r < 0 ? RF_EXIT_FAILURE : RF_EXIT_OK;
        } else {
                rf_http_t *http = NULL;

                metrics_init(conf);
                ready_max_age_ms = 2 * every_ms + conf->kafka.delivery_timeout_ms + 15000;
                /* the loop beats while it sleeps; one evaluation may wait for Kafka's acknowledgements */
                if (rf_program_http_start(prog, conf, 2 * (conf->kafka.delivery_timeout_ms + 5000) + 30000,
                                          evaluator_ready, NULL, &http) < 0) {
                        session_close(&s);
                        return RF_EXIT_FAILURE;
                }
                rf_log_info("evaluate.loop", json_pack("{s:I}", "every_ms", (json_int_t)every_ms),
                            "evaluating every %lld ms", (long long)every_ms);
                int role = -1; /* unknown, then 1 active / 0 standby */

                while (!rf_stop_requested) {
                        bool evaluated;

                        /* twice the period: a tick is not lost to one late wake-up */
                        r = evaluate_once(&s, rf_now_ms(), 2 * every_ms, &evaluated);
                        if (http)
                                readiness_update(&s, r);
                        if (r == 0 && role != evaluated) {
                                role = evaluated;
                                rf_log_info("evaluate.role", json_pack("{s:b}", "active", evaluated),
                                            evaluated ? "this evaluator is evaluating ticks"
                                                      : "standing by: another evaluator holds the lock");
                        }
                        sleep_until_boundary(every_ms);
                }
                rf_http_stop(http);
                code = RF_EXIT_OK;
        }
        session_close(&s);
        return code;
}

int producer_trigger(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = { { "reason", required_argument, NULL, 'r' }, { NULL, 0, NULL, 0 } };
        const rf_workflow_conf_t *w;
        const char *why = NULL;
        char reason[512], errstr[1024];
        session_t s = { 0 };
        rf_decision_t *d = NULL;
        int c, code = RF_EXIT_FAILURE;

        rf_program_subcommand_options();
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (c != 'r')
                        return rf_program_fail(prog, RF_EXIT_USAGE, "usage: trigger WORKFLOW [--reason TEXT]");
                why = optarg;
        }
        if (optind != argc - 1)
                return rf_program_fail(prog, RF_EXIT_USAGE, "usage: trigger WORKFLOW [--reason TEXT]");
        w = rf_conf_workflow(conf, argv[optind]);
        if (!w)
                return rf_program_fail(prog, RF_EXIT_USAGE, "trigger: unknown workflow '%s' in %s", argv[optind],
                                       conf->path);
        if (!w->enabled)
                return rf_program_fail(prog, RF_EXIT_USAGE, "trigger: workflow '%s' is disabled in %s", w->name,
                                       conf->path);
        if (session_open(&s, prog, conf) != 0)
                goto out;
        snprintf(reason, sizeof(reason), "manual trigger%s%s", why ? ": " : "", why ? why : "");
        d = workflow_decision_new(w, reason);
        if (!d || rf_store_insert_decision(s.pg, d, "RUN", -1, errstr, sizeof(errstr)) < 0) {
                rf_program_fail(prog, RF_EXIT_FAILURE, "trigger: %s", d ? errstr : "out of memory");
                goto out;
        }
        rf_fault_point("after-insert");
        if (publish(&s, &d, 1) < 0) {
                rf_program_fail(prog, RF_EXIT_FAILURE,
                                "trigger: decision %s recorded but not delivered to Kafka; the reaper will "
                                "produce it",
                                d->decision_id);
                goto out;
        }
        printf("%s\n", d->decision_id);
        code = RF_EXIT_OK;
out:
        rf_decision_destroy(d);
        session_close(&s);
        return code;
}
