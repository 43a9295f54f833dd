/* runfleet-reaper: sweeps on an interval (or once with --once). Any number
 * of replicas may run; one sweeps at a time. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "reaper.h"
#include "rf_kafka.h"
#include "rf_log.h"
#include "rf_program.h"
#include "rf_store.h"
#include "rf_util.h"

static void sleep_ms(int64_t ms) {
        int64_t until = rf_mono_ms() + ms;

        while (!rf_stop_requested && rf_mono_ms() < until) {
                struct timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000000L };
                nanosleep(&ts, NULL);
        }
}

static int sweep_and_log(const rf_conf_t *conf, rf_pg_t *pg, rd_kafka_t *rk) {
        sweep_stats_t st;
        char errstr[1024];
        int r = reaper_sweep(conf, pg, rk, &st, errstr, sizeof(errstr));

        if (r < 0) {
                rf_log_error("reaper.sweep_failed", NULL, "%s", errstr);
                return r;
        }
        if (st.skipped) {
                rf_log_debug("reaper.standby", NULL, "another reaper is sweeping");
                return 0;
        }
        rf_log(st.abandoned + st.unexecuted + st.retried + st.dead ? RF_LOG_INFO : RF_LOG_DEBUG, "reaper.sweep",
               json_pack("{s:i, s:i, s:i, s:i, s:i}", "abandoned", st.abandoned, "unexecuted", st.unexecuted,
                         "retried", st.retried, "dead", st.dead, "delivered", st.delivered),
               "sweep: %d abandoned, %d unexecuted and %d failed re-produced, %d dead", st.abandoned,
               st.unexecuted, st.retried, st.dead);
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = { { "once", no_argument, NULL, 'o' }, { NULL, 0, NULL, 0 } };
        rf_program_t prog = { .name = "runfleet-reaper",
                              .usage = "[--once]\n\n  --once    sweep once and exit (status 1 if the sweep failed)" };
        rf_conf_t *conf;
        rf_pg_t *pg = NULL;
        rd_kafka_t *rk = NULL;
        char errstr[1024];
        int first, c, once = 0, code = RF_EXIT_OK;

        first = rf_program_options(&prog, argc, argv);
        if (first < 0)
                return RF_EXIT_USAGE;
        optind = first;
        while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
                if (c != 'o')
                        return RF_EXIT_USAGE;
                once = 1;
        }
        if (optind < argc)
                return rf_program_fail(&prog, RF_EXIT_USAGE, "unexpected argument '%s'", argv[optind]);
        conf = rf_program_load(&prog);
        rf_program_signals();
        if (rf_pg_connect(conf->database.url, prog.name, &pg, errstr, sizeof(errstr)) < 0 ||
            rf_kafka_producer_new(conf, prog.name, rf_store_dr_cb, NULL, &rk, errstr, sizeof(errstr)) < 0) {
                code = rf_program_fail(&prog, RF_EXIT_FAILURE, "%s", errstr);
                goto out;
        }
        if (once) {
                code = sweep_and_log(conf, pg, rk) < 0 ? RF_EXIT_FAILURE : RF_EXIT_OK;
                goto out;
        }
        rf_log_info("reaper.started", json_pack("{s:i, s:i, s:i}", "interval_ms", conf->reaper.interval_ms,
                                                "grace_ms", conf->reaper.grace_ms, "max_attempts",
                                                conf->reaper.max_attempts),
                    "sweeping every %d ms", conf->reaper.interval_ms);
        while (!rf_stop_requested) {
                sweep_and_log(conf, pg, rk);
                sleep_ms(conf->reaper.interval_ms);
        }
out:
        if (rk) {
                rd_kafka_flush(rk, 5000);
                rd_kafka_destroy(rk);
        }
        rf_pg_destroy(pg);
        rf_conf_destroy(conf);
        return code;
}
