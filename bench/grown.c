/* SPDX-License-Identifier: Apache-2.0 */
/* bench_grown: bench scenario (f), what the operator's commands and the
 * reaper cost as history grows, one measurement per invocation, for
 * bench/run:
 *
 *   bench_grown --preload N
 *
 * In a fresh database: N decisions of history over the 30 days before
 * today (bench/preload_history.sql), then today's work, the same at every
 * N: 1,000 decisions executed by a worker. Then, each timed from exec to
 * exit, median of 3: `status --day` and `timeline --day` of today; 10 s of
 * a reaper sweeping every 100 ms, each sweep's duration from its log; and
 * `evaluate` of 100 workflows on one tick (a tick is decided once, so each
 * of the 3 runs configures 100 workflows never decided before). Prints one
 * JSON line. (a) against the same history is `bench_scenarios
 * run --preload N`. */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "preload.h"
#include "rf_util.h"
#include "workflows.h"

#define TODAY 1000
#define EVALUATED 100
#define SWEEP_SECONDS 10
#define RUNS 3

#define CONFIG "scrapers = ( { name = \"s\"; url = \"@FAKE@/bench/zero\"; } );\nworkflows = (\n%s);\n"

static int by_value(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

/* One run of the producer with @p args, exec to exit, in ms; -1 when it failed. */
static double run_ms(itest_t *t, const char *what, const char *a1, const char *a2) {
        static char out[1 << 20];
        int64_t t0 = rf_mono_ms();
        int r = itest_run(t, out, sizeof(out), 600000, NULL, "runfleet-producer", what, a1, a2, NULL);

        if (r != 0) {
                fprintf(stderr, "# runfleet-producer %s: exit %d: %.500s\n", what, r, out);
                return -1;
        }
        return (double)(rf_mono_ms() - t0);
}

/* The median of RUNS of @p ms; -1 when one failed. */
static double median_of(double *ms) {
        for (int i = 0; i < RUNS; i++)
                if (ms[i] < 0)
                        return -1;
        qsort(ms, RUNS, sizeof(ms[0]), by_value);
        return ms[RUNS / 2];
}

/* The median of RUNS runs of the producer with @p args, in ms. */
static double median_ms(itest_t *t, const char *what, const char *a1, const char *a2) {
        double ms[RUNS];

        for (int i = 0; i < RUNS; i++)
                ms[i] = run_ms(t, what, a1, a2);
        return median_of(ms);
}

/* The median of RUNS evaluations of 100 workflows on one tick, each set
 * configured afresh: the same work every time. */
static double evaluate_ms(itest_t *t) {
        double ms[RUNS];

        for (int i = 0; i < RUNS; i++) {
                char prefix[16], *list;

                snprintf(prefix, sizeof(prefix), "e%d_", i + 1);
                list = bench_workflows_named(EVALUATED, prefix);
                if (!list)
                        return -1;
                itest_config(t, CONFIG, list);
                free(list);
                ms[i] = run_ms(t, "evaluate", NULL, NULL);
        }
        return median_of(ms);
}

/* The reaper sweeping every 100 ms for SWEEP_SECONDS: each sweep's
 * duration_ms from its reaper.sweep log lines, sorted, into @p ret. */
static size_t sweeps(itest_t *t, double *ret, size_t cap) {
        char *env[] = { "RUNFLEET_REAPER_INTERVAL_MS=100", "RUNFLEET_LOG_LEVEL=debug", NULL };
        pid_t pid = itest_spawn_env(t, "reaper", env, "runfleet-reaper", NULL);
        size_t n = 0;
        char *log, *p;

        itest_sleep_ms(SWEEP_SECONDS * 1000);
        kill(pid, SIGTERM);
        itest_wait(pid, 30000);
        log = itest_read_log(t, pid);
        for (p = log; p && n < cap && (p = strstr(p, "\"event\":\"reaper.sweep\"")) != NULL; p++) {
                const char *d = strstr(p, "\"duration_ms\":");
                const char *eol = strchr(p, '\n');

                if (d && (!eol || d < eol))
                        ret[n++] = strtod(d + 14, NULL);
        }
        free(log);
        qsort(ret, n, sizeof(ret[0]), by_value);
        return n;
}

int main(int argc, char **argv) {
        static const struct option opts[] = { { "preload", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 } };
        static double d[SWEEP_SECONDS * 20];
        long long rows = 0;
        double preload_s, status_ms, timeline_ms, eval_ms;
        char day[16], *list, *s;
        size_t n;
        int64_t t0;
        itest_t t;
        pid_t worker;
        json_t *o;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c != 'n')
                        return 2;
                rows = atoll(optarg);
        }
        if (rows < 0 || rows > 100000000) {
                fprintf(stderr, "--preload 0..100000000\n");
                return 2;
        }
        list = bench_workflows(EVALUATED);
        if (!list)
                return 1;
        itest_init(&t, "bench_grown");
        itest_config(&t, CONFIG, list);
        free(list);
        itest_migrate(&t);
        preload_s = bench_preload(&t, rows);
        if (preload_s < 0) {
                itest_finish(&t);
                return 1;
        }

        /* today: the same work at every history size */
        t0 = rf_mono_ms();
        worker = itest_spawn(&t, "worker", "runfleet-worker", NULL);
        itest_decide(&t, "w00000", TODAY, NULL);
        itest_wait_for(&t, TODAY, 600000,
                       "SELECT count(*) FROM runfleet.decisions WHERE state = 'SUCCEEDED'"
                       " AND reason <> 'preloaded history'");
        kill(worker, SIGTERM);
        itest_wait(worker, 30000);
        fprintf(stderr, "# today's %d decisions executed in %.1f s\n", TODAY, (double)(rf_mono_ms() - t0) / 1000.0);

        snprintf(day, sizeof(day), "%s", itest_query_str(&t, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')"));
        status_ms = median_ms(&t, "status", "--day", day);
        timeline_ms = median_ms(&t, "timeline", "--day", day);
        n = sweeps(&t, d, sizeof(d) / sizeof(d[0]));
        eval_ms = evaluate_ms(&t);

        o = json_pack("{s:I, s:f, s:f, s:f, s:f, s:i, s:f, s:f, s:I}", "preload", (json_int_t)rows, "preload_s",
                      preload_s, "status_ms", status_ms, "timeline_ms", timeline_ms, "evaluate_ms", eval_ms, "sweeps",
                      (int)n, "sweep_p50_ms", n ? d[n / 2] : -1.0, "sweep_p99_ms",
                      n ? d[(size_t)((double)(n - 1) * 0.99)] : -1.0, "history_rows",
                      (json_int_t)itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions"));
        s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
        return itest_finish(&t);
}
