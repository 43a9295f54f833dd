/* SPDX-License-Identifier: Apache-2.0 */
/* bench_evaluator: bench scenario (g), the evaluator at N workflows, one
 * measurement per invocation, for bench/run:
 *
 *   bench_evaluator --workflows N
 *
 * N workflows, each on the same cron tick ("* * * * *") and never decided
 * before, in a fresh database and topic. It times `runfleet-producer
 * --print-config` (the configuration loaded and printed) and one
 * `runfleet-producer evaluate`: the whole process, from exec to exit, so
 * the figure bounds the time from a tick to every RUN decision of it
 * recorded and acknowledged by Kafka (the evaluator exits after the
 * acknowledgements). Prints one JSON line. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>

#include "itest.h"
#include "rf_util.h"
#include "workflows.h"

/* Runs the producer with @p args, its output discarded; the wall time in
 * ms, or -1 when it failed. */
static double timed(itest_t *t, const char *what, const char *arg) {
        static char out[1 << 16];
        int64_t t0 = rf_mono_ms();
        int r = itest_run(t, out, sizeof(out), 600000, NULL, "runfleet-producer", what, arg, NULL);

        if (r != 0) {
                fprintf(stderr, "# runfleet-producer %s: exit %d: %.500s\n", what, r, out);
                return -1;
        }
        return (double)(rf_mono_ms() - t0);
}

int main(int argc, char **argv) {
        static const struct option opts[] = { { "workflows", required_argument, NULL, 'n' }, { NULL, 0, NULL, 0 } };
        double config_ms, eval_ms;
        int n = 100, c;
        char *list;
        itest_t t;
        json_t *o;
        char *s;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                if (c != 'n')
                        return 2;
                n = atoi(optarg);
        }
        if (n < 1 || n > 100000) {
                fprintf(stderr, "--workflows 1..100000\n");
                return 2;
        }
        list = bench_workflows(n);
        if (!list)
                return 1;
        itest_init(&t, "bench_evaluator");
        itest_config(&t, "scrapers = ( { name = \"s\"; url = \"@FAKE@/bench/zero\"; } );\nworkflows = (\n%s);\n", list);
        free(list);
        itest_migrate(&t);
        config_ms = timed(&t, "--print-config", NULL);
        eval_ms = timed(&t, "evaluate", NULL);
        o = json_pack("{s:i, s:f, s:f, s:I, s:I}", "workflows", n, "config_ms", config_ms, "evaluate_ms", eval_ms,
                      "run_decisions",
                      (json_int_t)itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'"),
                      "acknowledged",
                      (json_int_t)itest_query_ll(&t, "SELECT count(*) FROM runfleet.decisions WHERE action = 'RUN'"
                                                     " AND delivered_at IS NOT NULL"));
        s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
        return itest_finish(&t);
}
