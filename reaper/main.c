/* SPDX-License-Identifier: Apache-2.0 */
/* runfleet-reaper: sweeps on an interval (or once with --once). Any number
 * of replicas may run; one sweeps at a time. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "reaper.h"
#include "rf_kafka.h"
#include "rf_sr.h"
#include "rf_log.h"
#include "rf_metrics.h"
#include "rf_program.h"
#include "rf_store.h"
#include "rf_util.h"

static void sleep_ms(int64_t ms) {
        int64_t until = rf_mono_ms() + ms;

        while (!rf_stop_requested && rf_mono_ms() < until) {
                struct timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000000L };
                nanosleep(&ts, NULL);
                rf_http_heartbeat();
        }
}

/* --- metrics and readiness (served by rf_http on its own thread) ------ */

static struct {
        rf_metric_t *sweeps, *sweep_duration, *orphans, *abandoned, *reproduced, *dead, *alerts, *paused;
} metrics;

/* The loop records the last sweep and broker check; /readyz only reads. */
static rf_http_condition_t ready_sweep = RF_HTTP_CONDITION_INIT("sweep");
static rf_http_condition_t ready_kafka = RF_HTTP_CONDITION_INIT("kafka");
static rf_http_condition_t ready_registry = RF_HTTP_CONDITION_INIT("schema registry");
static int64_t ready_max_age_ms;

static void metrics_init(const rf_conf_t *conf) {
        metrics.sweeps =
                rf_metrics_counter("runfleet_reaper_sweeps_total",
                                   "Sweeps by result (done; standby: another reaper held the lock; failed).", "result");
        metrics.sweep_duration = rf_metrics_histogram("runfleet_reaper_sweep_duration_seconds",
                                                      "Durations of sweeps this reaper performed.", NULL);
        metrics.orphans = rf_metrics_counter("runfleet_reaper_orphans_found_total",
                                             "RUN decisions found never executed after the grace period.", NULL);
        metrics.abandoned = rf_metrics_counter("runfleet_reaper_executions_abandoned_total",
                                               "RUNNING executions marked ABANDONED after their lease expired.", NULL);
        metrics.reproduced = rf_metrics_counter("runfleet_reaper_decisions_reproduced_total",
                                                "Decisions produced again (cause: unexecuted or retry), or produced "
                                                "at last (cause released: a decision that waited, overlap buffer_one).",
                                                "cause");
        metrics.dead = rf_metrics_counter("runfleet_reaper_decisions_dead_total",
                                          "Decisions marked DEAD after their last attempt.", NULL);
        metrics.alerts = rf_metrics_counter(
                "runfleet_reaper_alerts_total",
                "Webhook alerts POSTed, by result (sent: accepted; failed: tried again later).", "result");
        rf_metrics_inc(metrics.alerts, 0, "sent");
        rf_metrics_inc(metrics.alerts, 0, "failed");
        rf_metrics_inc(metrics.sweeps, 0, "done");
        rf_metrics_inc(metrics.sweeps, 0, "standby");
        rf_metrics_inc(metrics.sweeps, 0, "failed");
        rf_metrics_inc(metrics.reproduced, 0, "unexecuted");
        rf_metrics_inc(metrics.reproduced, 0, "retry");
        reaper_late_metrics_init(conf);
        rf_metrics_inc(metrics.reproduced, 0, "released");
        reaper_retention_metrics_init();
        metrics.paused =
                rf_metrics_counter("runfleet_reaper_workflows_paused_total",
                                   "Workflows paused after pause_after_failures DEAD decisions in a row.", NULL);
}

/* /readyz: the last sweep (or standby check) reached the database and a
 * broker answered the last metadata request, both recently. */
static int reaper_ready(void *opaque, char *reason, size_t size) {
        (void)opaque;
        if (!rf_http_condition_ok(&ready_sweep, ready_max_age_ms, reason, size) ||
            !rf_http_condition_ok(&ready_kafka, ready_max_age_ms, reason, size) ||
            !rf_http_condition_ok(&ready_registry, ready_max_age_ms, reason, size))
                return -ENOTCONN;
        return 0;
}

static void check_kafka(rd_kafka_t *rk) {
        char errstr[512];

        /* kafka.value_format = "schema-registry": re-producing needs the id */
        rf_http_condition_set(&ready_registry, rf_sr_producer_check(errstr, sizeof(errstr)) == 0, errstr);

        rf_http_condition_set(&ready_kafka, rf_kafka_check_reachable(rk, 2000, errstr, sizeof(errstr)) == 0, errstr);
}

static int sweep_and_log(const rf_conf_t *conf, rf_pg_t *pg, rd_kafka_t *rk) {
        sweep_stats_t st;
        char errstr[1024];
        int64_t started = rf_mono_ms();
        int r = reaper_sweep(conf, pg, rk, &st, errstr, sizeof(errstr));

        rf_http_heartbeat();
        rf_http_condition_set(&ready_sweep, r == 0, errstr);
        rf_metrics_inc(metrics.sweeps, 1, r < 0 ? "failed" : st.skipped ? "standby" : "done");
        if (r < 0) {
                rf_log_error("reaper.sweep_failed", NULL, "%s", errstr);
                return r;
        }
        if (!st.skipped) {
                rf_metrics_observe(metrics.sweep_duration, (double)(rf_mono_ms() - started) / 1000.0);
                rf_metrics_inc(metrics.orphans, st.unexecuted);
                rf_metrics_inc(metrics.abandoned, st.abandoned);
                rf_metrics_inc(metrics.reproduced, st.unexecuted, "unexecuted");
                rf_metrics_inc(metrics.reproduced, st.retried, "retry");
                rf_metrics_inc(metrics.reproduced, st.released, "released");
                rf_metrics_inc(metrics.paused, st.paused);
                rf_metrics_inc(metrics.dead, st.dead);
        }
        if (st.skipped) {
                rf_log_debug("reaper.standby", NULL, "another reaper is sweeping");
                return 0;
        }
        rf_log(st.abandoned + st.unexecuted + st.retried + st.dead + st.late + st.released + st.paused ? RF_LOG_INFO
                                                                                                       : RF_LOG_DEBUG,
               "reaper.sweep",
               json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I}", "abandoned", st.abandoned, "unexecuted",
                         st.unexecuted, "retried", st.retried, "dead", st.dead, "late", st.late, "released",
                         st.released, "paused", st.paused, "delivered", st.delivered, "duration_ms",
                         (json_int_t)(rf_mono_ms() - started)),
               "sweep: %d abandoned, %d unexecuted and %d failed re-produced, %d dead, %d late, %d waiting released, "
               "%d workflows paused",
               st.abandoned, st.unexecuted, st.retried, st.dead, st.late, st.released, st.paused);
        return 0;
}

/* Partition upkeep when it is due (and at start), logged when it fails:
 * the next turn tries again. */
static void retention_when_due(const rf_conf_t *conf, rf_pg_t *pg, int64_t *next_ms) {
        char errstr[1024];

        if (rf_mono_ms() < *next_ms)
                return;
        *next_ms = rf_mono_ms() + conf->retention.interval_ms;
        if (reaper_retention(conf, pg, errstr, sizeof(errstr)) < 0)
                rf_log_error("reaper.retention_failed", NULL, "partition upkeep: %s", errstr);
}

/* After the sweep's transaction: the alerts it (or an earlier sweep, or a
 * replica that died) recorded. */
static void alerts_and_log(const rf_conf_t *conf, rf_pg_t *pg) {
        alert_stats_t st;
        char errstr[1024];

        if (reaper_alerts_send(conf, pg, &st, errstr, sizeof(errstr)) < 0)
                rf_log_error("reaper.alerts_failed", NULL, "%s", errstr);
        if (metrics.alerts) {
                rf_metrics_inc(metrics.alerts, st.sent, "sent");
                rf_metrics_inc(metrics.alerts, st.failed, "failed");
        }
}

int main(int argc, char **argv) {
        static const char *const flags[] = { "once", NULL };
        rf_program_t prog = { .name = "runfleet-reaper",
                              .usage =
                                      "[--once]\n\n  --once    sweep once, make the coming days' partitions and apply\n"
                                      "            retention.days, then exit (status 1 if any failed)",
                              .flags = flags };
        rf_conf_t *conf;
        rf_pg_t *pg = NULL;
        rd_kafka_t *rk = NULL;
        rf_http_t *http = NULL;
        char errstr[1024];
        int64_t next_retention_ms = 0; /* due at once: the coming days first */
        int first, once, code = RF_EXIT_OK;

        first = rf_program_options(&prog, &argc, argv);
        if (first < 0)
                return RF_EXIT_USAGE;
        if (first < argc)
                return rf_program_fail(&prog, RF_EXIT_USAGE, "unexpected argument '%s'", argv[first]);
        once = prog.flags_set & 1;
        conf = rf_program_load(&prog);
        rf_program_signals();
        curl_global_init(CURL_GLOBAL_DEFAULT);
        if (rf_program_tracing_start(&prog, conf) < 0) {
                code = RF_EXIT_FAILURE;
                goto out;
        }
        if (rf_pg_connect(conf->database.url, prog.name, &pg, errstr, sizeof(errstr)) < 0 ||
            rf_kafka_producer_new(conf, prog.name, rf_store_dr_cb, NULL, &rk, errstr, sizeof(errstr)) < 0) {
                code = rf_program_fail(&prog, RF_EXIT_FAILURE, "%s", errstr);
                goto out;
        }
        if (once) {
                code = sweep_and_log(conf, pg, rk) < 0 ? RF_EXIT_FAILURE : RF_EXIT_OK;
                alerts_and_log(conf, pg);
                if (reaper_retention(conf, pg, errstr, sizeof(errstr)) < 0) {
                        rf_log_error("reaper.retention_failed", NULL, "partition upkeep: %s", errstr);
                        code = RF_EXIT_FAILURE;
                }
                goto out;
        }
        metrics_init(conf);
        /* a sweep may wait for Kafka's acknowledgements: delivery timeout + 5 s */
        ready_max_age_ms = 3 * (int64_t)conf->reaper.interval_ms + conf->kafka.delivery_timeout_ms + 10000;
        if (rf_program_http_start(&prog, conf, 2 * ready_max_age_ms, reaper_ready, NULL, &http) < 0) {
                code = RF_EXIT_FAILURE;
                goto out;
        }
        rf_log_info("reaper.started",
                    json_pack("{s:i, s:i, s:i}", "interval_ms", conf->reaper.interval_ms, "grace_ms",
                              conf->reaper.grace_ms, "max_failed_executions", conf->reaper.max_failed_executions),
                    "sweeping every %d ms", conf->reaper.interval_ms);
        while (!rf_stop_requested) {
                rf_kafka_producer_recover(&rk, conf, prog.name, rf_store_dr_cb);
                sweep_and_log(conf, pg, rk);
                alerts_and_log(conf, pg);
                retention_when_due(conf, pg, &next_retention_ms);
                if (http)
                        check_kafka(rk);
                sleep_ms(conf->reaper.interval_ms);
        }
out:
        rf_http_stop(http);
        if (rk) {
                rd_kafka_flush(rk, 5000);
                rd_kafka_destroy(rk);
        }
        rf_pg_destroy(pg);
        rf_program_tracing_stop();
        rf_conf_destroy(conf);
        curl_global_cleanup();
        return code;
}
