/* `evaluate` and `trigger`: turn schedules (or an operator) into decisions. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "producer.h"
#include "rf_kafka.h"
#include "rf_log.h"
#include "rf_store.h"
#include "rf_util.h"

/* The connections one evaluation needs; made once, reused by --every. */
typedef struct session {
        const rf_conf_t *conf;
        rf_pg_t *pg;
        rd_kafka_t *rk;
} session_t;

static int session_open(session_t *s, const rf_program_t *prog, const rf_conf_t *conf) {
        char errstr[1024];

        s->conf = conf;
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

static rf_decision_t *decision_for(const rf_workflow_conf_t *w, const char *reason) {
        rf_decision_t *d = rf_decision_new();

        if (!d)
                return NULL;
        d->workflow = strdup(w->name);
        d->reason = strdup(reason);
        d->deadline_ms = w->deadline_ms;
        if (!d->workflow || !d->reason || rf_decision_set_scrapers(d, w->scrapers, w->scraper_count) < 0) {
                rf_decision_destroy(d);
                return NULL;
        }
        return d;
}

static json_t *decision_fields(const rf_decision_t *d) {
        return json_pack("{s:s, s:s, s:s, s:i}", "decision_id", d->decision_id, "workflow", d->workflow,
                         "trace_id", d->trace_id, "attempt", (int)d->attempt);
}

/* Publishes the inserted RUN decisions and logs the outcome of each; those
 * Kafka did not acknowledge stay in PostgreSQL for the reaper. */
static int publish(session_t *s, rf_decision_t **ds, size_t n) {
        char errstr[1024];
        size_t delivered = 0;
        int r;

        if (n == 0)
                return 0;
        r = rf_store_publish(s->rk, s->pg, s->conf->kafka.topic, ds, n, s->conf->kafka.delivery_timeout_ms + 5000,
                             &delivered, errstr, sizeof(errstr));
        for (size_t i = 0; i < n; i++)
                rf_log_info("decision.produced", decision_fields(ds[i]), "RUN decision for %s: %s",
                            ds[i]->workflow, ds[i]->reason);
        if (r < 0)
                rf_log_error("decision.produce_failed", json_pack("{s:i, s:i}", "delivered", (int)delivered,
                                                                  "total", (int)n),
                             "%s; undelivered decisions stay recorded for the reaper", errstr);
        return r;
}

/* One evaluation at @p now_ms: each workflow's latest schedule tick, if it
 * is recent and not yet decided, becomes a decision. */
static int evaluate_once(session_t *s, int64_t now_ms, int64_t lookback_ms) {
        const rf_conf_t *conf = s->conf;
        rf_decision_t **run = calloc(conf->workflow_count + 1, sizeof(*run));
        size_t nrun = 0;
        int r = 0;

        if (!run)
                return -ENOMEM;
        for (size_t i = 0; i < conf->workflow_count; i++) {
                const rf_workflow_conf_t *w = &conf->workflows[i];
                char reason[256], when[40], errstr[1024];
                int64_t fire_s;
                rf_decision_t *d;
                int ir;

                if (rf_cron_prev(w->cron, conf->producer.timezone, now_ms / 1000, &fire_s) < 0 ||
                    fire_s * 1000 < now_ms - lookback_ms)
                        continue;
                rf_time_format(fire_s * 1000, when, sizeof(when));
                snprintf(reason, sizeof(reason), "%s: schedule '%s' fired at %s",
                         w->enabled ? "scheduled" : "workflow disabled", w->schedule, when);
                d = decision_for(w, reason);
                if (!d) {
                        r = -ENOMEM;
                        break;
                }
                ir = rf_store_insert_decision(s->pg, d, w->enabled ? "RUN" : "SKIP", fire_s * 1000, errstr,
                                              sizeof(errstr));
                if (ir == -EEXIST || (ir == 0 && !w->enabled)) {
                        if (ir == 0)
                                rf_log_info("decision.skipped", decision_fields(d), "SKIP %s: %s", w->name, reason);
                        rf_decision_destroy(d);
                        continue;
                }
                if (ir < 0) {
                        rf_log_error("decision.insert_failed", json_pack("{s:s}", "workflow", w->name), "%s",
                                     errstr);
                        rf_decision_destroy(d);
                        r = ir;
                        continue;
                }
                rf_fault_point("after-insert");
                run[nrun++] = d;
        }
        if (publish(s, run, nrun) < 0 && r == 0)
                r = -EIO;
        for (size_t i = 0; i < nrun; i++)
                rf_decision_destroy(run[i]);
        free(run);
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
        }
}

int producer_evaluate(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = { { "every", required_argument, NULL, 'e' },
                                                 { NULL, 0, NULL, 0 } };
        session_t s = { 0 };
        int64_t every_ms = 0;
        int c, r, code;

        optind = 1;
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
                /* a one-shot run (a CronJob) looks back over one default period */
                r = evaluate_once(&s, rf_now_ms(), conf->producer.every_ms);
                code = r < 0 ? RF_EXIT_FAILURE : RF_EXIT_OK;
        } else {
                rf_log_info("evaluate.loop", json_pack("{s:I}", "every_ms", (json_int_t)every_ms),
                            "evaluating every %lld ms", (long long)every_ms);
                while (!rf_stop_requested) {
                        /* twice the period: a tick is not lost to one late wake-up */
                        evaluate_once(&s, rf_now_ms(), 2 * every_ms);
                        sleep_until_boundary(every_ms);
                }
                code = RF_EXIT_OK;
        }
        session_close(&s);
        return code;
}

int producer_trigger(const rf_program_t *prog, const rf_conf_t *conf, int argc, char **argv) {
        static const struct option options[] = { { "reason", required_argument, NULL, 'r' },
                                                 { NULL, 0, NULL, 0 } };
        const rf_workflow_conf_t *w;
        const char *why = NULL;
        char reason[512], errstr[1024];
        session_t s = { 0 };
        rf_decision_t *d = NULL;
        int c, code = RF_EXIT_FAILURE;

        optind = 1;
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
        d = decision_for(w, reason);
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
